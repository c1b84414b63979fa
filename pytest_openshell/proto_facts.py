"""Wire facts of protobuf messages (number -> type, reserved numbers) and the clashes between two sets.

Two peers interoperate on a message when every field number they both use carries the same type and
cardinality, and neither uses a number the other has reserved. Names may differ (a rename is
wire-compatible); extra fields on one side are fine (unknown fields are ignored). This module reduces
descriptors to those facts so our ``proto/`` can be checked against the ``openshell`` SDK's stubs and
against a committed record of an upstream revision (``proto/upstream-fields.yaml``).

``python -m pytest_openshell.proto_facts MODULE...`` prints the facts of the named ``*_pb2`` modules as
JSON. The SDK's stubs register the same ``openshell.v1`` symbols as ours in the default descriptor
pool, so their facts are read in a separate process that never imports our stubs.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2

# descriptor_pb2.FieldDescriptorProto.Type -> the .proto keyword; messages and enums use their full name.
_SCALARS = {
    1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64", 7: "fixed32", 8: "bool", 9: "string",
    12: "bytes", 13: "uint32", 15: "sfixed32", 16: "sfixed64", 17: "sint32", 18: "sint64",
}

# {message full name: {"fields": {number: {"name", "type", "repeated"}}, "reserved": [numbers]}}
Facts = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Clash:
    message: str
    number: int
    ours: str
    theirs: str

    def __str__(self) -> str:
        return f"{self.message} #{self.number}: ours {self.ours}, theirs {self.theirs}"


def _field(f: descriptor_pb2.FieldDescriptorProto) -> dict[str, Any]:
    kind = _SCALARS.get(f.type) or f.type_name.lstrip(".")
    return {"name": f.name, "type": kind, "repeated": f.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED}


def _message(out: Facts, prefix: str, m: descriptor_pb2.DescriptorProto) -> None:
    name = f"{prefix}.{m.name}"
    reserved = sorted(n for r in m.reserved_range for n in range(r.start, r.end))
    out[name] = {"fields": {f.number: _field(f) for f in m.field}, "reserved": reserved}
    for nested in m.nested_type:
        _message(out, name, nested)


def file_facts(files: Iterable[descriptor_pb2.FileDescriptorProto]) -> Facts:
    out: Facts = {}
    for fdp in files:
        for m in fdp.message_type:
            _message(out, fdp.package, m)
    return out


def module_facts(module_names: Sequence[str]) -> Facts:
    """Facts of the messages defined in the named generated ``*_pb2`` modules."""
    protos = []
    for name in module_names:
        serialized = importlib.import_module(name).DESCRIPTOR.serialized_pb
        protos.append(descriptor_pb2.FileDescriptorProto.FromString(serialized))
    return file_facts(protos)


def normalise(facts: Mapping[str, Mapping[str, Any]]) -> Facts:
    """Facts read back from JSON or YAML (field numbers as ints; ``repeated`` and ``reserved`` may be left out)."""
    return {m: {"fields": {int(n): {"repeated": False, **f} for n, f in (body.get("fields") or {}).items()},
                "reserved": sorted(int(n) for n in body.get("reserved") or [])}
            for m, body in facts.items()}


def _describe(field: Mapping[str, Any]) -> str:
    return f"{'repeated ' if field['repeated'] else ''}{field['type']} {field['name']}"


def clashes(ours: Facts, theirs: Facts) -> list[Clash]:
    """Every (message, number) of ours where the other side's wire contract differs: another type or
    cardinality, or a number the other side reserved. A number we reserved and they use is not a
    clash: we only ignore their field."""
    found = []
    for message in sorted(ours.keys() & theirs.keys()):
        mine, other = ours[message], theirs[message]
        for number, field in sorted(mine["fields"].items()):
            peer = other["fields"].get(number)
            if peer is not None and (peer["type"], peer["repeated"]) != (field["type"], field["repeated"]):
                found.append(Clash(message, number, _describe(field), _describe(peer)))
            elif peer is None and number in other["reserved"]:
                found.append(Clash(message, number, _describe(field), "reserved"))
    return found


def shared_fields(ours: Facts, theirs: Facts) -> int:
    """How many (message, number) pairs both sides define: what a comparison actually covered."""
    return sum(len(ours[m]["fields"].keys() & theirs[m]["fields"].keys()) for m in ours.keys() & theirs.keys())


def main(argv: Sequence[str]) -> int:
    if not argv:
        print("usage: python -m pytest_openshell.proto_facts MODULE [MODULE...]  (generated *_pb2 modules)", file=sys.stderr)
        return 2
    json.dump(module_facts(argv), sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
