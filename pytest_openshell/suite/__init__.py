"""The conformance engine: features and profiles (data), test records, selection, context."""

from pytest_openshell.suite.features import Catalogue, load_catalogue
from pytest_openshell.suite.record import ConformanceTest
from pytest_openshell.suite.selection import Selection, Verdict

__all__ = ["Catalogue", "ConformanceTest", "Selection", "Verdict", "load_catalogue"]
