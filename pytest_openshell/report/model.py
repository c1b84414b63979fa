"""Build the conformance report (the file a vendor submits) from collected test results.

Per profile, tests split into core (every feature they need is a core feature of the profile),
extended, and provisional (a feature follows an unmerged upstream proposal: reported apart, never
a core or extended failure). A part's result: ``failure`` if any of its tests failed, ``partial``
if none failed but some were skipped (unsupported or not selected), ``success`` if all passed.
The harness's recommendations an implementation missed are listed per profile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pytest_openshell import __version__
from pytest_openshell.results.model import TestResult
from pytest_openshell.suite.features import Catalogue, Profile

REPORT_FORMAT_VERSION = 1
IMPLEMENTATION_FIELDS = ("organization", "project", "version", "contact", "url")


@dataclass
class ReportInputs:
    results: list[TestResult]
    catalogue: Catalogue
    environment: dict[str, Any] = field(default_factory=dict)
    implementation: dict[str, Any] = field(default_factory=dict)
    claimed_features: tuple[str, ...] | None = None
    selected_profiles: tuple[str, ...] = ()
    command: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False


def _part(tests: list[TestResult], features: tuple[str, ...], claimed: tuple[str, ...] | None) -> dict[str, Any]:
    stats = {
        "passed": sum(1 for t in tests if t.outcome == "passed"),
        "failed": sum(1 for t in tests if t.outcome in ("failed", "error")),
        "skipped": sum(1 for t in tests if t.outcome == "skipped"),
    }
    if not tests:
        result = "skipped"
    elif stats["failed"]:
        result = "failure"
    elif stats["skipped"]:
        result = "partial"
    else:
        result = "success"
    return {
        "result": result,
        "statistics": stats,
        "failedTests": sorted(t.short_name for t in tests if t.outcome in ("failed", "error")),
        "skippedTests": [{"name": t.short_name, "reason": t.skip_reason} for t in sorted(tests, key=lambda t: t.short_name)
                         if t.outcome == "skipped"],
        "supportedFeatures": [f for f in features if claimed is None or f in claimed],
        "unsupportedFeatures": [f for f in features if claimed is not None and f not in claimed],
    }


def profile_section(profile: Profile, results: Iterable[TestResult], claimed: tuple[str, ...] | None,
                    provisional_features: Iterable[str] = ()) -> dict[str, Any]:
    mine = [r for r in results if r.profile == profile.name]
    provisional = [r for r in mine if r.provisional]
    core = [r for r in mine if r not in provisional and set(r.features) <= set(profile.core)]
    extended = [r for r in mine if r not in provisional and r not in core]
    marked = set(provisional_features)
    return {
        "name": profile.name,
        "core": _part(core, profile.core, claimed),
        "extended": _part(extended, tuple(f for f in profile.extended if f not in marked), claimed),
        "provisional": _part(provisional, tuple(f for f in profile.extended if f in marked), claimed),
        "recommendations": [{"feature": rec["feature"], "test": r.short_name, "finding": rec["finding"]}
                            for r in sorted(mine, key=lambda r: r.short_name) for rec in r.recommendations],
    }


def latency_section(results: Iterable[TestResult]) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        for m in r.measurements:
            stats = m.get("stats", {})
            rows.append({
                "test": r.short_name,
                "measurement": m["name"],
                "unit": "ms",
                "n": stats.get("n", 0),
                **{k: stats[k] for k in ("p50", "p95", "p99", "max") if k in stats},
                "budget": m.get("budget"),
                "verdict": m.get("verdict", "recorded"),
                "controllerMetric": m.get("controller"),
                "load": r.load,
            })
    return rows


def build_report(inputs: ReportInputs) -> dict[str, Any]:
    profiles = [p for name, p in inputs.catalogue.profiles.items() if not inputs.selected_profiles or name in inputs.selected_profiles]
    env = inputs.environment
    return {
        "apiVersion": "conformance.pytest-openshell.io/v1",
        "kind": "ConformanceReport",
        "formatVersion": REPORT_FORMAT_VERSION,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "harness": {"name": "pytest-openshell", "version": __version__},
        "implementation": {k: inputs.implementation.get(k) for k in IMPLEMENTATION_FIELDS},
        "cluster": env.get("cluster", {}),
        "agentSandbox": env.get("agentSandbox", {}),
        "gateway": env.get("gateway", {"underTest": False}),
        "driver": env.get("driver", {"underTest": False}),
        "interrupted": inputs.interrupted,
        "profiles": [profile_section(p, inputs.results, inputs.claimed_features, inputs.catalogue.provisional) for p in profiles],
        "latency": latency_section(inputs.results),
        "reproduce": {"command": inputs.command, "options": inputs.options},
    }
