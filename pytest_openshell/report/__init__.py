"""Outputs built from the result model: the conformance report, allure results, JUnit properties."""
