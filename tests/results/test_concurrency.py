"""The load condition of a latency figure: how much of its test ran beside tests on other workers."""

from __future__ import annotations

from pytest_openshell.results.concurrency import Call, load_condition


def test_alone_is_zero() -> None:
    mine = Call("t.py::t[WarmClaimLatency]", "gw0", 10.0, 20.0)
    calls = [mine, Call("t.py::t[SandboxReady]", "gw0", 0.0, 10.0), Call("t.py::t[ColdClaim]", "gw1", 20.0, 30.0)]
    assert load_condition(mine, calls, 2) == {"parallelWorkers": 2, "besideFraction": 0.0, "besideTests": []}


def test_overlaps_on_other_workers_count_once() -> None:
    mine = Call("t.py::t[WarmClaimLatency]", "gw0", 10.0, 20.0)
    calls = [
        mine,
        Call("t.py::t[A]", "gw1", 8.0, 12.0),   # 2 s of mine
        Call("t.py::t[B]", "gw2", 11.0, 13.0),  # inside A's span on another worker: no extra time
        Call("t.py::t[C]@openshell-latency", "gw1", 15.0, 25.0),  # 5 s of mine
        Call("t.py::t[D]", "gw0", 12.0, 14.0),  # my own worker: impossible in practice, never counted
    ]
    load = load_condition(mine, calls, 3)
    assert load == {"parallelWorkers": 3, "besideFraction": 0.8, "besideTests": ["A", "B", "C"]}


def test_scope_names_of_node_ids() -> None:
    from pytest_openshell.results.concurrency import short_name_of

    assert short_name_of("conformance/test_agent_sandbox.py::test_agent_sandbox[WarmClaimLatency]") == "WarmClaimLatency"
    assert short_name_of("conformance/test_agent_sandbox.py::test_agent_sandbox[ColdClaim]@openshell-serial") == "ColdClaim"
    assert short_name_of("tests/test_x.py::test_plain") is None
