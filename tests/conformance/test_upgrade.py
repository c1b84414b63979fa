"""The agent-sandbox-upgrade profile, run as a user runs it: an in-place upgrade v0.4.6 -> v0.5.6 on
the embedded cluster keeps the live state (all six tests pass), and a lossy upgrade (CRDs deleted
and created anew) is caught as failed verdicts, not as a harness error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.exit_threads import threads_at_exit_check

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
UPGRADE = ["--agent-sandbox-version=v0.5.6", "--agent-sandbox-upgrade-from=v0.4.6", "--openshell-profile=agent-sandbox-upgrade"]
TESTS = ("UpgradeKeepsObjects", "UpgradeKeepsPods", "UpgradeKeepsClaims", "UpgradeWarmPoolServes", "UpgradeKeepsIdentity",
         "UpgradeStorageMigration")
# Lossy: the CRDs go, so every object of them goes, and the garbage collector takes their pods and Services.
LOSSY_CONFTEST = '''
import pytest

@pytest.fixture(scope="session")
def upgrade_crd_mode():
    return "delete-create"
'''


def run(tmp_path: Path, *args: str, cmd: list[str] | None = None,
        env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], dict[str, dict]]:
    results = tmp_path / "results.json"
    proc = subprocess.run(
        [*(cmd or [sys.executable, "-m", "pytest_openshell.cli"]), "-q", *UPGRADE, f"--openshell-results-json={results}",
         f"--openshell-report={tmp_path / 'report.yaml'}", *args],
        # On a fresh machine the first upgrade run also builds the pinned kubectl (kubernetes-node, ~5 min on 2 cores).
        capture_output=True, text=True, timeout=1800, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p), **(env or {})},
    )
    assert results.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    tests = {t["short_name"]: t for t in json.loads(results.read_text())["tests"]}
    return proc, tests


def test_upgrade_in_place_keeps_the_live_state(tmp_path: Path) -> None:
    check_args, check_env, threads_left = threads_at_exit_check(tmp_path)
    proc, tests = run(tmp_path, *check_args, env=check_env)
    outcomes = {name: tests[name]["outcome"] for name in TESTS}
    assert outcomes == dict.fromkeys(TESTS, "passed"), f"{outcomes}\n{proc.stdout[-4000:]}"
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert all(t["outcome"] == "skipped" for n, t in tests.items() if n not in TESTS), "an upgrade run runs its profile only"
    notes = " ".join(tests["UpgradeKeepsObjects"]["notes"])
    assert "v0.4.6 -> v0.5.6" in notes and "kept with their UIDs" in notes and "errors=0" in notes and "total_failure=0" in notes
    assert "through a warm claim" in " ".join(tests["UpgradeKeepsIdentity"]["notes"])
    assert tests["UpgradeKeepsPods"]["measurements"][0]["name"] == "upgrade_endpoint_gap_ms"
    report = yaml.safe_load((tmp_path / "report.yaml").read_text())
    assert report["agentSandbox"]["version"] == "v0.5.6"
    profile = next(p for p in report["profiles"] if p["name"] == "agent-sandbox-upgrade")
    assert profile["core"]["result"] == "success" and profile["extended"]["result"] == "success", profile
    assert threads_left.read_text() == "", "threads still running when pytest was done"


def test_lossy_upgrade_is_caught(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(LOSSY_CONFTEST)
    (tmp_path / "test_lossy.py").write_text("from conformance.test_agent_sandbox import test_agent_sandbox  # noqa: F401\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    proc, tests = run(tmp_path, "-p", "no:cacheprovider", "test_lossy.py", cmd=[sys.executable, "-m", "pytest"])
    assert proc.returncode == 1, proc.stdout[-3000:]  # failed verdicts, not a usage or harness error
    for name in TESTS:
        assert tests[name]["outcome"] == "failed", (name, tests[name]["outcome"], proc.stdout[-3000:])
    assert "the upgrade lost" in proc.stdout and "delete-create" in " ".join(tests["UpgradeKeepsObjects"]["notes"])
    assert "error" not in {t["outcome"] for t in tests.values()}
