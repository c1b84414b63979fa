"""The gateway's typed view of its compute driver (a ComputeDriver stub over the driver's Unix socket).

Driver errors pass through with their status code and details, so a driver's denial reaches the
gateway's caller unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2_grpc as cpb_grpc
from pytest_openshell.contract.labels import WARM_CLAIM_METADATA
from pytest_openshell.reference.status import StatusError, from_rpc

TIMEOUT_S = 30.0
T = TypeVar("T")


@dataclass(frozen=True)
class WarmClaim:
    namespace: str
    name: str
    uid: str


def _passthrough(call: Callable[[], T]) -> T:
    try:
        return call()
    except grpc.RpcError as exc:
        raise from_rpc(exc) from exc


class DriverClient:
    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self.stub = cpb_grpc.ComputeDriverStub(channel)

    def close(self) -> None:
        self.channel.close()

    def capabilities(self) -> cpb.GetCapabilitiesResponse:
        return _passthrough(lambda: self.stub.GetCapabilities(cpb.GetCapabilitiesRequest(), timeout=TIMEOUT_S))

    def validate(self, sandbox: cpb.DriverSandbox) -> None:
        _passthrough(lambda: self.stub.ValidateSandboxCreate(cpb.ValidateSandboxCreateRequest(sandbox=sandbox),
                                                             timeout=TIMEOUT_S))

    def create(self, sandbox: cpb.DriverSandbox) -> WarmClaim | None:
        """Create; the warm claim the driver bound the id to, if it took the warm path."""
        _, call = _passthrough(lambda: self.stub.CreateSandbox.with_call(cpb.CreateSandboxRequest(sandbox=sandbox),
                                                                         timeout=TIMEOUT_S))
        for key, value in call.trailing_metadata() or ():
            if key == WARM_CLAIM_METADATA:
                namespace, name, uid = str(value).split("/", 2)
                return WarmClaim(namespace, name, uid)
        return None

    def get(self, sandbox_id: str, name: str) -> cpb.DriverSandbox | None:
        try:
            reply = _passthrough(lambda: self.stub.GetSandbox(cpb.GetSandboxRequest(sandbox_id=sandbox_id, sandbox_name=name),
                                                              timeout=TIMEOUT_S))
        except StatusError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return reply.sandbox

    def list(self) -> list[cpb.DriverSandbox]:
        return list(_passthrough(lambda: self.stub.ListSandboxes(cpb.ListSandboxesRequest(), timeout=TIMEOUT_S)).sandboxes)

    def delete(self, sandbox_id: str, name: str) -> bool:
        reply = _passthrough(lambda: self.stub.DeleteSandbox(cpb.DeleteSandboxRequest(sandbox_id=sandbox_id, sandbox_name=name),
                                                             timeout=TIMEOUT_S))
        return bool(reply.deleted)

    def authenticate(self, credential: str) -> str:
        reply = _passthrough(lambda: self.stub.AuthenticateSandbox(cpb.AuthenticateSandboxRequest(credential=credential),
                                                                   timeout=TIMEOUT_S))
        if not reply.sandbox_id:
            raise StatusError(grpc.StatusCode.UNAUTHENTICATED, "driver returned no sandbox id")
        return str(reply.sandbox_id)
