"""The clash rule of pytest_openshell.proto_facts on hand-made facts (pure logic)."""

from __future__ import annotations

from pytest_openshell import proto_facts


def facts(fields: dict[int, tuple[str, str, bool]], reserved: tuple[int, ...] = ()) -> proto_facts.Facts:
    return {"pkg.M": {"fields": {n: {"name": name, "type": kind, "repeated": rep} for n, (name, kind, rep) in fields.items()},
                      "reserved": list(reserved)}}


def test_same_numbers_same_types_is_no_clash_even_when_renamed_or_extended() -> None:
    ours = facts({1: ("name", "string", False), 2: ("extra", "bool", False)})
    assert proto_facts.clashes(ours, facts({1: ("sandbox_name", "string", False)})) == []


def test_another_type_cardinality_or_a_reserved_number_clashes() -> None:
    ours = facts({1: ("a", "string", False), 2: ("b", "string", False), 3: ("c", "int64", False)})
    theirs = facts({1: ("a", "pkg.Other", False), 2: ("b", "string", True)}, reserved=(3,))
    assert [str(c) for c in proto_facts.clashes(ours, theirs)] == [
        "pkg.M #1: ours string a, theirs pkg.Other a", "pkg.M #2: ours string b, theirs repeated string b",
        "pkg.M #3: ours int64 c, theirs reserved"]


def test_a_number_we_reserved_and_they_use_is_not_a_clash() -> None:
    assert proto_facts.clashes(facts({}, reserved=(1,)), facts({1: ("deleted", "bool", False)})) == []


def test_normalise_reads_yaml_keys() -> None:
    assert proto_facts.normalise({"pkg.M": {"fields": {"1": {"name": "a", "type": "string", "repeated": False}}}}) == \
        facts({1: ("a", "string", False)})
