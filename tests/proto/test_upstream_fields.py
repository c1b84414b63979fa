"""Our proto/ against the committed wire facts of upstream 2f7fb655 (proto/upstream-fields.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pytest_openshell import proto_facts
from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2
from pytest_openshell._proto.openshell.datamodel.v1 import datamodel_pb2
from pytest_openshell._proto.openshell.sandbox.v1 import sandbox_pb2
from pytest_openshell._proto.openshell.v1 import openshell_pb2

RECORD = Path(__file__).resolve().parents[2] / "proto" / "upstream-fields.yaml"
OURS = [m.__name__ for m in (compute_driver_pb2, openshell_pb2, datamodel_pb2, sandbox_pb2)]


def record() -> dict[str, Any]:
    return dict(yaml.safe_load(RECORD.read_text()))


def test_compute_driver_agrees_with_2026_08_on_every_shared_number() -> None:
    upstream = proto_facts.normalise(record()["messages"])
    ours = proto_facts.module_facts(OURS)
    compute = {m: f for m, f in upstream.items() if m.startswith("openshell.compute.v1.")}
    assert not proto_facts.clashes(ours, compute), "\n".join(map(str, proto_facts.clashes(ours, compute)))
    # Every 2026-08 compute message and field number is ours too (a superset: the newer generation adds).
    missing = [(m, n) for m, body in compute.items() for n in body["fields"] if n not in ours.get(m, {}).get("fields", {})]
    assert not missing, f"2026-08 compute fields we do not define: {missing}"
    assert proto_facts.shared_fields(ours, compute) >= 80


def test_public_api_clashes_with_2026_08_are_exactly_the_recorded_ones() -> None:
    """Where the 2026-08 revision and the SDK disagree we follow the SDK; nowhere else may we differ."""
    facts = record()
    upstream = proto_facts.normalise(facts["messages"])
    found = {(c.message, c.number) for c in proto_facts.clashes(proto_facts.module_facts(OURS), upstream)}
    recorded = {(m, n) for m, numbers in facts["generation_clashes"].items() for n in numbers}
    assert found == recorded


def test_compute_driver_rpcs_are_the_2026_08_set_plus_authenticate() -> None:
    [upstream] = record()["services"].values()
    ours = [m.name for m in compute_driver_pb2.DESCRIPTOR.services_by_name["ComputeDriver"].methods]
    assert set(ours) - set(upstream) == {"AuthenticateSandbox"} and set(upstream) <= set(ours)
