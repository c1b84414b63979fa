"""Provider 'existing': the suites run against a cluster the harness did not boot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pytest_openshell.providers import Cluster


def _conformance(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_openshell.cli", "-q", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.cluster
def test_suites_run_on_an_existing_cluster(cluster: Cluster, lane: str, tmp_path: Path) -> None:
    proc = _conformance(tmp_path, "--openshell-cluster=existing", f"--kubeconfig={cluster.kubeconfig}", "-k", "SandboxReady or WarmPoolReady",
                        f"--openshell-report={tmp_path / 'r.yaml'}")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = yaml.safe_load((tmp_path / "r.yaml").read_text())
    assert report["cluster"]["provider"] == "existing" and report["cluster"]["nodeMode"] == "real"
    assert report["agentSandbox"]["apiVersions"]["Sandbox"][0] == ("v1alpha1" if lane == "v0.4.6" else "v1beta1")


def test_unreadable_kubeconfig_is_one_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "kubeconfig"
    bad.write_text("this: [is not a kubeconfig")
    proc = _conformance(tmp_path, "--openshell-cluster=existing", f"--kubeconfig={bad}", "-k", "SandboxReady")
    assert proc.returncode == 3, proc.stdout[-2000:]
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "pytest-openshell:" in line]
    assert len(lines) == 1 and "kubeconfig" in lines[0] and "--kubeconfig" in lines[0], lines
    assert "Traceback" not in proc.stdout + proc.stderr


def test_missing_kubeconfig_names_the_fix(tmp_path: Path) -> None:
    proc = _conformance(tmp_path, "--openshell-cluster=existing", f"--kubeconfig={tmp_path / 'nope'}", "-k", "SandboxReady")
    assert proc.returncode == 3
    assert "does not exist" in proc.stdout + proc.stderr and "--kubeconfig" in proc.stdout + proc.stderr


@pytest.mark.cluster
def test_insufficient_rbac_is_one_clear_message(cluster: Cluster, k8s_api: object, namespace: str, tmp_path: Path) -> None:
    from kubernetes import client as k8s

    core = k8s.CoreV1Api(k8s_api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "nobody"}})
    token = core.create_namespaced_service_account_token("nobody", namespace, k8s.AuthenticationV1TokenRequest(
        spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=600))).status.token
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"][0]["user"] = {"token": token}
    restricted = tmp_path / "restricted.kubeconfig"
    restricted.write_text(yaml.safe_dump(config))
    proc = _conformance(tmp_path, "--openshell-cluster=existing", f"--kubeconfig={restricted}", "-k", "SandboxReady")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 3, out[-2000:]
    lines = [line for line in out.splitlines() if "pytest-openshell:" in line]
    assert len(lines) == 1 and "may not read CRD" in lines[0] and "grant" in lines[0], lines
    assert token not in out
