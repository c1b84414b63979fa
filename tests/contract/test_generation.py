"""pytest_openshell.contract.generation on answers of both generations (wire bytes as each side sends them)."""

from __future__ import annotations

import grpc
import pytest

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell._proto.openshell.v1 import openshell_pb2 as opb
from pytest_openshell.contract.generation import deletion_generation, driver_generation, token_generation

OLD_CAPS = cpb.GetCapabilitiesResponse(driver_name="kubernetes", driver_version="0.0.1", gateway_manages_lifecycle=True)


@pytest.mark.parametrize(("caps", "probe", "name"), [
    (OLD_CAPS, None, "2026-08"),
    (OLD_CAPS, grpc.StatusCode.UNIMPLEMENTED, "2026-08"),
    (OLD_CAPS, grpc.StatusCode.UNAUTHENTICATED, "newer"),  # the RPC exists even though no flag is set
    (cpb.GetCapabilitiesResponse(supports_sandbox_authentication=True), None, "newer"),
    (cpb.GetCapabilitiesResponse(driver_reports_runtime_readiness=True), grpc.StatusCode.UNIMPLEMENTED, "newer"),
    (cpb.GetCapabilitiesResponse(resource_capabilities=cpb.ResourceCapabilities()), None, "newer"),
])
def test_driver_generation(caps: cpb.GetCapabilitiesResponse, probe: grpc.StatusCode | None, name: str) -> None:
    generation = driver_generation(caps, probe)
    assert generation.name == name and generation.evidence


def test_driver_generation_names_its_evidence() -> None:
    assert str(driver_generation(cpb.GetCapabilitiesResponse(supports_sandbox_authentication=True))) == \
        "newer (GetCapabilities sets supports_sandbox_authentication)"


def test_token_generation() -> None:
    newer = opb.IssueSandboxTokenResponse(token="t")
    newer.expiration_time.FromMilliseconds(1_800_000_000_000)
    assert token_generation(newer).name == "newer"  # type: ignore[union-attr]
    old_wire = opb.IssueSandboxTokenResponse(token="t").SerializeToString() + b"\x10\x80\xd0\xac\xf3\x0e"  # int64 expires_at_ms = 2
    assert token_generation(opb.RefreshSandboxTokenResponse.FromString(old_wire)).name == "2026-08"  # type: ignore[union-attr]
    assert token_generation(opb.IssueSandboxTokenResponse(token="t")) is None


def test_deletion_generation() -> None:
    completed = opb.DeleteSandboxResponse(outcome=opb.DeletionOutcome.DELETION_OUTCOME_COMPLETED)
    assert str(deletion_generation(completed)) == "newer (DeleteSandbox outcome DELETION_OUTCOME_COMPLETED)"
    assert deletion_generation(opb.DeleteSandboxResponse.FromString(b"\x08\x01")).name == "2026-08"  # type: ignore[union-attr]  # bool deleted = 1
    assert deletion_generation(opb.DeleteSandboxResponse()) is None
