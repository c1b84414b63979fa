"""Conformance suites shipped with pytest-openshell."""
