"""Provider 'existing': the suites run against a cluster the harness did not boot."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from pytest_openshell.providers import Cluster
from tests.providers.lifecycle import RUN_TIMEOUT_S, Inner, explicit, stop_kept, wait_for


def _conformance(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_openshell.cli", "-q", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.cluster
def test_suites_run_on_an_existing_cluster(cluster: Cluster, lane: str, tmp_path: Path) -> None:
    proc = _conformance(tmp_path, "--openshell-cluster=existing", f"--kubeconfig={cluster.kubeconfig}", "-k", "SandboxReady or WarmPoolReady",
                        f"--openshell-report={tmp_path / 'r.yaml'}")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = yaml.safe_load((tmp_path / "r.yaml").read_text())
    # the embedded cluster's node is kwok's: seen from outside, containers are simulated
    assert report["cluster"]["provider"] == "existing" and report["cluster"]["nodeMode"] == "simulated"
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


@pytest.mark.cluster
def test_cluster_without_agent_sandbox_crds_is_one_clear_message(inner: Inner, binaries: dict[str, Path], tmp_path: Path) -> None:
    """A kept embedded cluster stripped of its CRDs stands in for a cluster agent-sandbox was never installed on."""
    from kubernetes import client as k8s

    from pytest_openshell.agentsandbox.installed import CRDS
    from pytest_openshell.kube.client import api_client

    name = f"nocrds-{uuid.uuid4().hex[:8]}"
    try:
        boot = inner("test_inner.py::test_record[0]", "--keep-cluster", f"--openshell-cluster-name={name}", *explicit(binaries))
        assert boot.wait(RUN_TIMEOUT_S) == 0, boot.output
        run_dir = Path(boot.records()["record-0"]["run_dir"])
        kubeconfig = Path(json.loads((run_dir / "state.json").read_text())["kubeconfig"])
        api = api_client(kubeconfig)
        try:
            ext = k8s.ApiextensionsV1Api(api)
            for crd in CRDS.values():
                ext.delete_custom_resource_definition(crd)
            wait_for("the CRDs to be gone", lambda: not any(c.metadata.name in CRDS.values()
                                                            for c in ext.list_custom_resource_definition().items), RUN_TIMEOUT_S)
        finally:
            api.close()
        proc = _conformance(tmp_path, "--openshell-cluster=existing", f"--kubeconfig={kubeconfig}", "-k", "SandboxReady")
    finally:
        stop_kept(name)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 3, out[-2000:]
    lines = [line for line in out.splitlines() if "pytest-openshell:" in line]
    assert len(lines) == 1 and "agent-sandbox (core + extensions) is not installed" in lines[0], out[-2000:]
    assert "install agent-sandbox's release manifests" in lines[0] and "Traceback" not in out
