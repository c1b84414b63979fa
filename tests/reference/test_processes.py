"""The servers as host processes (their command lines), clean in-process shutdown, and the gateway's TLS modes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell._proto.openshell.v1 import openshell_pb2 as opb
from pytest_openshell.contract.clients import driver_client, gateway_client
from pytest_openshell.providers import Cluster
from pytest_openshell.reference.driver import DriverHandle, start_driver
from pytest_openshell.reference.gateway import TlsConfig, start_gateway
from tests.exit_threads import threads_at_exit_check
from tests.reference.certs import make_pki
from tests.reference.conftest import TIMEOUT, server_process

pytestmark = pytest.mark.cluster


def test_command_lines(cluster: Cluster, sandbox_namespace: str, sockdir: Path, tmp_path: Path) -> None:
    socket = sockdir / "driver.sock"
    with server_process("pytest_openshell.reference.driver", "--socket", str(socket), "--kubeconfig", str(cluster.kubeconfig),
                        "--namespace", sandbox_namespace, "--gateway-id", "cli") as (_, driver_address):
        assert driver_address == f"unix:{socket}"
        with server_process("pytest_openshell.reference.gateway", "--listen", "127.0.0.1:0", "--driver-socket", str(socket),
                            "--kubeconfig", str(cluster.kubeconfig), "--db", str(tmp_path / "gw.db"), "--gateway-id", "cli",
                            "--namespaces", sandbox_namespace) as (_, address):
            with gateway_client(address) as gw:
                assert gw.Health(opb.HealthRequest()).status == opb.ServiceStatus.SERVICE_STATUS_HEALTHY
                info = gw.GetGatewayInfo(opb.GetGatewayInfoRequest())
                assert [d.capabilities.driver_name for d in info.compute_drivers] == ["kubernetes"]
    assert not socket.exists(), "the driver removes its socket on exit"


def test_stop_ends_open_streams_and_leaves_no_threads(cluster: Cluster, sandbox_namespace: str, sockdir: Path) -> None:
    before = {t.ident for t in threading.enumerate()}
    handle = start_driver(sockdir / "d.sock", sandbox_namespace, kubeconfig=cluster.kubeconfig)
    with driver_client(handle.socket_path) as drv:
        stream = drv.WatchSandboxes(cpb.WatchSandboxesRequest())
        drv.ListSandboxes(cpb.ListSandboxesRequest(), wait_for_ready=True)
        started = time.monotonic()
        handle.stop()
        assert time.monotonic() - started < 1.5, "an open watch must not hold the server for its grace period"
        with pytest.raises(grpc.RpcError) as ended:  # ended by the server, not left hanging
            for _ in stream:
                pass
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
    assert not handle.socket_path.exists()
    leftover = [t.name for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert leftover == []


def test_gateway_tls_and_mtls(cluster: Cluster, sandbox_namespace: str, driver: DriverHandle, tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    ca = pki.ca.read_bytes()
    client = {"private_key": pki.client_key.read_bytes(), "certificate_chain": pki.client_cert.read_bytes()}
    healthy = opb.ServiceStatus.SERVICE_STATUS_HEALTHY
    with start_gateway(driver.socket_path, tmp_path / "tls.db", kubeconfig=cluster.kubeconfig, namespaces=[sandbox_namespace],
                       tls=TlsConfig(pki.server_cert, pki.server_key)) as tls:
        with gateway_client(tls.address, root_certificates=ca) as gw:
            assert gw.Health(opb.HealthRequest(), timeout=TIMEOUT).status == healthy
    with start_gateway(driver.socket_path, tmp_path / "mtls.db", kubeconfig=cluster.kubeconfig, namespaces=[sandbox_namespace],
                       tls=TlsConfig(pki.server_cert, pki.server_key, client_ca=pki.ca)) as mtls:
        with gateway_client(mtls.address, root_certificates=ca, **client) as gw:
            assert gw.Health(opb.HealthRequest(), timeout=TIMEOUT).status == healthy
        with gateway_client(mtls.address, root_certificates=ca) as gw, pytest.raises(grpc.RpcError) as refused:
            gw.Health(opb.HealthRequest(), timeout=TIMEOUT)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, "no client certificate, no connection"


def test_wrong_tls_material_is_one_clear_message(cluster: Cluster, sandbox_namespace: str, driver: DriverHandle, tmp_path: Path) -> None:
    """The harness pointed at a TLS gateway with another CA: one message naming the TLS options, exit 3."""
    for name in ("served", "other"):
        (tmp_path / name).mkdir()
    served, other = make_pki(tmp_path / "served"), make_pki(tmp_path / "other")
    with start_gateway(driver.socket_path, tmp_path / "tls.db", kubeconfig=cluster.kubeconfig, namespaces=[sandbox_namespace],
                       tls=TlsConfig(served.server_cert, served.server_key)) as gateway:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest_openshell.cli", "-q", "-k", "ValidPodTokenGetsIdentity and not Driver",
             "--openshell-cluster=existing", f"--kubeconfig={cluster.kubeconfig}",
             f"--openshell-gateway-endpoint={gateway.address}", f"--openshell-gateway-ca={other.ca}",
             f"--openshell-driver-namespace={sandbox_namespace}"],
            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out[-2000:]  # refused before anything runs
    lines = [line for line in out.splitlines() if "pytest-openshell:" in line]
    assert len(lines) == 1, out[-2000:]
    assert f"the gateway at {gateway.address} is unreachable or its TLS material does not match" in lines[0]
    assert "--openshell-gateway-ca" in lines[0] and "Traceback" not in out


KILL_AFTER_FIRST = '''
import os, signal
done = []
def pytest_runtest_logfinish(nodeid, location):
    if not done:
        done.append(nodeid)
        os.kill(int(os.environ["KILL_GATEWAY_PID"]), signal.SIGKILL)
'''


def test_gateway_dying_mid_run_fails_the_following_tests_by_name(cluster: Cluster, sandbox_namespace: str, sockdir: Path,
                                                                  tmp_path: Path) -> None:
    socket = sockdir / "driver.sock"
    (tmp_path / "kill_gateway_after_first.py").write_text(KILL_AFTER_FIRST)
    check_args, check_env, threads_left = threads_at_exit_check(tmp_path)
    with server_process("pytest_openshell.reference.driver", "--socket", str(socket), "--kubeconfig", str(cluster.kubeconfig),
                        "--namespace", sandbox_namespace, "--gateway-id", "ext"):
        gateway = subprocess.Popen([sys.executable, "-m", "pytest_openshell.reference.gateway", "--listen", "127.0.0.1:0",
                                    "--driver-socket", str(socket), "--kubeconfig", str(cluster.kubeconfig), "--db",
                                    str(tmp_path / "gw.db"), "--gateway-id", "ext", "--namespaces", sandbox_namespace],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert gateway.stdout is not None
            address = gateway.stdout.readline().split(" ", 2)[2].strip()
            proc = subprocess.run(
                [sys.executable, "-m", "pytest_openshell.cli", "-q", "-p", "kill_gateway_after_first", *check_args, "-p", "no:randomly",
                 "-k", "(ValidPodTokenGetsIdentity or WrongAudienceDenied or UnboundTokenDenied) and not Driver",
                 "--openshell-cluster=existing", f"--kubeconfig={cluster.kubeconfig}", f"--openshell-gateway-endpoint={address}",
                 f"--openshell-driver-socket={socket}", f"--openshell-driver-namespace={sandbox_namespace}"],
                cwd=tmp_path, capture_output=True, text=True, timeout=300,
                env={**os.environ, "PYTHONPATH": str(tmp_path), "KILL_GATEWAY_PID": str(gateway.pid), **check_env})
        finally:
            gateway.kill()
            gateway.wait()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "1 passed" in out and "2 failed" in out, out[-3000:]
    assert out.count(f"the gateway stopped answering mid-run: the gateway at {address} is unreachable") >= 2, out[-3000:]
    assert threads_left.read_text() == "", "threads still running when pytest was done"
