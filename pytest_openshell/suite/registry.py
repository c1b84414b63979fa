"""Where conformance suites come from: packages that register one under the entry-point group
``pytest_openshell.suites`` (the shipped suites do, in pyproject.toml), so the engine never
imports a suite by name and a third party's suite of records runs the same way.

An entry point names a callable returning a :class:`Suite`::

    [project.entry-points."pytest_openshell.suites"]
    mysuite = "my_package.conformance:suite"
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path

from pytest_openshell.suite.record import ConformanceTest

ENTRY_POINT_GROUP = "pytest_openshell.suites"
SHIPPED = "openshell"
# Used only when the shipped suite's entry point is not installed (a bare source tree on PYTHONPATH).
_SHIPPED_FALLBACK = "conformance:suite"


@dataclass(frozen=True)
class Suite:
    name: str
    tests: tuple[ConformanceTest, ...]
    features: Path  # its features.yaml: features, profiles, node-mode gaps, provisional, recommendations
    directory: Path  # where its pytest modules (test_*.py, pytest.ini) live


def _load(spec: str) -> Suite:
    module, _, attr = spec.partition(":")
    suite = getattr(import_module(module), attr)()
    if not isinstance(suite, Suite):
        raise TypeError(f"{spec} returned {type(suite).__name__}, not a pytest_openshell Suite")
    return suite


@lru_cache(maxsize=1)
def suites() -> tuple[Suite, ...]:
    """Every registered suite, the shipped one first."""
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    loaded = [_load(found.pop(SHIPPED).value if SHIPPED in found else _SHIPPED_FALLBACK)]
    loaded += [_load(ep.value) for _, ep in sorted(found.items())]
    names = [t.short_name for s in loaded for t in s.tests]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ValueError(f"conformance tests registered twice: {clashes}")
    return tuple(loaded)


def all_tests() -> tuple[ConformanceTest, ...]:
    return tuple(t for s in suites() for t in s.tests)


def tests_of_profiles(profiles: frozenset[str]) -> tuple[ConformanceTest, ...]:
    return tuple(t for t in all_tests() if t.profile in profiles)
