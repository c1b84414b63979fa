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
    run: Callable[[SuiteContext], None]
    manifests: tuple[str, ...] = ()
    # Measures latency: never beside another serial test under xdist (one scheduling scope); what
    # else ran beside it is reported as the figure's load condition.
    latency: bool = False
    # Reads or perturbs cluster-global state (the controller's metrics): joins the same serial scope.
    serial: bool = False

    @property
    def scheduled_serially(self) -> bool:
        return self.latency or self.serial

    def __str__(self) -> str:
        return self.short_name
