"""Claim bursts far larger than the suites' on the embedded cluster: N simultaneous claims on pools of M.

For each ``--claims`` value a fresh namespace gets a template, a warm pool of M (filled and Ready
first: setup, untimed) and then N claims created at once by ``--clients`` threads. Each claim's
latency is create call -> the watch event showing it Ready (monotonic receipt times, as the
suites measure). Warm or cold comes from the Sandbox's launch-type label (else its name).

Watch continuity: claims and Sandboxes are watched for the whole burst. At the end every object's
final resourceVersion (from a fresh list) must have been delivered by the watch; one that was
not is a dropped event. Relists (410 Gone) are counted. Memory (peak RSS) and CPU seconds of
etcd, kube-apiserver and the controller over the burst come from /proc.

``--nodes K`` adds simulated nodes (each a /24 of pod addresses, as a kubelet's podCIDR), and
``--ready-after-ms`` sets each pod's Running -> Ready delay (kwok stage annotation).
``--upstream-pool-scenario`` also runs agent-sandbox's own benchmark shape
(test/benchmarks/scenarios/benchmarks-kops-gcp-claims: a 300-replica pool filled 0 -> Ready,
then 300 warm claims) and prints it beside the figure upstream reports for its cluster.

One line per burst; the last line is the last burst:
``claims=<N> ready=<n> warm=<w> cold=<c> p50_ms=.. p95_ms=.. p99_ms=.. max_ms=.. throughput_per_s=..
dropped_watch_events=<d> controller_p50_ms=..``
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from pytest_openshell.agentsandbox.api import SandboxAPI, default_pod_spec
from pytest_openshell.agentsandbox.labels import LAUNCH_TYPE
from pytest_openshell.agentsandbox.metrics import CLAIM_CONTROLLER_STARTUP, Histogram, histogram, scrape
from pytest_openshell.embedded.config import READY_AFTER_ANNOTATION
from pytest_openshell.errors import HarnessError, WaitTimeout
from pytest_openshell.kube.client import api_client
from pytest_openshell.kube.recorder import Event, EventRecorder, is_named
from pytest_openshell.providers import ProviderSettings, get_provider
from pytest_openshell.results.stats import percentile

UPSTREAM_POOL = 300
UPSTREAM_REPORTED_S = 6.4  # the figure for upstream's own cluster (6 GCE worker nodes)
PODS_PER_NODE = 250  # a /24 podCIDR holds 254 host addresses


def ready(obj: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in (obj.get("status") or {}).get("conditions") or [])


def add_nodes(api: k8s.ApiClient, count: int, timeout: float) -> None:
    """Clone the simulated node ``count - 1`` times; kwok manages every node with its annotation."""
    core = k8s.CoreV1Api(api)
    nodes = core.list_node().items
    if len(nodes) >= count:
        return
    base = api.sanitize_for_serialization(nodes[0])
    for i in range(len(nodes), count):
        name = f"kwok-node-{i}"
        body: Any = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "annotations": base["metadata"].get("annotations"),
                             "labels": {**base["metadata"]["labels"], "kubernetes.io/hostname": name}},
                "spec": {"podCIDR": f"10.244.{i}.0/24", "podCIDRs": [f"10.244.{i}.0/24"]},
                "status": {k: base["status"][k] for k in ("capacity", "allocatable", "nodeInfo")}
                | {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}]}}
        core.create_node(body)
    watched = EventRecorder(core.list_node, "Node")
    try:
        for i in range(count):
            watched.wait_for(is_named(f"kwok-node-{i}", lambda n: ready(n) and not (n.get("spec") or {}).get("taints")),
                             timeout=timeout, what=f"node kwok-node-{i} Ready and untainted")
    finally:
        watched.stop()


class Procs:
    """CPU seconds and peak RSS of the control plane's processes (children of the supervisor)."""

    NAMES = ("etcd", "kube-apiserver", "agent-sandbox-controller")

    def __init__(self, supervisor: int) -> None:
        self.pids: dict[str, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                cmd = (stat.parent / "cmdline").read_bytes().split(b"\0")[0].decode()
            except OSError:
                continue
            if int(fields[1]) == supervisor and Path(cmd).name in self.NAMES:
                self.pids[Path(cmd).name] = int(stat.parent.name)
        self.start = self.cpu()

    def cpu(self) -> dict[str, float]:
        out = {}
        for name, pid in self.pids.items():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[name] = (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, clock ticks
        return out

    def line(self) -> str:
        end = self.cpu()
        parts = []
        for name, pid in self.pids.items():
            status = Path(f"/proc/{pid}/status").read_text()
            hwm = next(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmHWM:"))
            short = {"kube-apiserver": "apiserver", "agent-sandbox-controller": "controller"}.get(name, name)
            parts.append(f"{short}_cpu_s={end[name] - self.start[name]:.1f} {short}_peak_rss_mib={hwm // 1024}")
        return " ".join(parts)


def burst(sb: SandboxAPI, api: k8s.ApiClient, metrics: str | None, ns: str, claims: int, pool: int,
          clients: int, ready_after_ms: int | None, timeout: float) -> dict[str, Any]:
    core = k8s.CoreV1Api(api)
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
    spec = default_pod_spec()
    template = sb.template("tpl")
    if ready_after_ms is not None:
        template["spec"]["podTemplate"]["metadata"] = {"annotations": {READY_AFTER_ANNOTATION: f"{ready_after_ms}ms"}}
    template["spec"]["podTemplate"]["spec"] = spec
    sb.create(ns, template)
    pools = EventRecorder(sb.lister("SandboxWarmPool", ns), "SandboxWarmPool")
    t_pool = time.monotonic()
    sb.create(ns, sb.warm_pool("pool", "tpl", pool))
    if pool:
        pools.wait_for(is_named("pool", lambda p: (p.get("status") or {}).get("readyReplicas") == pool), timeout=timeout,
                       what=f"warm pool readyReplicas={pool}")
    pool_fill_s = time.monotonic() - t_pool
    pools.stop()
    watched = {kind: EventRecorder(sb.lister(kind, ns), kind) for kind in ("SandboxClaim", "Sandbox")}
    before = _controller(metrics, api)
    names = [f"c-{i}" for i in range(claims)]
    started: dict[str, float] = {}

    def create(name: str) -> None:
        body = sb.claim(name, template="tpl", pool="pool")
        started[name] = time.monotonic()
        sb.create(ns, body)

    try:
        with ThreadPoolExecutor(clients) as ex:
            list(ex.map(create, names))
        deadline = time.monotonic() + timeout
        readies: dict[str, Event] = {}
        for name in names:
            left = max(0.0, deadline - time.monotonic())
            try:
                readies[name] = watched["SandboxClaim"].wait_for(is_named(name, ready), timeout=left, what=f"claim {name} Ready")
            except WaitTimeout:
                break  # the rest count as not ready
        dropped = sum(_undelivered(sb, ns, kind, rec, timeout=10) for kind, rec in watched.items())
        relists = sum(rec.lists - 1 for rec in watched.values())
    finally:
        for rec in watched.values():
            rec.stop()
    after = _controller(metrics, api)
    latencies = sorted((ev.at - started[n]) * 1000 for n, ev in readies.items()) or [math.nan]
    boxes = {o["metadata"]["name"]: o for o in sb.lister("Sandbox", ns)()["items"]}
    launches = [_launch(boxes.get(ev.obj["status"]["sandbox"]["name"]), n) for n, ev in readies.items()]
    first, last = min(started.values()), max((ev.at for ev in readies.values()), default=math.nan)
    # the next burst starts on a cluster without this one's objects (owners first, as the suites do)
    sb.delete_owners(ns)
    core.delete_namespace(ns)
    # no series before the first claim: minus(None) is the whole histogram
    ctl = after.minus(before).quantile_upper_bound(0.5) if after is not None else None
    return {"claims": claims, "ready": len(readies), "warm": launches.count("warm"), "cold": launches.count("cold"),
            "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95), "p99_ms": percentile(latencies, 99),
            "max_ms": latencies[-1],
            "throughput_per_s": len(readies) / (last - first) if readies else 0.0, "dropped_watch_events": dropped,
            "controller_p50_ms": ctl if ctl is not None else math.nan, "relists": relists, "pool_fill_s": pool_fill_s}


def _launch(box: dict[str, Any] | None, claim: str) -> str:
    if box is None:
        return "unknown"
    label = (box["metadata"].get("labels") or {}).get(LAUNCH_TYPE)
    return str(label) if label else ("cold" if box["metadata"]["name"] == claim else "warm")


def _undelivered(sb: SandboxAPI, ns: str, kind: str, rec: EventRecorder, timeout: float) -> int:
    """Objects whose current resourceVersion the watch has not delivered within ``timeout``."""
    listing = sb.lister(kind, ns)()
    missing = 0
    deadline = time.monotonic() + timeout
    for item in listing["items"]:
        meta = item["metadata"]
        def delivered(obj: dict[str, Any], rv: str = meta["resourceVersion"]) -> bool:
            return bool(obj["metadata"]["resourceVersion"] == rv)

        try:
            rec.wait_for(is_named(meta["name"], delivered),
                         timeout=max(0.0, deadline - time.monotonic()), what=f"{kind} {meta['name']} rv {meta['resourceVersion']}")
        except WaitTimeout:
            missing += 1
    return missing


def _controller(url: str | None, api: k8s.ApiClient) -> Histogram | None:
    return histogram(scrape(url, api=api), CLAIM_CONTROLLER_STARTUP) if url else None


def _fmt(r: dict[str, Any], keys: tuple[str, ...]) -> str:
    return " ".join(f"{k}={r[k]:.1f}" if isinstance(r[k], float) else f"{k}={r[k]}" for k in keys)


LINE = ("claims", "ready", "warm", "cold", "p50_ms", "p95_ms", "p99_ms", "max_ms", "throughput_per_s",
        "dropped_watch_events", "controller_p50_ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, nargs="+", default=[100])
    parser.add_argument("--pool", type=int, default=None, help="warm pool size (default: as many as claims)")
    parser.add_argument("--nodes", type=int, default=None, help="simulated nodes (default: enough for pool + claims)")
    parser.add_argument("--clients", type=int, default=16, help="threads creating claims at once")
    parser.add_argument("--ready-after-ms", type=int, default=None, help="pod Running -> Ready delay (default: the cluster's)")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--upstream-pool-scenario", action="store_true")
    parser.add_argument("--agent-sandbox-version", default=None)
    args = parser.parse_args()
    if min(args.claims) < 1 or (args.pool is not None and args.pool < 0) or (args.nodes is not None and args.nodes < 1):
        print("error: --claims must be >= 1, --pool >= 0, --nodes >= 1", file=sys.stderr)
        return 2
    runs = [(n, n if args.pool is None else args.pool) for n in args.claims]
    if args.upstream_pool_scenario:
        runs.append((UPSTREAM_POOL, UPSTREAM_POOL))
    # a pool refills what claims take: at the peak, pool + claims pods exist at once
    nodes = args.nodes or max(1, math.ceil(max(n + m for n, m in runs) / PODS_PER_NODE))
    provider = get_provider("embedded", ProviderSettings(agent_sandbox_version=args.agent_sandbox_version),
                            lambda m: print(m, file=sys.stderr))
    try:
        cluster = provider.acquire()
        api = api_client(cluster.kubeconfig)
        assert cluster.agent_sandbox is not None
        add_nodes(api, nodes, args.timeout)
        sb = SandboxAPI(api, cluster.agent_sandbox)
        supervisor = int(json.loads((Path(cluster.details["run_dir"]) / "state.json").read_text())["supervisor_pid"])
        print(f"nodes={nodes} clients={args.clients} lane={cluster.agent_sandbox.version}", file=sys.stderr)
        for i, (n, m) in enumerate(runs):
            procs = Procs(supervisor)
            r = burst(sb, api, cluster.agent_sandbox.controller_metrics, f"scale-{i}", n, m, args.clients,
                      args.ready_after_ms, args.timeout)
            print(f"pool={m} pool_fill_s={r['pool_fill_s']:.2f} relists={r['relists']} {procs.line()}")
            if args.upstream_pool_scenario and i == len(runs) - 1:
                print(f"upstream_pool_scenario pool={m} pool_fill_0_to_ready_s={r['pool_fill_s']:.2f} "
                      f"claims_p50_ms={r['p50_ms']:.1f} upstream_reported_s={UPSTREAM_REPORTED_S}")
            print(_fmt(r, LINE), flush=True)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    finally:
        provider.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
