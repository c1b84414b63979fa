"""The shipped suites, run as a user runs them (openshell-conformance), give the recorded verdicts.

A conformance failure of the upstream controller is a legitimate result; what must not happen
is a verdict that differs from the one measured and reviewed in conformance/expectations.yaml.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import conformance
from tests.conftest import LANES
from tests.exit_threads import threads_at_exit_check

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
EXPECTATIONS = yaml.safe_load((Path(conformance.__file__).parent / "expectations.yaml").read_text())


def test_every_lane_and_test_has_an_expectation() -> None:
    from conformance.agent_sandbox import TESTS

    assert sorted(EXPECTATIONS) == sorted(LANES)
    for lane in LANES:
        assert sorted(EXPECTATIONS[lane]) == sorted(t.short_name for t in TESTS), lane


# The newest lane runs on two xdist workers (as CI users run it), the other serially: the verdicts
# must not depend on it, and the report must say what ran beside each latency figure.
WORKERS = {lane: (2 if lane == LANES[-1] else 1) for lane in LANES}


@pytest.mark.parametrize("lane", LANES)
def test_suite_verdicts_match_expectations(lane: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    only = request.config.getoption("agent_sandbox_version")
    if only and only != lane:
        pytest.skip(f"--agent-sandbox-version={only}")
    results, allure, junit = tmp_path / "results.json", tmp_path / "allure", tmp_path / "junit.xml"
    xdist = ["-n", str(WORKERS[lane])] if WORKERS[lane] > 1 else []
    # The serial run is one process: it must end with no thread but the main one (tests.exit_threads).
    check_args, check_env, threads_left = threads_at_exit_check(tmp_path) if not xdist else ([], {}, None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_openshell.cli", f"--agent-sandbox-version={lane}", f"--openshell-results-json={results}",
         f"--alluredir={allure}", f"--junitxml={junit}", "-q", *xdist, *check_args],
        capture_output=True, text=True, timeout=900, cwd=tmp_path, env={**os.environ, "PYTHONPATH": pythonpath(tmp_path), **check_env},
    )
    assert results.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(results.read_text())
    got = {t["short_name"]: t["outcome"] for t in data["tests"]}
    mismatches = {name: (want, got.get(name)) for name, want in EXPECTATIONS[lane].items() if got.get(name) != want}
    assert not mismatches, f"verdicts differ from expectations (want, got): {mismatches}\n{proc.stdout[-4000:]}"
    assert "OpenShell conformance" in proc.stdout, "the terminal summary is missing"
    assert proc.returncode == (1 if "failed" in EXPECTATIONS[lane].values() else 0)
    if threads_left is not None:
        assert threads_left.read_text() == "", "threads still running when pytest was done"
    report = check_outputs(tmp_path / "reports" / "conformance-report.yaml", allure, junit, lane, data)
    check_load_conditions(report, WORKERS[lane])


def pythonpath(tmp_path: Path) -> str:
    """tmp_path first (the exit-thread check's hook), then the caller's: a worktree run with
    PYTHONPATH=$PWD tests its own suites, not the installed copy's."""
    return os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p)


def check_load_conditions(report: dict, workers: int) -> None:
    """Every latency figure says what ran beside it; never another latency or serial test."""
    from pytest_openshell.xdist_scheduling import serial_test_names

    serial = serial_test_names()
    rows = [row for row in report["latency"] if row["test"] in serial]
    assert rows, "no latency figures"
    for row in rows:
        load = row["load"]
        assert load is not None and load["parallelWorkers"] == workers, row
        assert not set(load["besideTests"]) & serial, f"{row['test']} ran beside serial tests {load['besideTests']}"
        if workers == 1:
            assert load["besideFraction"] == 0.0, row


def check_outputs(report_path: Path, allure: Path, junit: Path, lane: str, data: dict) -> dict:
    """The three outputs of one run: a schema-valid report, allure results, JUnit with latency figures."""
    report = yaml.safe_load(report_path.read_text())
    validate_report(report)
    assert report["agentSandbox"]["version"] == lane
    assert report["cluster"] == {"provider": "embedded", "serverVersion": "v1.34.4", "nodeMode": "simulated"}
    warm = [row for row in report["latency"] if row["measurement"] == "warm_ready_ms"]
    assert warm and warm[0]["n"] > 0 and warm[0]["budget"] == {"p95": 1000.0} and warm[0]["controllerMetric"]
    failed = {t["short_name"] for t in data["tests"] if t["outcome"] == "failed"}
    by_name = {}
    for f in allure.glob("*-result.json"):
        result = json.loads(f.read_text())
        test = next((str(p["value"]) for p in result.get("parameters") or [] if p["name"] == "test"), None)
        by_name[test] = result  # the readable "test" parameter: the short name
    for name in failed:
        result = by_name[name]
        assert result["status"] == "failed" and result.get("attachments"), f"{name}: no attachments in allure"
        assert result.get("steps"), f"{name}: no steps in allure"
    assert (allure / "environment.properties").read_text().count("agentSandbox.version=" + lane) == 1
    assert json.loads((allure / "categories.json").read_text())
    xml = junit.read_text()
    assert 'name="latency.warm_ready_ms.p95"' in xml
    return dict(report)


def validate_report(report: dict) -> None:
    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[2] / "reports" / "conformance-report.schema.json").read_text())
    jsonschema.validate(report, schema, format_checker=jsonschema.FormatChecker())
