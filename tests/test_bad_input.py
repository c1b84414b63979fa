"""Bad input: one clear message naming the fix, a non-zero exit, and nothing booted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def conformance(tmp_path: Path, *args: str) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "pytest_openshell.cli", "-q", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def one_message(out: str) -> str:
    lines = [line for line in out.splitlines() if "pytest-openshell:" in line]
    assert len(lines) == 1, out[-2000:]
    assert "Traceback" not in out and "booting embedded cluster" not in out, out[-2000:]
    return lines[0]


@pytest.mark.parametrize(("args", "says"), [
    (["--openshell-profile=agent-sandbox-nope"], "unknown profile"),
    (["--openshell-features=SandboxCore,Teleport"], "unknown feature"),
    (["--openshell-skip-tests=NoSuchTest"], "unknown test"),
    (["--openshell-timeout=sandbox_ready=soon"], "must be a number"),
    (["--openshell-timeout=coffee_break=10"], "unknown timeout"),
    (["--openshell-budget=warm_ready_p95_ms=-1"], "must be positive"),
    (["--openshell-submission"], "implementation's organization"),
    (["--agent-sandbox-upgrade-from=v0.3.0"], "is not a lane this harness supports"),
    (["--agent-sandbox-upgrade-from=v0.5.6"], "is not older than the run's lane v0.5.6"),
    (["--agent-sandbox-upgrade-from=v0.4.6", "--agent-sandbox-version=v0.4.6"], "is not older than the run's lane v0.4.6"),
    (["--agent-sandbox-upgrade-from=v0.4.6", "--openshell-cluster=kind"], "needs the embedded cluster"),
    (["--agent-sandbox-upgrade-from=v0.4.6", "--keep-cluster"], "cannot use --keep-cluster"),
    (["--agent-sandbox-upgrade-from=v0.4.6", "--openshell-profile=agent-sandbox-core"], "runs profile agent-sandbox-upgrade only"),
])
def test_bad_option_values(tmp_path: Path, args: list[str], says: str) -> None:
    code, out = conformance(tmp_path, *args)
    assert code == 4, out[-2000:]  # pytest's usage-error exit code
    assert says in one_message(out)


def test_malformed_timeout_file(tmp_path: Path) -> None:
    bad = tmp_path / "timeouts.yaml"
    bad.write_text("sandbox_ready: [30\n")
    code, out = conformance(tmp_path, f"--openshell-timeouts={bad}")
    assert code == 4
    message = one_message(out)
    assert "not valid YAML" in message and str(bad) in message
    bad.write_text("- 30\n")
    code, out = conformance(tmp_path, f"--openshell-timeouts={bad}")
    assert code == 4 and "mapping" in one_message(out)
    code, out = conformance(tmp_path, f"--openshell-timeouts={tmp_path / 'missing.yaml'}")
    assert code == 4 and "cannot be read" in one_message(out)


def test_unknown_agent_sandbox_version(tmp_path: Path) -> None:
    code, out = conformance(tmp_path, "--agent-sandbox-version=v9.9.9")
    assert code == 3
    message = one_message(out.replace("[openshell]", ""))
    assert "v9.9.9" in message and "v0.4.6" in message and "v0.5.6" in message


@pytest.mark.cluster
@pytest.mark.parametrize(("args", "says"), [
    (["--openshell-gateway-endpoint=127.0.0.1:9"], "is unreachable"),
    (["--openshell-driver-socket=/nonexistent/driver.sock", "--openshell-driver-namespace=default"], "does not exist or is not a Unix socket"),
    (["--openshell-driver-socket=/nonexistent/driver.sock"], "--openshell-driver-namespace"),
])
def test_unusable_openshell_endpoints(tmp_path: Path, args: list[str], says: str) -> None:
    code, out = conformance(tmp_path, "-k", "ValidPodTokenGetsIdentity and not Driver", *args)
    assert code == 4, out[-2000:]  # refused before the cluster boots, as a usage error
    assert says in one_message(out)


@pytest.mark.parametrize(("args", "says"), [
    (["--openshell-gateway=helm"], "needs a cluster with real nodes; the embedded cluster's"),
    (["--openshell-gateway=helm", "--openshell-cluster=kind", "--openshell-gateway-endpoint=127.0.0.1:9"], "deploys its own gateway"),
    (["--openshell-gateway=helm", "--openshell-cluster=kind", "--openshell-gateway-set=novalue"], "is not KEY=VALUE"),
    (["--openshell-gateway=helm", "--openshell-cluster=kind", "--openshell-gateway-namespace=Bad_NS"], "is not a DNS label"),
])
def test_bad_helm_gateway_input(tmp_path: Path, args: list[str], says: str) -> None:
    code, out = conformance(tmp_path, "-k", "ValidPodTokenGetsIdentity and not Driver", *args)
    assert code == 4, out[-2000:]  # refused before any cluster boots, as a usage error
    assert says in one_message(out) and "creating kind cluster" not in out


def test_missing_kube_context(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n")
    code, out = conformance(tmp_path, "--openshell-cluster=existing", f"--kubeconfig={kubeconfig}", "--kube-context=nope",
                            "-k", "SandboxReady")
    assert code == 3
    message = one_message(out)
    assert "nope" in message and "--kube-context" in message
