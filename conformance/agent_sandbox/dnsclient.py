"""A client pod that reaches a Sandbox through its Service's DNS name, as another workload would.

It loops: resolve the name at the cluster DNS (busybox nslookup, A records: a headless Service
answers with its ready endpoints' pod IPs), GET /uid from every address (HTTP over nc), and log one line per
attempt stamped with the node's clock. The harness follows that log (LogFollower), so it sees
which pod the name led to and when, from inside the cluster rather than from the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.agent_sandbox.checks import pod_ready
from pytest_openshell.kindimage.workloads import SANDBOX_IMAGE
from pytest_openshell.kube.podlog import LogFollower, LogLine
from pytest_openshell.kube.recorder import is_named
from pytest_openshell.suite.context import SuiteContext

CLIENT = "dns-client"
# The probe interval bounds the gap's resolution; a busy loop would starve a 2-core node.
PROBE_INTERVAL_S = 0.05
# /proc/uptime is the node kernel's clock (10 ms ticks), shared by every container on the node.
SCRIPT = r"""
trap 'exit 0' TERM INT
resolve() {
  nslookup -type=a "$NAME." 2>/dev/null | { seen=""; while read -r key value; do
    case "$key" in Name:) seen=1 ;; Address:) [ -n "$seen" ] && echo "$value" ;; esac
  done; }
}
get() {  # the response's last line: the body (busybox wget -T crashes in the static build; nc -w bounds the connect)
  printf 'GET /uid HTTP/1.0\r\n\r\n' | nc -w 1 "$1" "$PORT" 2>/dev/null | { last=""; while read -r line; do last=$line; done; echo "$last"; }
}
while :; do
  read -r up _ < /proc/uptime
  addrs=$(resolve)
  [ -n "$addrs" ] || echo "$up nodns"
  for ip in $addrs; do
    body=$(get "$ip")
    if [ -n "$body" ]; then echo "$up ok $ip $body"; else echo "$up fail $ip"; fi
  done
  sleep "$INTERVAL"
done
"""


@dataclass(frozen=True)
class Probe:
    t: float  # seconds on the node's clock, when the attempt started
    result: str  # ok | fail | nodns
    ip: str = ""
    uid: str = ""
    seq: int = 0


def parse(line: LogLine) -> Probe | None:
    parts = line.text.split()
    if len(parts) < 2 or parts[1] not in ("ok", "fail", "nodns"):
        return None
    try:
        t = float(parts[0])
    except ValueError:
        return None
    ip, pod_uid = [*parts[2:4], "", ""][:2]
    return Probe(t, parts[1], ip, pod_uid, seq=line.seq)


class DNSClient:
    """Start with :meth:`start`; stopped (and its pod deleted with the namespace) when the test ends."""

    def __init__(self, ctx: SuiteContext, name: str, log: LogFollower) -> None:
        self.ctx, self.name, self.log = ctx, name, log

    @classmethod
    def start(cls, ctx: SuiteContext, name: str, port: int) -> DNSClient:
        body: Any = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": CLIENT},
                "spec": {"automountServiceAccountToken": False, "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "client", "image": SANDBOX_IMAGE, "imagePullPolicy": "Never",
                                         "command": ["/bin/sh", "-c", SCRIPT],
                                         "env": [{"name": "NAME", "value": name}, {"name": "PORT", "value": str(port)},
                                                 {"name": "INTERVAL", "value": str(PROBE_INTERVAL_S)}]}]}}
        with ctx.step(f"start a client pod resolving {name}"):
            mark = ctx.pods.mark()
            ctx.core.create_namespaced_pod(ctx.namespace, body)
            ctx.pods.wait_for(is_named(CLIENT, pod_ready), since=mark, timeout=ctx.config.timeout("sandbox_ready"),
                              what=f"pod {CLIENT} Ready", diagnose=ctx.diagnose)
            log = LogFollower(ctx.core, ctx.namespace, CLIENT)
        ctx.defer(log.stop)
        return cls(ctx, name, log)

    def mark(self) -> int:
        return self.log.mark()

    def probes(self, since: int = 0) -> list[Probe]:
        return [p for p in map(parse, self.log.since(since)) if p is not None]

    def wait_served_by(self, pod_uid: str, since: int = 0) -> Probe:
        """The first attempt (from ``since``) that reached pod ``pod_uid`` through the name."""
        line = self.log.wait_for(lambda ln: _served_by(parse(ln), pod_uid), since=since,
                                 timeout=self.ctx.config.timeout("endpoints"),
                                 what=f"the client to reach pod uid {pod_uid} through {self.name}", diagnose=self.ctx.diagnose)
        probe = parse(line)
        assert probe is not None
        return probe

    def gap_ms(self, old_uid: str, new_uid: str, since: int) -> float:
        return gap_ms(self.probes(since), old_uid, new_uid)


def gap_ms(probes: list[Probe], old_uid: str, new_uid: str) -> float:
    """From the client's last answer by the old pod to its first by the new one (node clock)."""
    first_new = next(i for i, p in enumerate(probes) if _served_by(p, new_uid))
    last_old = next((p for p in reversed(probes[:first_new]) if _served_by(p, old_uid)), None)
    assert last_old is not None, f"the client reached the new pod {new_uid} without having reached the old one {old_uid}"
    return round((probes[first_new].t - last_old.t) * 1000.0, 3)


def _served_by(probe: Probe | None, pod_uid: str) -> bool:
    return probe is not None and probe.result == "ok" and probe.uid == pod_uid


__all__ = ["CLIENT", "DNSClient", "Probe", "gap_ms", "parse"]
