"""Runs the compute-driver and gateway-identity records against the driver and gateway under test."""

from __future__ import annotations

import pytest

from conformance.openshell import TESTS
from pytest_openshell.suite.context import SuiteContext


@pytest.mark.parametrize("conformance", TESTS, indirect=True, ids=str)
def test_openshell(conformance: SuiteContext) -> None:
    conformance.test.run(conformance)
