"""The result model: core vs extended, success / partial / failure, unsupported features."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from pytest_openshell.report.model import ReportInputs, build_report, profile_section
from pytest_openshell.report.summary import render_summary
from pytest_openshell.results.model import Measurement, TestResult
from pytest_openshell.results.stats import percentile, summary
from pytest_openshell.suite.features import Catalogue, Profile

PROFILE = Profile("p", core=("A", "B"), extended=("X", "Y"))
CATALOGUE = Catalogue({"A": "", "B": "", "X": "", "Y": ""}, {"p": PROFILE})
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "reports" / "conformance-report.schema.json").read_text())


def result(name: str, features: tuple[str, ...], outcome: str = "passed", **kw: object) -> TestResult:
    return TestResult(f"id::{name}", name, "p", list(features), outcome=outcome, **kw)  # type: ignore[arg-type]


def test_all_passed_is_success() -> None:
    section = profile_section(PROFILE, [result("a", ("A",)), result("x", ("A", "X"))], None)
    assert section["core"]["result"] == "success" and section["extended"]["result"] == "success"
    assert section["core"]["statistics"] == {"passed": 1, "failed": 0, "skipped": 0}


def test_a_test_needing_an_extended_feature_counts_as_extended() -> None:
    section = profile_section(PROFILE, [result("x", ("A", "X"), "failed")], None)
    assert section["core"]["result"] == "skipped"
    assert section["extended"]["failedTests"] == ["x"]


def test_skips_make_partial_and_failures_make_failure() -> None:
    partial = profile_section(PROFILE, [result("a", ("A",)), result("b", ("B",), "skipped", skip_reason="why")], None)
    assert partial["core"]["result"] == "partial"
    assert partial["core"]["skippedTests"] == [{"name": "b", "reason": "why"}]
    failure = profile_section(PROFILE, [result("a", ("A",), "failed"), result("b", ("B",), "skipped")], None)
    assert failure["core"]["result"] == "failure"
    errored = profile_section(PROFILE, [result("a", ("A",), "error")], None)
    assert errored["core"]["result"] == "failure" and errored["core"]["statistics"]["failed"] == 1


def test_unclaimed_features_are_reported_unsupported() -> None:
    section = profile_section(PROFILE, [result("y", ("A", "Y"), "skipped", unsupported=["Y"])], ("A", "B", "X"))
    assert section["extended"]["unsupportedFeatures"] == ["Y"]
    assert section["extended"]["supportedFeatures"] == ["X"]
    assert section["core"]["unsupportedFeatures"] == []


def test_measurement_verdicts_and_percentiles() -> None:
    samples = [float(i) for i in range(1, 101)]
    assert percentile(samples, 50) == 50 and percentile(samples, 99) == 99 and percentile([7.0], 95) == 7.0
    assert summary(samples)["max"] == 100
    assert Measurement("m", samples, budget={"p95": 95.0}).verdict == "pass"
    assert Measurement("m", samples, budget={"p95": 94.0}).verdict == "fail"
    assert Measurement("m", samples).verdict == "recorded"
    with pytest.raises(ValueError):
        percentile([], 50)


def test_report_validates_against_the_schema() -> None:
    m = Measurement("warm_ready_ms", [10.0, 20.0], budget={"p95": 1000.0}).to_dict()
    results = [result("a", ("A",), measurements=[m]), result("y", ("A", "Y"), "skipped", skip_reason="unsupported feature(s): Y",
                                                             unsupported=["Y"])]
    report = build_report(ReportInputs(results, CATALOGUE, environment={
        "cluster": {"provider": "embedded", "serverVersion": "v1.34.4", "nodeMode": "simulated"},
        "agentSandbox": {"version": "v0.5.6", "apiVersions": {"Sandbox": ["v1beta1", "v1alpha1"]}}},
        implementation={"organization": "o", "project": "p", "version": "1", "contact": ["a@b"], "url": "https://x"},
        claimed_features=("A", "B", "X"), command=["openshell-conformance"], options={"--keep-cluster": True}))
    jsonschema.validate(report, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert report["latency"][0]["verdict"] == "pass" and report["latency"][0]["p95"] == 20.0
    broken = dict(report, profiles=[{"name": "p"}])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_terminal_summary_fits_80_columns() -> None:
    m = Measurement("a_very_long_measurement_name_that_goes_on_and_on_ms", [1.0, 123456.0], budget={"p95": 1.0}).to_dict()
    lines = render_summary([result("a-long-profile-name-" * 3, ("A",), measurements=[m])])
    assert lines and all(len(line) <= 80 for line in lines)
    assert any("fail" in line for line in lines)


def test_provisional_tests_are_reported_apart_never_as_core_failures() -> None:
    section = profile_section(PROFILE, [result("a", ("A",)), result("w", ("A", "Y"), "failed", provisional=["Y"])], None,
                              provisional_features=("Y",))
    assert section["core"]["result"] == "success" and section["extended"]["result"] == "skipped"
    assert section["provisional"]["result"] == "failure" and section["provisional"]["failedTests"] == ["w"]
    assert section["provisional"]["supportedFeatures"] == ["Y"] and "Y" not in section["extended"]["supportedFeatures"]


def test_missed_recommendations_are_listed_per_profile() -> None:
    finding = {"feature": "X", "finding": "denied with NOT_FOUND"}
    section = profile_section(PROFILE, [result("a", ("A",), recommendations=[finding])], None)
    assert section["core"]["result"] == "success"
    assert section["recommendations"] == [{"feature": "X", "test": "a", "finding": "denied with NOT_FOUND"}]
