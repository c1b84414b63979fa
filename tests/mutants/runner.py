"""Run the OpenShell suites against reference servers started with faults (mutants).

Faults reach the references only through the ``reference_faults`` fixture; this runner overrides
it in a throwaway conftest next to a module that re-exports the shipped suite's test function.
Shared by the self-test (tests/mutants) and ``bench/mutants.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pytest_openshell.reference.faults import FAULTS

CONFTEST = '''
import pytest

@pytest.fixture(scope="session")
def reference_faults():
    return frozenset({faults!r})
'''
TEST_MODULE = "from conformance.test_openshell import test_openshell  # noqa: F401\n"


def profile_for(fault: str) -> str:
    """Driver-only faults are for the contract suite; identity faults for the identity suite."""
    return "compute-driver" if FAULTS[fault].components == frozenset({"driver"}) else "gateway-identity"


def run_suite(workdir: Path, faults: frozenset[str], profiles: tuple[str, ...], extra: tuple[str, ...] = ()) -> dict[str, str]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "conftest.py").write_text(CONFTEST.format(faults=sorted(faults)))
    (workdir / "test_mutant.py").write_text(TEST_MODULE)
    (workdir / "pytest.ini").write_text("[pytest]\n")
    results = workdir / "results.json"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mutant.py", f"--openshell-results-json={results}",
           f"--openshell-report={workdir / 'report.yaml'}", *(f"--openshell-profile={p}" for p in profiles),
           # The reference implements the provisional warm-pooled sandboxes RFC warm path; its mutants are caught there.
           "--openshell-provisional", *extra]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=1200)
    outcomes = {t["short_name"]: t["outcome"] for t in json.loads(results.read_text())["tests"]} if results.exists() else {}
    if not outcomes:
        raise RuntimeError(f"the suite ran no conformance test:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return outcomes
