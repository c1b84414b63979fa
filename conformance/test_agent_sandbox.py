"""Runs every agent-sandbox conformance record on the cluster under test (any provider, any lane)."""

from __future__ import annotations

import pytest

from conformance.agent_sandbox import TESTS
from pytest_openshell.suite.context import SuiteContext


@pytest.mark.parametrize("conformance", TESTS, indirect=True, ids=str)
def test_agent_sandbox(conformance: SuiteContext) -> None:
    conformance.test.run(conformance)
