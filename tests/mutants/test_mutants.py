"""The suites bite: against every mutant at least one conformance test fails, and against the
unmodified references none does."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_openshell.reference.faults import FAULTS
from tests.mutants.runner import profile_for, run_suite

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_unmodified_references_pass_everything(tmp_path: Path) -> None:
    outcomes = run_suite(tmp_path, frozenset(), ("compute-driver", "gateway-identity"))
    from conformance.openshell import TESTS

    assert len(outcomes) == len(TESTS)
    bad = {k: v for k, v in outcomes.items() if v not in ("passed",)}
    assert not bad, bad


@pytest.mark.parametrize("fault", sorted(name for name, f in FAULTS.items() if not f.equivalent))
def test_mutant_is_caught(fault: str, tmp_path: Path) -> None:
    outcomes = run_suite(tmp_path, frozenset({fault}), (profile_for(fault),))
    # Only a failed verdict of the suite catches a mutant: a harness error (setup or teardown) is the
    # harness's own trouble and proves nothing about the suite's assertions.
    caught = sorted(name for name, outcome in outcomes.items() if outcome == "failed")
    errors = sorted(name for name, outcome in outcomes.items() if outcome == "error")
    assert not errors, f"harness errors against mutant {fault}: {errors}"
    assert caught, f"no conformance test fails against mutant {fault}: {outcomes}"


def test_every_denial_case_is_controlled(tmp_path: Path) -> None:
    """Against a gateway that refuses every token, the denial cases alone (the positive cases left out)
    must fail: each first requires the sandbox's own token to be accepted. Without those controls
    they all passed against an upstream gateway whose authenticator was off."""
    denials = ("WrongAudienceDenied or UnboundTokenDenied or RecreatedPodTokenDenied or ServiceAccountNotAllowed or "
               "NamespaceNotAllowed or OwnerUIDMismatchDenied or LabelIDMismatchDenied or NonControllerOrTwoOwnersDenied or "
               "UnknownSandboxDenied or UnclaimedWarmPodDenied or TemplateInjectedIDDenied")
    outcomes = run_suite(tmp_path, frozenset({"deny-every-token"}), ("gateway-identity",), ("-k", f"({denials}) and not Driver"))
    assert len(outcomes) == 11 and set(outcomes.values()) == {"failed"}, outcomes
