"""Decide, per conformance test, whether it runs, and if not, why (reported, never dropped)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_openshell.errors import HarnessError
from pytest_openshell.suite.features import Catalogue
from pytest_openshell.suite.record import ConformanceTest


@dataclass(frozen=True)
class Verdict:
    run: bool
    reason: str = ""
    unsupported: tuple[str, ...] = ()
    provisional: tuple[str, ...] = ()  # the provisional features of the test (run or not)


@dataclass(frozen=True)
class Selection:
    catalogue: Catalogue
    profiles: tuple[str, ...] = ()  # empty: all
    claimed: tuple[str, ...] | None = None  # None: every feature of the selected profiles
    skip_tests: tuple[str, ...] = ()
    test_names: frozenset[str] = field(default_factory=frozenset)
    provisional: bool = False  # --openshell-provisional: run tests of unmerged upstream proposals too

    def __post_init__(self) -> None:
        unknown_profiles = set(self.profiles) - set(self.catalogue.profiles)
        if unknown_profiles:
            raise HarnessError(f"unknown profile(s) {sorted(unknown_profiles)}",
                               fix=f"--openshell-profile takes: {', '.join(sorted(self.catalogue.profiles))}")
        unknown_features = set(self.claimed or ()) - set(self.catalogue.features)
        if unknown_features:
            raise HarnessError(f"unknown feature(s) {sorted(unknown_features)}",
                               fix=f"--openshell-features takes: {', '.join(sorted(self.catalogue.features))}")
        unknown_tests = set(self.skip_tests) - set(self.test_names) if self.test_names else set()
        if unknown_tests:
            raise HarnessError(f"--openshell-skip-tests names unknown test(s) {sorted(unknown_tests)}",
                               fix=f"known tests: {', '.join(sorted(self.test_names))}")

    @property
    def active_profiles(self) -> tuple[str, ...]:
        return self.profiles or tuple(self.catalogue.profiles)

    def supported(self, feature: str) -> bool:
        return self.claimed is None or feature in self.claimed

    def verdict(self, test: ConformanceTest, node_mode: str | None = None) -> Verdict:
        if test.profile not in self.active_profiles:
            return Verdict(False, f"profile {test.profile} not selected")
        if test.short_name in self.skip_tests:
            return Verdict(False, "skipped by --openshell-skip-tests")
        missing = tuple(f for f in test.features if not self.supported(f))
        if missing:
            return Verdict(False, f"unsupported feature(s): {', '.join(missing)}", missing)
        provisional = self.catalogue.provisional_features(test.features)
        asked = self.provisional or (self.claimed is not None and set(provisional) <= set(self.claimed))
        if provisional and not asked:
            proposals = "; ".join(sorted({self.catalogue.provisional[f] for f in provisional}))
            return Verdict(False, f"provisional ({proposals}): run with --openshell-provisional or claim "
                                  f"{', '.join(provisional)} with --openshell-features", provisional=provisional)
        gaps = tuple(f for f in test.features if f in self.catalogue.node_mode_gaps.get(node_mode or "", ()))
        if gaps:
            return Verdict(False, f"not exercisable on a cluster with {node_mode} nodes: {', '.join(gaps)}", gaps, provisional)
        return Verdict(True, provisional=provisional)
