"""Keep the serial conformance tests on one xdist worker, one after another.

xdist's ``loadgroup`` marks a group by appending ``@group`` to each item's node id; from pytest 9.2
node ids are derived, that assignment is lost, and ``xdist_group`` markers silently group nothing
(latency tests then ran beside each other). The controller only sees node ids, so we schedule by
scope ourselves: every serial conformance test (a timing budget, or the controller's cluster-global
metrics) shares one scope; every other test is its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from pytest_openshell.results.concurrency import short_name_of

SERIAL_SCOPE = "openshell-serial"


class SerialScopeScheduling(LoadScopeScheduling):
    def __init__(self, config: pytest.Config, log: Any = None, serial_tests: Iterable[str] = ()) -> None:
        super().__init__(config, log)
        self.serial_tests = frozenset(serial_tests)

    def _split_scope(self, nodeid: str) -> str:
        return SERIAL_SCOPE if short_name_of(nodeid) in self.serial_tests else nodeid


def serial_test_names(*, with_openshell: bool = False) -> frozenset[str]:
    """Tests of the serial scope; ``with_openshell`` adds every OpenShell test (they share an external driver's namespace)."""
    from pytest_openshell.openshell.services import OPENSHELL_PROFILES
    from pytest_openshell.suite.registry import all_tests

    tests = all_tests()
    serial = {t.short_name for t in tests if t.serial}
    return frozenset(serial | ({t.short_name for t in tests if t.profile in OPENSHELL_PROFILES} if with_openshell else set()))
