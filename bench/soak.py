"""Soak: the full conformance suite, again and again, checked for flakes and leaks.

Every run boots a new embedded cluster, except one pair that keeps a cluster and reuses it; every
other run uses two xdist workers (the serial scope and the shared cluster get soaked too).
A flake is a test whose outcome differs from conformance/expectations.yaml for the lane (tests it
does not list must pass). After each run, leaked processes are those still alive that reference
the run's private TMPDIR (run dirs, kubeconfigs); leaked namespaces are counted on the kept
cluster after its reuse run.
Last line: ``runs=<n> flaky=<k> leaked_processes=<p> leaked_namespaces=<q>``.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

import conformance
from pytest_openshell.kube.namespaces import RUN_LABEL
from pytest_openshell.toolchain.cache import cache_root

EXPECTED = yaml.safe_load((Path(conformance.__file__).parent / "expectations.yaml").read_text())


def processes_referencing(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            pids.append(int(entry.name))
    return pids


def run_suite(lane: str, tmp: Path, extra: list[str]) -> dict[str, str]:
    results = tmp / "results.json"
    env = {**os.environ, "TMPDIR": str(tmp)}
    cmd = [sys.executable, "-m", "pytest_openshell.cli", "-q", f"--agent-sandbox-version={lane}",
           f"--openshell-results-json={results}", *extra]
    subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=1200)
    if not results.exists():
        return {"<no results>": "error"}
    return {t["short_name"]: t["outcome"] for t in json.loads(results.read_text())["tests"]}


def temp_leftovers(tmp: Path) -> list[str]:
    """What the run left in its TMPDIR besides its outputs and the per-user base dir of embedded runs."""
    # pytest-of-<user>: pytest's own basetemp for xdist workers, kept by its retention policy
    outputs = {tmp / "results.json", tmp / "reports", tmp / f"pytest-of-{pwd.getpwuid(os.getuid()).pw_name}"}
    base = tmp / f"pytest-openshell-{os.getuid()}"
    return sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p != base and not any(p == o or o in p.parents for o in outputs))


def kept_cluster_namespaces(name: str, lane: str) -> tuple[int, int | None]:
    from kubernetes import client as k8s

    from pytest_openshell.kube.client import api_client

    state_dir = cache_root() / "clusters" / f"{name}-{lane}"
    state = json.loads((state_dir / "state.json").read_text())
    api = api_client(Path(state["kubeconfig"]))
    try:
        leftover = k8s.CoreV1Api(api).list_namespace(label_selector=RUN_LABEL).items
    finally:
        api.close()
    return len(leftover), int(state["supervisor_pid"])


def stop_kept(pid: int | None) -> None:
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--agent-sandbox-version", default="v0.5.6")
    args = parser.parse_args()
    lane = args.agent_sandbox_version
    flaky = leaked_processes = leaked_namespaces = 0
    kept_name = f"soak-{os.getpid()}"
    for i in range(args.runs):
        # The last two runs share a kept cluster: the first creates it, the second reuses it.
        keep = ["--keep-cluster", f"--openshell-cluster-name={kept_name}"] if i >= args.runs - 2 and args.runs >= 2 else []
        xdist = ["-n", "2"] if i % 2 else []
        with tempfile.TemporaryDirectory(prefix="soak-") as tmp_name:
            tmp = Path(tmp_name)
            t0 = time.monotonic()
            outcomes = run_suite(lane, tmp, keep + xdist)
            diff = {k: v for k, v in outcomes.items() if EXPECTED[lane].get(k, "passed") != v}  # suites without a recorded verdict must pass
            flaky += bool(diff)
            leaks = [] if keep else processes_referencing(str(tmp))
            leaked_processes += len(leaks)
            left = [] if keep else temp_leftovers(tmp)
            print(f"run {i + 1}/{args.runs} ({'kept' if keep else 'new'} cluster, {'2 workers' if xdist else 'serial'}) "
                  f"{time.monotonic() - t0:.0f}s unexpected={diff or '-'} leaked_pids={leaks or '-'} tmp_left={left or '-'}", flush=True)
    if args.runs >= 2:
        count, pid = kept_cluster_namespaces(kept_name, lane)
        leaked_namespaces += count
        stop_kept(pid)
    print(f"runs={args.runs} flaky={flaky} leaked_processes={leaked_processes} leaked_namespaces={leaked_namespaces}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
