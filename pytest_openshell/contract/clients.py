"""gRPC channels and clients for a driver (Unix socket) and a gateway (TCP), for tests and suites.

    with driver_client(handle.socket_path) as driver:
        driver.GetCapabilities(cpb.GetCapabilitiesRequest())
    with gateway_client(gateway.address) as gw:
        gw.IssueSandboxToken(opb.IssueSandboxTokenRequest(), metadata=bearer(token))

Every channel the harness opens comes from :func:`open_channel`, so each one sends what any
conforming HTTP/2 server accepts (tests/contract checks it against tonic, the stack of every Rust
OpenShell driver and gateway).
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2_grpc as cpb_grpc
from pytest_openshell._proto.openshell.v1 import openshell_pb2_grpc as opb_grpc
from pytest_openshell.errors import HarnessError

Metadata = tuple[tuple[str, str], ...]

# The HTTP/2 :authority sent over a Unix socket. grpc-core's default there is the percent-encoded
# socket path, which is not a URI authority: hyper (under tonic, so under every Rust OpenShell
# driver) resets such a stream with PROTOCOL_ERROR before the service sees it. Python servers let
# it pass. "localhost" is what grpc-go and tonic clients send for a Unix socket.
UDS_AUTHORITY = "localhost"


def bearer(token: str) -> Metadata:
    """Call metadata presenting ``token`` the way the in-pod supervisor does."""
    return (("authorization", f"Bearer {token}"),)


def unix_target(socket_path: str | Path) -> str:
    text = str(socket_path)
    return text if text.startswith("unix:") else f"unix:{text}"


def channel_options(target: str) -> list[tuple[str, str]]:
    """Channel options for ``target``: a valid authority over a Unix socket; over TCP grpc's own
    ``host:port`` default is already one."""
    return [("grpc.default_authority", UDS_AUTHORITY)] if target.startswith(("unix:", "unix-abstract:")) else []


def open_channel(target: str, *, root_certificates: bytes | None = None, private_key: bytes | None = None,
                 certificate_chain: bytes | None = None, server_name: str | None = None) -> grpc.Channel:
    """The one channel factory: ``unix:PATH`` or ``HOST:PORT``; plaintext unless ``root_certificates``
    is given (plus a client key and chain for mTLS; ``server_name`` overrides the name checked)."""
    if "://" in target and not target.startswith(("dns:", "unix:")):
        raise HarnessError(f"gRPC endpoint {target!r} is a URL", fix="give HOST:PORT (TLS follows from the CA option, not a scheme)")
    options = channel_options(target)
    if root_certificates is None:
        return grpc.insecure_channel(target, options=options)
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    credentials = grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
    return grpc.secure_channel(target, credentials, options=options)


def driver_channel(socket_path: str | Path) -> grpc.Channel:
    return open_channel(unix_target(socket_path))


@contextmanager
def driver_client(socket_path: str | Path) -> Iterator[cpb_grpc.ComputeDriverStub]:
    with driver_channel(socket_path) as channel:
        yield cpb_grpc.ComputeDriverStub(channel)


@contextmanager
def gateway_client(address: str, *, root_certificates: bytes | None = None, private_key: bytes | None = None,
                   certificate_chain: bytes | None = None, server_name: str | None = None) -> Iterator[opb_grpc.OpenShellStub]:
    """Plaintext by default; TLS when ``root_certificates`` is given (plus a client pair for mTLS)."""
    with open_channel(address, root_certificates=root_certificates, private_key=private_key,
                      certificate_chain=certificate_chain, server_name=server_name) as channel:
        yield opb_grpc.OpenShellStub(channel)


# -- how a call failed ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TransportFailure:
    """A call that failed below gRPC (connection or HTTP/2): the server's service never answered."""

    cause: str
    fix: str


# RFC 9113 section 7.
H2_ERROR_CODES = ("NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
                  "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR",
                  "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED")
_RESET = re.compile(r"RST_STREAM.*?error code (\d+)")
_CLOSED = ("Socket closed", "Connection reset", "Broken pipe", "GOAWAY")
_NOT_HTTP2 = ("Failed parsing HTTP/2", "Trying to connect an http1.x server")


def transport_failure(exc: grpc.RpcError) -> TransportFailure | None:
    """What went wrong below gRPC, from grpc-core's status details; None when the server answered."""
    code: grpc.StatusCode = exc.code()  # type: ignore[attr-defined]
    details: str = exc.details() or ""  # type: ignore[attr-defined]
    if code == grpc.StatusCode.UNAVAILABLE and "failed to connect to all addresses" in details:
        last = details.partition("last error: ")[2] or details
        if "Connection refused" in last or "No such file or directory" in last:
            return TransportFailure(f"nothing accepts connections there ({last})",
                                    "start the server first, and check that the path or address is the one it listens on")
        if any(marker in last for marker in _NOT_HTTP2):
            return TransportFailure(f"the peer accepts connections but does not speak gRPC's HTTP/2 ({last})",
                                    "point at the gRPC endpoint itself; plaintext or TLS must match the server (give or drop the CA)")
        return TransportFailure(f"the connection failed ({last})",
                                "check the endpoint, and for TLS that the CA, client certificate and server name match")
    reset = _RESET.search(details)
    if reset and code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE):
        number = int(reset.group(1))
        name = H2_ERROR_CODES[number] if number < len(H2_ERROR_CODES) else f"error code {number}"
        if name == "PROTOCOL_ERROR":
            return TransportFailure(
                "the server's HTTP/2 layer reset the stream with PROTOCOL_ERROR before its gRPC service saw the call: "
                "the request broke a rule of that HTTP/2 server (hyper, under every tonic server, rejects an "
                ":authority that is not a valid URI authority, such as grpc-python's default over a Unix socket)",
                "a gRPC client over a Unix socket must send a valid authority (grpc-python: channel option "
                f"grpc.default_authority={UDS_AUTHORITY}, as the harness's channels do); if the harness's own "
                "request was reset, report it with the server's log")
        return TransportFailure(f"the server's HTTP/2 layer reset the stream with {name} before its gRPC service answered",
                                "read the server's log: the reset came from its HTTP/2 layer, not from its service")
    if code == grpc.StatusCode.UNAVAILABLE and any(marker in details for marker in _CLOSED):
        return TransportFailure(f"the connection closed before an answer ({details})", "the server hung up or died: read its log")
    return None


def call_failed(what: str, target: str, method: str, exc: grpc.RpcError, *, fix: str) -> HarnessError:
    """The error for a failed first call to ``what`` at ``target``: a transport failure is named as
    one, with its own fix; otherwise the server answered and ``fix`` applies."""
    failure = transport_failure(exc)
    if failure is not None:
        return HarnessError(f"{what} at {target} cannot be reached (a transport failure, not an answer from its "
                            f"service): {failure.cause}", fix=failure.fix)
    code: grpc.StatusCode = exc.code()  # type: ignore[attr-defined]
    return HarnessError(f"{what} at {target} answered {method} with {code.name}: {exc.details()}",  # type: ignore[attr-defined]
                        fix=f"the connection works, the call failed in the service: {fix}")


class WatchStream:
    """A WatchSandboxes call read in a background thread, so a test can wait for events with a deadline.

        with WatchStream(driver_stub) as stream:
            ...
            stream.next("deleted", sandbox_id, timeout=30)
    """

    def __init__(self, stub: cpb_grpc.ComputeDriverStub) -> None:
        self.call = stub.WatchSandboxes(cpb.WatchSandboxesRequest())
        self.events: queue.Queue[cpb.WatchSandboxesEvent] = queue.Queue()
        self.error: grpc.RpcError | None = None  # how the stream ended, unless cancelled by close()
        self._thread = threading.Thread(target=self._read, name="watch-sandboxes-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in self.call:
                self.events.put(event)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:  # type: ignore[attr-defined]
                self.error = exc

    def received(self, sandbox_id: str) -> list[cpb.DriverSandbox]:
        """The sandbox updates for ``sandbox_id`` received so far, taken off the queue (without waiting)."""
        found: list[cpb.DriverSandbox] = []
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return found
            if event.WhichOneof("payload") == "sandbox" and event_sandbox_id(event) == sandbox_id:
                found.append(event.sandbox.sandbox)

    def next(self, kind: str, sandbox_id: str, timeout: float) -> cpb.WatchSandboxesEvent:
        """The next event of ``kind`` (sandbox | deleted | platform_event) for ``sandbox_id``; queue.Empty on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            if event.WhichOneof("payload") == kind and event_sandbox_id(event) == sandbox_id:
                return event

    def close(self) -> None:
        self.call.cancel()
        self._thread.join()

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def event_sandbox_id(event: cpb.WatchSandboxesEvent) -> str:
    kind = event.WhichOneof("payload")
    if kind == "sandbox":
        return str(event.sandbox.sandbox.id)
    if kind == "deleted":
        return str(event.deleted.sandbox_id)
    return str(event.platform_event.sandbox_id)
