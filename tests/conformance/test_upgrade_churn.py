"""Which lost Sandboxes count as pool inventory churn (conformance.agent_sandbox.upgrade.churned):
only unclaimed warm members whose pool the upgrade kept with its UID."""

from __future__ import annotations

from typing import Any

from conformance.agent_sandbox.upgrade import churned


def box(*owners: tuple[str, str, str]) -> dict[str, Any]:
    return {"uid": "u", "owners": [list(o) for o in owners]}


def test_only_unclaimed_members_of_a_kept_pool_are_churn() -> None:
    pool = ("SandboxWarmPool", "p", "pool-uid")
    before = {"Sandbox": {"p-a": box(pool), "p-b": box(pool), "claimed": box(("SandboxClaim", "c", "c-uid")), "bare": box()},
              "SandboxWarmPool": {"p": {"uid": "pool-uid"}}}
    kept = {"Sandbox": {"p-b": box(pool)}, "SandboxWarmPool": {"p": {"uid": "pool-uid"}}}
    assert churned({"before": before, "after": kept}) == {"p-a"}  # claimed and bare ones lost are loss
    recreated_pool = {"Sandbox": {}, "SandboxWarmPool": {"p": {"uid": "other"}}}
    assert churned({"before": before, "after": recreated_pool}) == set()
    assert churned({"before": before, "after": {"Sandbox": {}, "SandboxWarmPool": {}}}) == set()
