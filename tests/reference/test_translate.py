"""The reference gateway's translation between the public and the driver model (pure logic)."""

from __future__ import annotations

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell._proto.openshell.v1 import openshell_pb2 as opb
from pytest_openshell.reference.gateway import translate
from pytest_openshell.reference.gateway.store import SandboxRecord


def test_conditions_of_either_generation_become_timestamps() -> None:
    old = translate.public_condition(cpb.DriverCondition(type="Ready", status="True", last_transition_time="2026-12-02T05:44:30Z"))
    assert old.transition_time.ToJsonString() == "2026-12-02T05:44:30Z"
    newer = cpb.DriverCondition(type="Ready", last_transition_time="2026-12-02T05:44:30Z")
    newer.transition_time.FromJsonString("2027-01-01T00:00:00Z")
    assert translate.public_condition(newer).transition_time.ToJsonString() == "2027-01-01T00:00:00Z"  # the typed field wins
    assert not translate.public_condition(cpb.DriverCondition(type="Ready", last_transition_time="soon")).HasField("transition_time")


def test_metadata_carries_workspace_and_creation_time() -> None:
    record = SandboxRecord("id1", "box", workspace="team", created_at_ms=1_800_000_000_123)
    meta = translate.public_sandbox(record, None).metadata
    assert (meta.workspace, meta.created_time.ToMilliseconds()) == ("team", 1_800_000_000_123)
    assert translate.timestamp(0) is None


def test_resources_command_and_tty_reach_the_driver() -> None:
    spec = opb.SandboxSpec(command=["sleep", "1"], tty=True,
                           resource_requirements=opb.ResourceRequirements(gpu=opb.GpuResourceRequirements(count=2)))
    driver_spec = translate.driver_sandbox(SandboxRecord("id1", "box"), spec).spec
    assert (list(driver_spec.command), driver_spec.tty, driver_spec.resource_requirements.gpu.count) == (["sleep", "1"], True, 2)
    assert driver_spec.resource_requirements.gpu.HasField("count")
