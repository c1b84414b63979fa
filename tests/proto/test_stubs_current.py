"""The committed gRPC stubs are exactly what ``python -m pytest_openshell.proto_gen`` generates from proto/."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from pytest_openshell import proto_gen

pytest.importorskip("grpc_tools", reason="grpcio-tools (the test extra) regenerates the stubs")


def _tree(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def test_committed_stubs_match_a_fresh_generation(tmp_path: Path) -> None:
    proto_gen.generate(tmp_path)
    fresh, committed = _tree(tmp_path), _tree(proto_gen.OUT_DIR)
    assert sorted(fresh) == sorted(committed), "run `python -m pytest_openshell.proto_gen` and commit the result"
    stale = [name for name, path in fresh.items() if not filecmp.cmp(path, committed[name], shallow=False)]
    assert not stale, f"stale stubs {stale}: run `python -m pytest_openshell.proto_gen` and commit the result"


def test_stubs_import_as_package_modules() -> None:
    from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2, compute_driver_pb2_grpc
    from pytest_openshell._proto.openshell.v1 import openshell_pb2, openshell_pb2_grpc

    assert compute_driver_pb2.DESCRIPTOR.package == "openshell.compute.v1"
    assert openshell_pb2.DESCRIPTOR.package == "openshell.v1"
    assert compute_driver_pb2.GetCapabilitiesResponse.__module__ == "pytest_openshell._proto.openshell.compute.v1.compute_driver_pb2"
    assert hasattr(compute_driver_pb2_grpc, "ComputeDriverStub") and hasattr(openshell_pb2_grpc, "OpenShellStub")


# Field numbers the reference servers and upstream must agree on (proto/UPSTREAM.md).
@pytest.mark.parametrize(("message", "field", "number"), [
    ("GetCapabilitiesResponse", "supports_sandbox_authentication", 7),
    ("GetCapabilitiesResponse", "driver_reports_runtime_readiness", 8),
    ("AuthenticateSandboxRequest", "credential", 1),
    ("AuthenticateSandboxResponse", "sandbox_id", 1),
    ("DriverSandbox", "workspace", 6),
    ("DriverSandboxSpec", "policy", 7),
    ("DeleteSandboxResponse", "deleted", 1),
    ("WatchSandboxesEvent", "platform_event", 3),
])
def test_compute_driver_field_numbers(message: str, field: str, number: int) -> None:
    from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2

    assert compute_driver_pb2.DESCRIPTOR.message_types_by_name[message].fields_by_name[field].number == number


def test_compute_driver_service_has_every_rpc() -> None:
    from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2

    service = compute_driver_pb2.DESCRIPTOR.services_by_name["ComputeDriver"]
    assert {m.name for m in service.methods} == {
        "GetCapabilities", "AuthenticateSandbox", "GetGatewayListenerRequirements", "ValidateSandboxCreate", "GetSandbox",
        "ListSandboxes", "CreateSandbox", "StopSandbox", "StartSandbox", "DeleteSandbox", "WatchSandboxes",
        "EnsureWorkspace", "DeleteWorkspace"}
    assert service.methods_by_name["WatchSandboxes"].server_streaming
