"""Conformance suites shipped with pytest-openshell, registered as the suite ``openshell``
(entry point ``pytest_openshell.suites``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_openshell.suite.registry import Suite


def suite() -> Suite:
    from conformance.agent_sandbox import TESTS as AGENT_SANDBOX
    from conformance.openshell import TESTS as OPENSHELL
    from pytest_openshell.suite.registry import Suite

    here = Path(__file__).resolve().parent
    return Suite("openshell", tuple(AGENT_SANDBOX + OPENSHELL), here / "features.yaml", here)
