"""The embedded boot next to kwokctl's, on the same cached binaries, in one run.

kwokctl v0.7.0 is built from the pinned kwok module and runs its ``binary`` runtime fully offline:
every component binary is ours (flags, no download), kubectl (which kwokctl runs to see the
apiserver serve) comes from a private PATH, its work dir is a private temp dir, everything binds to
127.0.0.1. Per repetition, in alternating order:

- kwokctl: ``kwokctl create cluster``, then one node as its docs make one (``kwokctl scale node
  --replicas 1``), until that node is Ready and schedulable (watched); then ``kwokctl delete cluster``.
- ours: the same work (control plane + simulated node Ready and schedulable; no storage, no CRDs,
  no controller: ``EmbeddedProvider(bare=True)``), from ``acquire()`` to its return.
- ours conformance-ready: the default ``acquire()`` as bench/boot.py times it, and its ``release()``.

Last line (medians): ``ours_s=.. kwokctl_s=.. ratio=.. conformance_ready_s=.. teardown_s=..``, ratio
= ours/kwokctl, teardown_s = release() of the disposable conformance cluster. The line before it
has the teardown of each tool's bare cluster, when kwokctl's node first said Ready=True (kwok says
so at once; it stays tainted not-ready, so unschedulable, until kwokctl's controller-manager, which
polls the apiserver's health once a second, has seen it) and the load average of the run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from pytest_openshell.embedded.addons import node_is_ready
from pytest_openshell.embedded.rest import RestClient
from pytest_openshell.errors import HarnessError
from pytest_openshell.providers import ProviderSettings
from pytest_openshell.providers.embedded import BARE_CONTROL_PLANE, CONTROL_PLANE, EmbeddedProvider
from pytest_openshell.toolchain import Resolver, load_pins

CLUSTER = "bench"
READY_TIMEOUT_S = 120.0
# kwokctl's flag for each binary it runs (pkg/kwokctl/cmd/create/cluster in the pinned module).
KWOKCTL_FLAGS = {
    "etcd": "--etcd-binary",
    "kube-apiserver": "--kube-apiserver-binary",
    "kube-controller-manager": "--kube-controller-manager-binary",
    "kube-scheduler": "--kube-scheduler-binary",
    "kwok": "--kwok-controller-binary",
}
# Its defaults bind every component to 0.0.0.0; only its config file can change that.
KWOKCTL_CONFIG = {
    "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
    "kind": "KwokctlConfiguration",
    "options": {"bindAddress": "127.0.0.1"},
}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr)


def resolve() -> tuple[dict[str, Path], Path, Path]:
    """Our control-plane binaries, kwokctl and kubectl (built if the cache is cold)."""
    pins = load_pins()
    resolver = Resolver(progress=_log)
    binaries = {name: resolver.resolve(pins.binary(name)).path for name in CONTROL_PLANE}
    ctl = pins.lane(None).module.binaries["agent-sandbox-controller"]
    resolver.resolve(ctl)
    return binaries, resolver.resolve(pins.binary("kwokctl")).path, resolver.resolve(pins.binary("kubectl")).path


class Kwokctl:
    """One kwokctl cluster in a private work dir."""

    def __init__(self, kwokctl: Path, kubectl: Path, binaries: dict[str, Path]) -> None:
        self.kwokctl = kwokctl
        self.binaries = binaries
        self.tmp = Path(tempfile.mkdtemp(prefix="boot-vs-kwokctl-"))
        bindir = self.tmp / "bin"
        bindir.mkdir()
        (bindir / "kubectl").symlink_to(kubectl)
        self.config = self.tmp / "kwok.yaml"
        self.config.write_text(yaml.safe_dump(KWOKCTL_CONFIG))
        self.env = {
            **os.environ,
            "KWOK_WORKDIR": str(self.tmp / "workdir"),
            "KWOK_KUBECTL_BINARY": str(kubectl),
            "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        self.log = self.tmp / "kwokctl.log"
        # When its node first reports Ready=True: kwok says so at once, but the node stays tainted
        # not-ready (unschedulable) until controller-manager has seen it, which is what both tools
        # are timed to (node_is_ready).
        self.condition_s: float | None = None

    def _run(self, *args: str) -> None:
        with open(self.log, "a") as log:
            rc = subprocess.run([str(self.kwokctl), *args, f"--config={self.config}"], env=self.env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
        if rc != 0:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise HarnessError(f"kwokctl {' '.join(args[:2])} failed (exit {rc}): {tail}", fix=f"see {self.log}")

    def boot(self) -> float:
        t0 = time.monotonic()
        flags = [f"{flag}={self.binaries[name]}" for name, flag in KWOKCTL_FLAGS.items()]
        # --kubeconfig= : leave the user's kubeconfig alone.
        self._run("create", "cluster", f"--name={CLUSTER}", "--runtime=binary", "--kubeconfig=", *flags)
        self._run("scale", "node", f"--name={CLUSTER}", "--replicas=1")
        workdir = self.tmp / "workdir" / "clusters" / CLUSTER
        kubeconfig = yaml.safe_load((workdir / "kubeconfig.yaml").read_text())
        server = kubeconfig["clusters"][0]["cluster"]["server"]
        pki = workdir / "pki"
        api = RestClient(server, pki / "ca.crt", pki / "admin.crt", pki / "admin.key")

        def done(nodes: dict[str, dict[str, Any]]) -> bool:
            if self.condition_s is None and any(_ready_condition(n) for n in nodes.values()):
                self.condition_s = time.monotonic() - t0
            return any(node_is_ready(n) for n in nodes.values())

        if not api.watch_until("/api/v1/nodes", done, READY_TIMEOUT_S):
            raise HarnessError(f"kwokctl's node was not Ready within {READY_TIMEOUT_S:.0f}s", fix=f"see {workdir / 'logs'}")
        return time.monotonic() - t0

    def teardown(self) -> float:
        t0 = time.monotonic()
        self._run("delete", "cluster", f"--name={CLUSTER}")
        elapsed = time.monotonic() - t0
        shutil.rmtree(self.tmp, ignore_errors=True)
        return elapsed


def _ready_condition(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (node.get("status") or {}).get("conditions") or [])


def ours(bare: bool) -> tuple[float, float]:
    provider = EmbeddedProvider(ProviderSettings(), _log, bare=bare)
    t0 = time.monotonic()
    try:
        cluster = provider.acquire()
        booted = time.monotonic() - t0
        if bare:
            assert cluster.agent_sandbox is None
    finally:
        t1 = time.monotonic()
        provider.release()
    return booted, time.monotonic() - t1


def kwokctl_run(kwokctl: Path, kubectl: Path, binaries: dict[str, Path], conditions: list[float]) -> tuple[float, float]:
    k = Kwokctl(kwokctl, kubectl, {n: binaries[n] for n in BARE_CONTROL_PLANE})
    try:
        booted = k.boot()
    except BaseException:
        k.teardown()
        raise
    if k.condition_s is not None:
        conditions.append(k.condition_s)
    return booted, k.teardown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="unrecorded repetitions first (page cache, Go module cache)")
    args = parser.parse_args()
    samples: dict[str, list[float]] = {k: [] for k in ("ours", "ours_down", "kwokctl", "kwokctl_down", "full", "full_down")}
    conditions: list[float] = []
    try:
        binaries, kwokctl, kubectl = resolve()
        for i in range(args.warmup + args.runs):
            steps = [
                ("kwokctl", lambda: kwokctl_run(kwokctl, kubectl, binaries, conditions)),
                ("ours", lambda: ours(bare=True)),
                ("full", lambda: ours(bare=False)),
            ]
            if i % 2:
                steps.reverse()  # neither tool always runs on the other's freshly warmed caches
            got = {name: step() for name, step in steps}
            line = " ".join(f"{n}_s={b:.2f} {n}_teardown_s={d:.3f}" for n, (b, d) in got.items())
            if i < args.warmup:
                print(f"warmup={i + 1} {line}")
                conditions.clear()
                continue
            for name, (b, d) in got.items():
                samples[name].append(b)
                samples[f"{name}_down"].append(d)
            print(f"run={i + 1 - args.warmup} {line} load1={os.getloadavg()[0]:.1f}", flush=True)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    med = {k: statistics.median(v) for k, v in samples.items()}
    print(f"runs={args.runs} ours_teardown_s={med['ours_down']:.3f} kwokctl_teardown_s={med['kwokctl_down']:.3f} "
          f"kwokctl_node_ready_condition_s={statistics.median(conditions):.2f} "
          f"load1={os.getloadavg()[0]:.1f} load5={os.getloadavg()[1]:.1f} cpus={os.cpu_count()}")
    print(f"ours_s={med['ours']:.2f} kwokctl_s={med['kwokctl']:.2f} ratio={med['ours'] / med['kwokctl']:.2f} "
          f"conformance_ready_s={med['full']:.2f} teardown_s={med['full_down']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
