"""A driver that cannot be reached is reported as a transport failure with its fix, not as a driver answer.

Each case is a real peer on a Unix socket: nothing listening, an HTTP/1 server, the strict (tonic)
peer meeting a client without the authority fix, and gRPC servers that do answer with an error.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import grpc
import pytest

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2_grpc as cpb_grpc
from pytest_openshell.contract import clients
from pytest_openshell.errors import HarnessError
from pytest_openshell.openshell.services import OpenShellServices, ServiceOptions
from pytest_openshell.providers import Cluster
from tests.contract.strict_peer import RunningPeer

TRANSPORT = "a transport failure, not an answer from its service"


def driver_error(socket_path: Path | str) -> str:
    """The message the suites stop with when their first call to the driver at ``socket_path`` fails."""
    options = ServiceOptions(driver_socket=str(socket_path), driver_namespace="vendor")
    services = OpenShellServices(cluster=cast(Cluster, None), namespace="unused", options=options)
    try:
        with pytest.raises(HarnessError) as err:
            services.driver()
    finally:
        services.close()
    return str(err.value)


def test_nothing_listening(sockdir: Path) -> None:
    dead = sockdir / "dead.sock"
    with socket.socket(socket.AF_UNIX) as unserved:
        unserved.bind(str(dead))  # the file stays, nobody accepts: a driver that died
    message = driver_error(dead)
    assert TRANSPORT in message and "nothing accepts connections there" in message and "Connection refused" in message, message
    assert "start the server first" in message, message


class _Http1(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _Refuse(socketserver.StreamRequestHandler):
    """An HTTP/1.1 server's answer to anything, then wait for the client to hang up (so it reads the answer)."""

    def handle(self) -> None:
        self.request.recv(64)
        self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        while self.request.recv(4096):
            pass


@contextmanager
def http1_server(path: Path) -> Iterator[None]:
    server = _Http1(str(path), _Refuse)
    thread = threading.Thread(target=server.serve_forever, name="http1-server")
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_not_http2(sockdir: Path) -> None:
    with http1_server(sockdir / "web.sock"):
        message = driver_error(sockdir / "web.sock")
    assert TRANSPORT in message and "does not speak gRPC's HTTP/2" in message and "http1.x server" in message, message


def test_stream_reset_by_a_strict_server(strict_peer_unix: RunningPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a vendor saw before the fix (issue 11), now named: tonic's HTTP/2 layer refused the request."""
    monkeypatch.setattr(clients, "channel_options", lambda target: [])  # the harness without its authority fix
    message = driver_error(strict_peer_unix.target)
    assert TRANSPORT in message and "reset the stream with PROTOCOL_ERROR" in message, message
    assert "grpc.default_authority=localhost" in message, message


class _Failing(cpb_grpc.ComputeDriverServicer):
    def __init__(self, code: grpc.StatusCode) -> None:
        self.code = code

    def GetCapabilities(self, request: cpb.GetCapabilitiesRequest, context: grpc.ServicerContext) -> cpb.GetCapabilitiesResponse:
        context.abort(self.code, "the cluster API is not reachable")


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL], ids=lambda c: c.name)
def test_an_answer_is_not_a_transport_failure(sockdir: Path, code: grpc.StatusCode) -> None:
    """The two codes a transport failure also shows up as: when the driver sends them, it answered."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    cpb_grpc.add_ComputeDriverServicer_to_server(_Failing(code), server)
    server.add_insecure_port(f"unix:{sockdir / 'driver.sock'}")
    server.start()
    try:
        message = driver_error(sockdir / "driver.sock")
    finally:
        server.stop(grace=None).wait()
    assert TRANSPORT not in message, message
    assert f"answered GetCapabilities with {code.name}: the cluster API is not reachable" in message, message
    assert "the connection works" in message, message
