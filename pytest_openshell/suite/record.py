"""A conformance test as a small record: what it is called, needs, applies and runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_openshell.suite.context import SuiteContext


@dataclass(frozen=True)
class ConformanceTest:
    short_name: str
    description: str
    profile: str
    features: tuple[str, ...]
    # The body applies what it needs itself (SuiteContext.apply), in the order its steps need it:
    # there is no manifests field the engine would apply up front and no test would read.
    run: Callable[[SuiteContext], None]
    # Measures latency: each figure reports its load condition (what ran beside it under xdist).
    latency: bool = False
    # Its verdict depends on timing (a latency budget) or on cluster-global state (the controller's
    # metrics): under xdist it runs in one scheduling scope with the other serial tests, in turn.
    serial: bool = False

    def __str__(self) -> str:
        return self.short_name
