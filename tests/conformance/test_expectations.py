"""The shipped suites, run as a user runs them (openshell-conformance), give the recorded verdicts.

A conformance failure of the upstream controller is a legitimate result; what must not happen
is a verdict that differs from the one measured and reviewed in conformance/expectations.yaml.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import conformance
from tests.conftest import LANES

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
EXPECTATIONS = yaml.safe_load((Path(conformance.__file__).parent / "expectations.yaml").read_text())


def test_every_lane_and_test_has_an_expectation() -> None:
    from conformance.agent_sandbox import TESTS

    assert sorted(EXPECTATIONS) == sorted(LANES)
    for lane in LANES:
        assert sorted(EXPECTATIONS[lane]) == sorted(t.short_name for t in TESTS), lane


@pytest.mark.parametrize("lane", LANES)
def test_suite_verdicts_match_expectations(lane: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    only = request.config.getoption("agent_sandbox_version")
    if only and only != lane:
        pytest.skip(f"--agent-sandbox-version={only}")
    results = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_openshell.cli", f"--agent-sandbox-version={lane}", f"--openshell-results-json={results}",
         "-q"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )
    assert results.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(results.read_text())
    got = {t["short_name"]: t["outcome"] for t in data["tests"]}
    mismatches = {name: (want, got.get(name)) for name, want in EXPECTATIONS[lane].items() if got.get(name) != want}
    assert not mismatches, f"verdicts differ from expectations (want, got): {mismatches}\n{proc.stdout[-4000:]}"
    assert "OpenShell conformance" in proc.stdout, "the terminal summary is missing"
    assert proc.returncode == (1 if "failed" in EXPECTATIONS[lane].values() else 0)
