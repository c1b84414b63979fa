"""kind and k3d providers on real docker. Skipped, with the reason, where docker cannot run nodes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client as k8s

from conformance.openshell.identity import TESTS as IDENTITY_TESTS
from pytest_openshell.errors import HarnessError
from pytest_openshell.kindimage.docker import docker, require_docker
from pytest_openshell.kindimage.workloads import SANDBOX_IMAGE
from pytest_openshell.kube.client import api_client
from pytest_openshell.providers import ProviderSettings, get_provider
from pytest_openshell.providers.k3d import K3dProvider
from pytest_openshell.providers.kind import CLUSTER_LABEL, check_docker_can_run_nodes
from pytest_openshell.rundirs import runs_base

REPO = Path(__file__).resolve().parents[2]
POD_TIMEOUT_S = 120.0


def _docker_reason() -> str | None:
    try:
        check_docker_can_run_nodes()
    except HarnessError as exc:
        return str(exc)
    return None


needs_docker = pytest.mark.skipif(_docker_reason() is not None, reason=f"docker cannot run kind nodes here: {_docker_reason()}")


def _kind_containers(name: str) -> list[str]:
    return docker("ps", "-aq", "--filter", f"label={CLUSTER_LABEL}={name}").stdout.decode().split()


@needs_docker
@pytest.mark.slow
def test_kind_lifecycle_boots_runs_a_pod_and_leaves_nothing() -> None:
    network_before = docker("network", "inspect", "kind", check=False).returncode == 0
    provider = get_provider("kind", ProviderSettings(), lambda m: print(m))
    cluster = provider.acquire()
    name = cluster.details["cluster_name"]
    try:
        assert cluster.node_mode == "real" and cluster.server_version == "v1.34.4"
        assert cluster.agent_sandbox is not None and cluster.agent_sandbox.served("Sandbox")
        api = api_client(cluster.kubeconfig)
        try:
            core = k8s.CoreV1Api(api)
            nodes = core.list_node().items
            assert nodes and all(c.status == "True" for n in nodes for c in n.status.conditions if c.type == "Ready")
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "busybox"},
                   "spec": {"containers": [{"name": "c", "image": SANDBOX_IMAGE, "imagePullPolicy": "Never"}]}}
            core.create_namespaced_pod("default", pod)
            deadline = time.monotonic() + POD_TIMEOUT_S
            while (phase := core.read_namespaced_pod("busybox", "default").status.phase) != "Running":
                assert time.monotonic() < deadline, f"busybox pod still {phase} after {POD_TIMEOUT_S}s"
                time.sleep(0.5)
        finally:
            api.close()
        assert _kind_containers(name)
    finally:
        provider.release()
    assert not _kind_containers(name), "kind node containers left behind"
    run_dir = Path(cluster.details["run_dir"])
    assert not run_dir.exists() and not Path(f"{run_dir}.lock").exists(), "run dir or its lock left behind"
    others = docker("ps", "-aq", "--filter", "network=kind", check=False).stdout.split()
    if not network_before and not others:  # another cluster may have joined the network meanwhile
        assert docker("network", "inspect", "kind", check=False).returncode != 0, "docker network 'kind' left behind"


# What CI runs on real pods, on the default lane: the core profile (with the DNS client), the
# gateway-level identity cases (tokens read from the pods' projected volumes), the controller's
# metrics through the API server's service proxy. The driver-level identity twins and the latency
# profile add minutes and nothing kind-specific; they run with the full suite on demand.
# From the lifecycle profile only SandboxStorage: a PVC bound by kind's own local-path provisioner
# (baked into the offline node image as kind's build does), stable across pod recreation.
LIFECYCLE_NOT_ON_KIND = ("SandboxExpiry", "SuspendEdges", "PodMetadataEarly", "WarmPoolRollout", "TemplatePolicies",
                         "TemplateNetworkPolicy")
KIND_SELECTION = (f"agent_sandbox and not Claim and not ({' or '.join(LIFECYCLE_NOT_ON_KIND)}) "
                  "or ClaimControllerMetrics or openshell and not Driver")


@needs_docker
@pytest.mark.slow
def test_conformance_suites_pass_on_kind_real_pods(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_openshell.cli", "-q", "--openshell-cluster=kind", "-k", KIND_SELECTION,
         "--openshell-profile=agent-sandbox-core", "--openshell-profile=agent-sandbox-extensions",
         "--openshell-profile=gateway-identity", "--openshell-profile=agent-sandbox-lifecycle",
         f"--openshell-report={tmp_path / 'r.yaml'}", f"--openshell-results-json={results}"],
        cwd=REPO, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    tests = {t["short_name"]: t for t in json.loads(results.read_text())["tests"]}
    outcome = {name: t["outcome"] for name, t in tests.items()}
    assert outcome["ServiceDNSAcrossPodRecreation"] == "passed", "the DNS client runs on real pods"
    gaps = {m["name"]: m for m in tests["ServiceDNSAcrossPodRecreation"]["measurements"]}
    assert gaps["client_endpoint_gap_ms"]["stats"]["n"] == 3
    assert outcome["ClaimControllerMetrics"] == "passed", "the in-cluster controller's metrics are scraped"
    assert outcome["WarmPoolReady"] == "passed" and outcome["ServiceAcrossSuspendResume"] == "passed"
    valid = tests["ValidPodTokenGetsIdentity"]
    assert valid["outcome"] == "passed" and any("projected volume" in n for n in valid["notes"]), valid["notes"]
    assert sum(o == "passed" for n, o in outcome.items() if n in IDENTITY_GATEWAY) >= 13
    assert outcome["ServiceSurvivesPodFailure"] == "skipped"  # needs the node simulator
    assert outcome["SandboxStorage"] == "passed", "kind's default StorageClass provisions volumeClaimTemplates"
    assert not set(LIFECYCLE_NOT_ON_KIND) & set(outcome), "the selection keeps the kind lane short"


IDENTITY_GATEWAY = {t.short_name for t in IDENTITY_TESTS if not t.short_name.startswith("Driver")}


def _fake_path(tmp_path: Path, docker_script: str | None) -> str:
    if docker_script is not None:
        fake = tmp_path / "docker"
        fake.write_text(docker_script)
        fake.chmod(0o755)
    return str(tmp_path)


@pytest.mark.parametrize("provider", ["kind", "k3d"])
def test_missing_docker_is_one_clear_message(provider: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", _fake_path(tmp_path, None))
    with pytest.raises(HarnessError, match=r"docker is not installed.*install docker\.io and start dockerd"):
        get_provider(provider, ProviderSettings(), lambda m: None).acquire()


def test_stopped_docker_daemon_is_one_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.' >&2\nexit 1\n"
    monkeypatch.setenv("PATH", _fake_path(tmp_path, script) + os.pathsep + "/usr/bin:/bin")
    with pytest.raises(HarnessError, match=r"daemon is not running.*Cannot connect.*install docker\.io and start dockerd"):
        get_provider("kind", ProviderSettings(), lambda m: None).acquire()


def _docker_running() -> bool:
    try:
        require_docker()
    except HarnessError:
        return False
    return True


@pytest.mark.skipif(not _docker_running(), reason="needs a running docker daemon to ask for the image")
def test_k3d_without_local_k3s_image_names_the_fix() -> None:
    settings = ProviderSettings(k3s_image="localhost/pytest-openshell/no-such-k3s:0")
    with pytest.raises(HarnessError, match=r"k3s image localhost/pytest-openshell/no-such-k3s:0 is not in docker.*docker load.*--k3s-image"):
        K3dProvider(settings, lambda m: None).acquire()


def test_runc_shim_drops_only_cap_sys_resource(tmp_path: Path) -> None:
    """clusters/kind/runc-drop-sys-resource edits the spec, then hands over to the real runc."""
    caps = ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"]
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps({"process": {"capabilities": {"bounding": caps, "effective": caps}}}))
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"capabilities": {"permitted": caps}}))
    shim = REPO / "clusters" / "kind" / "runc-drop-sys-resource"
    env = {**os.environ, "REAL_RUNC": "/bin/true"}
    subprocess.run([sys.executable, str(shim), "--root", "/x", "create", "--bundle", str(bundle), "id"], env=env, check=True)
    subprocess.run([sys.executable, str(shim), "exec", "-p", str(process), "id"], env=env, check=True)
    spec = json.loads((bundle / "config.json").read_text())["process"]["capabilities"]
    assert spec == {"bounding": ["CAP_CHOWN", "CAP_SYS_ADMIN"], "effective": ["CAP_CHOWN", "CAP_SYS_ADMIN"]}
    assert json.loads(process.read_text())["capabilities"]["permitted"] == ["CAP_CHOWN", "CAP_SYS_ADMIN"]


def test_absent_kind_node_image_is_one_clear_message() -> None:
    if not _docker_running():
        pytest.skip("needs a running docker daemon to ask for the image")
    settings = ProviderSettings(kind_node_image="localhost/pytest-openshell/no-such-node:0")
    with pytest.raises(HarnessError, match=r"kind node image localhost/pytest-openshell/no-such-node:0 is not in docker"):
        get_provider("kind", settings, lambda m: None).acquire()


@needs_docker
@pytest.mark.slow
def test_failure_after_create_deletes_the_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_openshell.providers.kind import KindProvider

    def broken_install(self: KindProvider, *args: object) -> None:
        raise HarnessError("planted install failure")

    monkeypatch.setattr(KindProvider, "_install", broken_install)
    provider = KindProvider(ProviderSettings(run_id=f"fail{os.getpid()}"), lambda m: None)
    name = f"pso-fail{os.getpid()}"[:14]
    with pytest.raises(HarnessError, match="planted install failure"):
        provider.acquire()
    assert not _kind_containers(name), "a cluster whose acquire failed was left behind"


SIGKILL_AT_FIRST_TEST = '''
import os, signal
def pytest_runtest_call(item):
    os.kill(os.getpid(), signal.SIGKILL)
'''


def _reapers(name: str) -> list[int]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"pytest_openshell.providers.kind_reap" in argv and name.encode() in argv:
            found.append(int(proc.name))
    return found


@needs_docker
@pytest.mark.slow
def test_sigkilled_run_leaves_no_kind_cluster(tmp_path: Path) -> None:
    # SIGKILL reaches no handler in the run; its reaper sees the exit and deletes the cluster.
    (tmp_path / "sigkill_at_first_test.py").write_text(SIGKILL_AT_FIRST_TEST)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_openshell.cli", "-q", "-p", "sigkill_at_first_test", "--openshell-cluster=kind",
         "-k", "WarmPoolReady"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    out = proc.stdout + proc.stderr
    assert proc.returncode == -9, out[-3000:]
    created = re.search(r"creating kind cluster (\S+)", out)
    assert created, out[-3000:]
    name = created.group(1)
    run_dir = runs_base() / f"kind-{name}"
    deadline = time.monotonic() + 120
    while _kind_containers(name) or run_dir.exists() or _reapers(name):
        assert time.monotonic() < deadline, (
            f"120 s after the run was killed: containers {_kind_containers(name)}, run dir exists {run_dir.exists()}, "
            f"reapers {_reapers(name)}; reaper log: {[p.read_text() for p in run_dir.glob('reaper-*.log')]}")
        time.sleep(0.5)


def test_a_cluster_that_will_not_go_is_named_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A node container kind cannot remove (seen here: a process stuck in the kernel) must not vanish
    # from view with the run dir: the release says which containers are left and how to remove them.
    import pytest_openshell.providers.kind as kind_module
    from pytest_openshell.providers.kind import KindProvider

    def fake_docker(*args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        assert args[:2] == ("ps", "-aq") and f"label={CLUSTER_LABEL}=pso-stuck" in args, args
        return subprocess.CompletedProcess(args, 0, b"1e31b0a89f1f\n", b"")

    monkeypatch.setattr(kind_module, "docker", fake_docker)
    kind = tmp_path / "kind"
    kind.write_text("#!/bin/sh\necho 'ERROR: failed to delete cluster \"pso-stuck\": removal already in progress' >&2\nexit 1\n")
    kind.chmod(0o755)
    messages: list[str] = []
    KindProvider(ProviderSettings(), messages.append)._delete(str(kind), "pso-stuck", tmp_path)
    warning = [m for m in messages if m.startswith("WARNING")]
    assert len(warning) == 1, messages
    assert "pso-stuck was not deleted" in warning[0] and "removal already in progress" in warning[0], warning
    assert "docker rm -f 1e31b0a89f1f" in warning[0], warning
