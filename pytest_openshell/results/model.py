"""What one conformance test produced: outcome, features, measurements."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_openshell.results.stats import summary

PROPERTY_TEST = "openshell.test"
PROPERTY_MEASUREMENT = "openshell.measurement"
PROPERTY_NOTE = "openshell.note"
PROPERTY_UNSUPPORTED = "openshell.unsupported"
PROPERTY_ENVIRONMENT = "openshell.environment"
PROPERTY_PROVISIONAL = "openshell.provisional"  # JSON list of the test's provisional features
PROPERTY_RECOMMENDATION = "openshell.recommendation"  # JSON {"feature", "finding"}: a recommendation not met


@dataclass
class Measurement:
    name: str
    samples_ms: list[float]
    budget: dict[str, float] | None = None  # e.g. {"p95": 1000.0}
    controller: dict[str, Any] | None = None  # the controller's own metric, where scraped

    @property
    def stats(self) -> dict[str, float]:
        return summary(self.samples_ms) if self.samples_ms else {"n": 0}

    @property
    def verdict(self) -> str:
        if not self.budget:
            return "recorded"
        if not self.samples_ms:
            return "no-samples"
        stats = self.stats
        return "pass" if all(stats[k] <= limit for k, limit in self.budget.items()) else "fail"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(stats=self.stats, verdict=self.verdict)
        return out


@dataclass
class TestResult:
    __test__ = False  # a result record, not a test class
    nodeid: str
    short_name: str
    profile: str
    features: list[str]
    outcome: str = "passed"  # passed | failed | skipped | error
    skip_reason: str = ""
    unsupported: list[str] = field(default_factory=list)
    provisional: list[str] = field(default_factory=list)  # follows an unmerged upstream proposal: reported apart
    recommendations: list[dict[str, str]] = field(default_factory=list)  # the harness's recommendations it missed
    measurements: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    load: dict[str, Any] | None = None  # what ran beside it (see results.concurrency), for latency tests
