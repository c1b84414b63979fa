"""Which conformance tests run: provisional features only when asked, and always reported."""

from __future__ import annotations

from pytest_openshell.suite.features import Catalogue, Profile, load_catalogue
from pytest_openshell.suite.record import ConformanceTest
from pytest_openshell.suite.selection import Selection

CATALOGUE = Catalogue({"Core": "", "Warm": ""}, {"p": Profile("p", ("Core",), ("Warm",))}, provisional={"Warm": "RFC 9"})
WARM = ConformanceTest("WarmThing", "", "p", ("Core", "Warm"), lambda ctx: None)
PLAIN = ConformanceTest("Plain", "", "p", ("Core",), lambda ctx: None)


def test_a_provisional_test_does_not_run_unless_asked_and_says_how() -> None:
    verdict = Selection(CATALOGUE).verdict(WARM)
    assert not verdict.run and verdict.provisional == ("Warm",)
    assert "RFC 9" in verdict.reason and "--openshell-provisional" in verdict.reason
    assert Selection(CATALOGUE).verdict(PLAIN).run


def test_asking_or_claiming_the_feature_runs_it_still_marked_provisional() -> None:
    for selection in (Selection(CATALOGUE, provisional=True), Selection(CATALOGUE, claimed=("Core", "Warm"))):
        verdict = selection.verdict(WARM)
        assert verdict.run and verdict.provisional == ("Warm",)


def test_the_shipped_catalogue_marks_the_warm_pool_rfc_provisional() -> None:
    catalogue = load_catalogue()
    assert set(catalogue.provisional) == {"DriverWarmPath", "WarmClaimIdentity"}
    assert all("warm-pooled sandboxes" in why for why in catalogue.provisional.values())
    assert set(catalogue.recommendations) == {"DriverStrictValidation", "StrictDenialCodes"}
