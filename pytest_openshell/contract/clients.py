"""gRPC clients for a driver (Unix socket) and a gateway (TCP), for tests and suites.

    with driver_client(handle.socket_path) as driver:
        driver.GetCapabilities(cpb.GetCapabilitiesRequest())
    with gateway_client(gateway.address) as gw:
        gw.IssueSandboxToken(opb.IssueSandboxTokenRequest(), metadata=bearer(token))
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2_grpc as cpb_grpc
from pytest_openshell._proto.openshell.v1 import openshell_pb2_grpc as opb_grpc

Metadata = tuple[tuple[str, str], ...]


def bearer(token: str) -> Metadata:
    """Call metadata presenting ``token`` the way the in-pod supervisor does."""
    return (("authorization", f"Bearer {token}"),)


@contextmanager
def driver_client(socket_path: str | Path) -> Iterator[cpb_grpc.ComputeDriverStub]:
    # grpc-python sends the socket path as :authority; tonic (every Rust driver) refuses that.
    with grpc.insecure_channel(f"unix:{socket_path}", options=[("grpc.default_authority", "localhost")]) as channel:
        yield cpb_grpc.ComputeDriverStub(channel)


@contextmanager
def gateway_client(address: str, *, root_certificates: bytes | None = None, private_key: bytes | None = None,
                   certificate_chain: bytes | None = None, server_name: str | None = None) -> Iterator[opb_grpc.OpenShellStub]:
    """Plaintext by default; TLS when ``root_certificates`` is given (plus a client pair for mTLS)."""
    if root_certificates is None:
        channel = grpc.insecure_channel(address)
    else:
        credentials = grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
        options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
        channel = grpc.secure_channel(address, credentials, options=options)
    with channel:
        yield opb_grpc.OpenShellStub(channel)


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
