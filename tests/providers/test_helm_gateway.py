"""--openshell-gateway=helm: the reference gateway deployed into kind with its chart, and bad input.

The slow case boots one kind cluster; the bad-input cases fail before any cluster boots.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.providers.test_kind import IDENTITY_GATEWAY, REPO, _docker_running, _kind_containers, needs_docker

DATA = Path(__file__).parent / "data"
NOT_BOOTED = "creating kind cluster"


def _run(args: list[str], tmp_path: Path, env: dict[str, str] | None = None, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_openshell.cli", "-q", "--openshell-cluster=kind",
                           "--openshell-gateway=helm", f"--openshell-report={tmp_path / 'r.yaml'}", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


@needs_docker
@pytest.mark.slow
def test_gateway_identity_passes_through_the_helm_deployed_gateway(tmp_path: Path) -> None:
    results, probe = tmp_path / "results.json", tmp_path / "probe.json"
    proc = _run(["-p", "helm_probe", "--openshell-profile=gateway-identity", "--openshell-profile=compute-driver",
                 f"--openshell-results-json={results}"], tmp_path,
                env={"PYTHONPATH": os.pathsep.join([str(DATA), *filter(None, [os.environ.get("PYTHONPATH")])]),
                     "HELM_PROBE_OUT": str(probe)})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    tests = {t["short_name"]: t for t in json.loads(results.read_text())["tests"]}
    valid = tests["ValidPodTokenGetsIdentity"]
    assert valid["outcome"] == "passed" and any("projected volume" in n for n in valid["notes"]), valid["notes"]
    assert sum(t["outcome"] == "passed" for n, t in tests.items() if n in IDENTITY_GATEWAY) >= 13
    # the driver sits behind the gateway in its pod: its tests are reported unsupported, with the reason
    driver = {n: t for n, t in tests.items() if t["profile"] == "compute-driver"}
    seen = {n: (t["outcome"], t["skip_reason"], t["unsupported"]) for n, t in driver.items()}
    assert driver and all(t["outcome"] == "skipped" for t in driver.values()), seen
    behind = {n: t for n, t in driver.items() if not t["skip_reason"].startswith("provisional")}
    assert behind and all("inside its pod" in t["skip_reason"] and "DriverCore" in t["unsupported"] for t in behind.values()), seen
    found = json.loads(probe.read_text())
    assert found["gateway_pod_service_account"] == ["openshell-gateway"]
    sar = found["sar"]
    assert sar["pods patch"] is False and sar["pods update"] is False and sar["secrets get"] is False, sar
    assert sar["pods get"] and sar["sandboxes get"] and sar["tokenreviews create"], sar
    assert sar["pods get in kube-system"] is False, sar
    assert found["port_forwards_during"], "no port-forward process was running during the tests"
    # a release that cannot roll out: one line naming the pod and its last events
    error = found["rollout_timeout_error"]
    assert error and "\n" not in error, error
    assert re.search(r"gateway release broken in openshell-broken did not roll out within 25s: pod openshell-\S+ Pending", error), error
    assert "ErrImageNeverPull" in error and "last events:" in error, error
    report = re.search(r"pod logs, events and helm status are in (\S+)$", error)
    assert report and "=== helm status" in Path(report.group(1)).read_text(), error
    Path(report.group(1)).unlink()
    assert found["broken_namespace_left"] is False
    assert found["after_teardown"] == {"namespace_gone": True, "helm_release_secrets": [], "port_forwards": []}
    name = re.search(r"creating kind cluster (\S+)", out)
    assert name, out[-3000:]
    assert not _kind_containers(name.group(1)), "kind cluster left behind"
    assert "helm uninstall openshell" in out and "deleting namespace openshell" in out


def _one_clear_line(proc: subprocess.CompletedProcess[str], pattern: str) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode not in (0, 5), out[-3000:]
    lines = [ln for ln in out.splitlines() if "pytest-openshell:" in ln]
    assert len(lines) == 1 and re.search(pattern, lines[0]), out[-3000:]
    assert NOT_BOOTED not in out, "bad input must fail before a cluster boots"


def test_chart_not_found_is_one_clear_line(tmp_path: Path) -> None:
    proc = _run([f"--openshell-gateway-chart={tmp_path / 'no-such-chart'}"], tmp_path, timeout=300)
    _one_clear_line(proc, r"--openshell-gateway-chart \S+no-such-chart: chart not found -- give a chart directory")


@pytest.mark.skipif(not _docker_running(), reason="needs a running docker daemon to ask for the image")
def test_image_missing_from_docker_is_one_clear_line(tmp_path: Path) -> None:
    proc = _run(["--openshell-load-image=localhost/pytest-openshell/no-such-image:0"], tmp_path, timeout=300)
    _one_clear_line(proc, r"--openshell-load-image: localhost/pytest-openshell/no-such-image:0 not in docker.*docker load")


def test_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        proc = _run([f"--openshell-gateway-port={port}"], tmp_path, timeout=300)
    _one_clear_line(proc, rf"--openshell-gateway-port {port}: port in use on 127\.0\.0\.1 -- free it")


def test_unbuildable_helm_is_one_clear_line(tmp_path: Path) -> None:
    # nothing cached, no module source and no proxy: the build that would make helm fails, before any boot
    env = {"OPENSHELL_CACHE_DIR": str(tmp_path / "cache"), "GOMODCACHE": str(tmp_path / "gomod"), "GOPROXY": "off",
           "PATH": os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if not (Path(p) / "helm").exists())}
    proc = _run([], tmp_path, env=env, timeout=600)
    _one_clear_line(proc, r"building helm v3\.19\.0 failed .* -- read the build log")
