"""agent-sandbox's own e2e suite against the embedded cluster: a fidelity check nobody here wrote.

Builds the pinned module's e2e test binaries (``go test -c ./test/e2e ./test/e2e/extensions`` in
the module's source from the Go module cache; nothing of it is committed), boots the embedded
cluster of that lane, installs what the suite's framework checks for the way the module's own
manifests install it (namespace ``agent-sandbox-system``, its ServiceAccount and the
``agent-sandbox-controller`` Deployment from ``k8s/extensions.controller.yaml``, image
``registry.k8s.io/agent-sandbox/agent-sandbox-controller:<version>``; its pod lands on the simulated
node while the real controller runs as the embedded cluster's host process), then runs every test
with KUBECONFIG at the cluster. Tests that need what a simulated node cannot give (real container
images, exec/port-forward into a container, a RuntimeClass) are not run, each named with why.
Known deviation: tests that patch the Deployment's args (worker counts in the parallelism tests)
roll its simulated pod, but the host controller keeps the flags it was started with.

Last line: ``upstream_e2e_passed=<n> failed=<m> not_run=<k>``; exit 1 when a test failed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock

from pytest_openshell.embedded import crds
from pytest_openshell.errors import HarnessError
from pytest_openshell.providers import Cluster, ProviderSettings, get_provider
from pytest_openshell.toolchain import load_pins
from pytest_openshell.toolchain.builder import find_go
from pytest_openshell.toolchain.cache import cache_root

PACKAGES = ("./test/e2e", "./test/e2e/extensions")
IMAGE = "registry.k8s.io/agent-sandbox/agent-sandbox-controller"
NAMESPACE = "agent-sandbox-system"
# Tests a simulated node cannot run, by name pattern, with the reason printed for each.
NOT_RUN: dict[str, str] = {
    r"TestRunChromeSandbox": "needs a real container image (Chrome) and a port-forward into it",
    r"TestRunPythonRuntimeSandbox\w*": "needs a real container image (python-runtime) and HTTP into it through a port-forward",
    r"Test\w+SandboxDensity": "needs real container images (density load test behind -run-perf-load-test)",
    r"TestRuntimeClass\w*": "needs a RuntimeClass with a real runtime handler (SANDBOX_RUNTIME_CLASS)",
}
TEST_TIMEOUT = "40m"
_RESULT = re.compile(r"^--- (PASS|FAIL|SKIP): (\S+) \(([\d.]+)s\)")


@dataclass
class Outcome:
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    not_run: dict[str, str] = field(default_factory=dict)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build_binaries(version: str) -> tuple[Path, Path]:
    """(source dir, dir of <package>.test binaries), built once per module version."""
    lane = load_pins().lane(version)
    source = crds.module_source_dir(lane.module)
    out = cache_root() / "e2e" / f"agent-sandbox-{lane.version}"
    out.parent.mkdir(parents=True, exist_ok=True)
    names = [p.rsplit("/", 1)[-1] + ".test" for p in PACKAGES]
    with FileLock(str(out) + ".lock"):
        if all((out / n).exists() for n in names):
            return source, out
        go = find_go()
        if go is None:
            raise HarnessError("building agent-sandbox's e2e binaries needs Go", fix="install Go >= 1.26")
        out.mkdir(exist_ok=True)
        env = {**os.environ, "GOWORK": "off", "GOFLAGS": "-mod=readonly", "CGO_ENABLED": "0"}
        t0 = time.monotonic()
        log(f"building agent-sandbox {lane.version} e2e test binaries from {source}")
        proc = subprocess.run([go, "test", "-c", "-o", str(out) + os.sep, *PACKAGES], cwd=source, env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise HarnessError(f"go test -c failed in {source}: {proc.stderr.strip()[-2000:]}",
                               fix="check that the Go module proxy serves the module's test dependencies")
        print(f"e2e_build_seconds={time.monotonic() - t0:.1f}", flush=True)
    return source, out


def install_like_upstream(cluster: Cluster, source: Path, version: str) -> None:
    """Namespace, ServiceAccount and Deployment from the module's own manifest, real image name."""
    from kubernetes import client as k8s

    from pytest_openshell.kube.client import api_client

    manifest = next(d for d in yaml.safe_load_all((source / "k8s" / "extensions.controller.yaml").read_text())
                    if d and d.get("kind") == "Deployment")
    pod = manifest["spec"]["template"]["spec"]
    for c in pod["containers"]:
        c["image"] = f"{IMAGE}:{version}"
    with api_client(cluster.kubeconfig) as client:
        core, apps = k8s.CoreV1Api(client), k8s.AppsV1Api(client)
        _ignore_conflict(core.create_namespace, {"metadata": {"name": NAMESPACE}})
        _ignore_conflict(core.create_namespaced_service_account, NAMESPACE,
                         {"metadata": {"name": pod.get("serviceAccountName", "agent-sandbox-controller")}})
        _ignore_conflict(apps.create_namespaced_deployment, NAMESPACE, manifest)


def _ignore_conflict(call: Any, *args: Any) -> None:
    from kubernetes.client.exceptions import ApiException

    try:
        call(*args)
    except ApiException as exc:
        if exc.status != 409:
            raise


def list_tests(binary: Path) -> list[str]:
    out = subprocess.run([str(binary), "-test.list", "."], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.split() if line.startswith("Test")]


def run_binary(binary: Path, cluster: Cluster, tests: list[str], outcome: Outcome, run: str | None) -> None:
    skip = {t: why for t in tests for pattern, why in NOT_RUN.items() if re.fullmatch(pattern, t)}
    chosen = [t for t in tests if t not in skip and (run is None or re.search(run, t))]
    outcome.not_run.update(skip)
    if not chosen:
        return
    artifacts = Path(tempfile.mkdtemp(prefix=f"e2e-{binary.stem}-"))
    argv = [str(binary), "-test.v", "-test.count=1", "-test.parallel=1", f"-test.timeout={TEST_TIMEOUT}",
            "-test.run", "^(" + "|".join(chosen) + ")$"]
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "ARTIFACTS": str(artifacts)}
    log(f"running {len(chosen)} tests of {binary.name} (log: {artifacts / 'test.log'})")
    seen: set[str] = set()
    last_skip: str | None = None
    with open(artifacts / "test.log", "w") as logf:
        proc = subprocess.Popen(argv, cwd=artifacts, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            logf.write(line)
            if last_skip is not None:
                # The line after "--- SKIP" carries the test's own t.Skip message.
                outcome.not_run[last_skip] = "skipped itself: " + line.strip()
                last_skip = None
            found = _RESULT.match(line)
            if not found:
                continue
            verdict, name, seconds = found.groups()
            seen.add(name)
            if verdict == "PASS":
                outcome.passed.append(name)
            elif verdict == "FAIL":
                outcome.failed.append(name)
            else:
                last_skip = name
            log(f"  {verdict} {name} ({seconds}s)")
        proc.wait()
    for name in chosen:
        if name not in seen:  # a panic or the binary's timeout ended the run before its verdict
            outcome.failed.append(name)
            log(f"  FAIL {name} (no verdict: the test binary exited {proc.returncode}; see {artifacts / 'test.log'})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent-sandbox-version", default=None, help="lane (default: the pinned default)")
    parser.add_argument("--run", default=None, help="only tests whose name matches this regex")
    args = parser.parse_args()
    outcome = Outcome()
    provider = None
    try:
        version = load_pins().lane(args.agent_sandbox_version).version
        source, bins = build_binaries(version)
        provider = get_provider("embedded", ProviderSettings(agent_sandbox_version=version), log)
        cluster = provider.acquire()
        install_like_upstream(cluster, source, version)
        for package in PACKAGES:
            binary = bins / (package.rsplit("/", 1)[-1] + ".test")
            run_binary(binary, cluster, list_tests(binary), outcome, args.run)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    finally:
        if provider is not None:
            provider.release()
    for name, why in sorted(outcome.not_run.items()):
        print(f"not_run {name}: {why}")
    for name in outcome.failed:
        print(f"failed {name}")
    print(f"upstream_e2e_passed={len(outcome.passed)} failed={len(outcome.failed)} not_run={len(outcome.not_run)}")
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    sys.exit(main())
