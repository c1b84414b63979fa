"""A vendor's view: the suites against a driver the harness did not start, serving one namespace of its own.

The reference driver runs as a host process (as an external driver would, on its own socket and in
its own namespace); the suites must give the same verdicts as against the in-process one, and
leave that namespace as they found it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from pytest_openshell.providers import Cluster
from tests.exit_threads import threads_at_exit_check
from tests.reference.conftest import server_process

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
PROFILES = "compute-driver,gateway-identity"


def _objects(api: k8s.ApiClient, namespace: str) -> dict[str, list[str]]:
    core, custom = k8s.CoreV1Api(api), k8s.CustomObjectsApi(api)
    found = {"Pod": [p.metadata.name for p in core.list_namespaced_pod(namespace).items],
             "ServiceAccount": sorted(s.metadata.name for s in core.list_namespaced_service_account(namespace).items)}
    for plural in ("sandboxes", "sandboxclaims", "sandboxwarmpools", "sandboxtemplates"):
        group = "agents.x-k8s.io" if plural == "sandboxes" else "extensions.agents.x-k8s.io"
        versions = [v for v in ("v1beta1", "v1alpha1")]
        for version in versions:
            try:
                items = custom.list_namespaced_custom_object(group, version, namespace, plural)["items"]
            except k8s.ApiException:
                continue
            found[plural] = [i["metadata"]["name"] for i in items]
            break
    return found


def test_suites_against_an_external_driver_in_its_own_namespace(cluster: Cluster, k8s_api: k8s.ApiClient, sandbox_namespace: str,
                                                                sockdir: Path, tmp_path: Path) -> None:
    before = _objects(k8s_api, sandbox_namespace)
    socket = sockdir / "driver.sock"
    check_args, check_env, threads_left = threads_at_exit_check(tmp_path)
    with server_process("pytest_openshell.reference.driver", "--socket", str(socket), "--kubeconfig", str(cluster.kubeconfig),
                        "--namespace", sandbox_namespace, "--gateway-id", "vendor"):
        proc = subprocess.run(
            [sys.executable, "-m", "pytest_openshell.cli", "-q", *check_args, f"--openshell-profile={PROFILES}", "--openshell-cluster=existing",
             f"--kubeconfig={cluster.kubeconfig}", f"--openshell-driver-socket={socket}",
             f"--openshell-driver-namespace={sandbox_namespace}", f"--openshell-report={tmp_path / 'r.yaml'}"],
            cwd=tmp_path, capture_output=True, text=True, timeout=900,
            env={**os.environ, "PYTHONPATH": str(tmp_path), **check_env})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert threads_left.read_text() == "", "threads still running when pytest was done"
    report = yaml.safe_load((tmp_path / "r.yaml").read_text())
    assert report["driver"]["kind"] == "external" and report["driver"]["endpoint"] == f"unix:{socket}"
    assert _objects(k8s_api, sandbox_namespace) == before, "the suites left objects in the driver's namespace"


def test_external_driver_without_its_namespace_is_one_clear_message(tmp_path: Path, sockdir: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest_openshell.cli", "-q", f"--openshell-driver-socket={sockdir / 'd.sock'}",
                           "-k", "DriverCapabilities"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out[-2000:]
    lines = [line for line in out.splitlines() if "pytest-openshell:" in line]
    assert len(lines) == 1 and "--openshell-driver-namespace" in lines[0], out[-2000:]
