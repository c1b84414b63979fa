"""The allure report reads like the suites: rendered by the allure CLI, its behaviors tree is
profile > feature > test, no result carries a record's repr, and history carries between runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_openshell.report.allure_results import describe, spec_links
from pytest_openshell.suite.features import load_catalogue
from pytest_openshell.suite.record import ConformanceTest

ALLURE_VERSION = "2.46.1"  # npm allure-commandline (Allure 2, runs on the machine's Java 17)
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pytest-openshell" / "v1" / "allure" / ALLURE_VERSION
# One test per kind: core (runs), extended recommendation (runs), provisional (skipped unclaimed), another profile.
SELECTED = "DriverCapabilities or DriverValidateStrict or DriverWarmPath or SandboxReady"
REPO = Path(__file__).resolve().parents[2]


def record(name: str, profile: str, *features: str) -> ConformanceTest:
    return ConformanceTest(name, f"what {name} checks", profile, features, lambda ctx: None)


def test_describe_core_extended_provisional_recommendation() -> None:
    catalogue, links = load_catalogue(), spec_links()
    core = describe(record("A", "compute-driver", "DriverCore"), catalogue, links)
    assert (core.severity, dict(core.labels)["epic"], dict(core.labels)["feature"]) == ("critical", "compute-driver", "DriverCore")
    assert any("compute_driver.proto" in url for _, url in core.links)
    assert "Core feature DriverCore of profile compute-driver" in core.description
    strict = describe(record("B", "compute-driver", "DriverCore", "DriverStrictValidation"), catalogue, links)
    assert ("tag", "recommendation") in strict.labels and strict.severity == "critical"
    assert {v for k, v in strict.labels if k == "feature"} == {"DriverCore", "DriverStrictValidation"}
    warm = describe(record("C", "compute-driver", "DriverCore", "DriverWarmPath"), catalogue, links)
    assert ("tag", "provisional") in warm.labels and warm.severity == "minor", "a provisional test is never a core failure"
    assert "warm-pooled sandboxes" in warm.description
    extended = describe(record("D", "agent-sandbox-core", "SandboxSuspend"), catalogue, links)
    assert extended.severity == "minor" and ("tag", "provisional") not in extended.labels


@pytest.fixture(scope="session")
def allure_cli() -> Path:
    """The allure CLI from npm, installed once into the user cache (never into the repo)."""
    binary = CACHE / "node_modules" / ".bin" / "allure"
    if binary.exists():
        return binary
    npm, java = shutil.which("npm"), shutil.which("java")
    if npm is None or java is None:
        missing = "npm" if npm is None else "java (17+)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs {missing} to render the allure report (install nodejs/npm and a JRE)")
        pytest.skip(f"{missing} not installed: cannot install allure-commandline@{ALLURE_VERSION}")
    done = subprocess.run([npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", f"allure-commandline@{ALLURE_VERSION}"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and binary.exists(), f"npm install allure-commandline@{ALLURE_VERSION} failed:\n{done.stderr[-3000:]}"
    return binary


def conformance_run(results: Path, tmp: Path) -> None:
    args = [sys.executable, "-m", "pytest_openshell.cli", f"--alluredir={results}", "--clean-alluredir",
            "--openshell-profile=compute-driver", "--openshell-profile=agent-sandbox-core", "-k", SELECTED,
            f"--openshell-report={tmp / 'report.yaml'}", "-p", "no:cacheprovider", "-q"]
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, f"conformance run failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"


def generate(allure: Path, results: Path, report: Path) -> None:
    done = subprocess.run([str(allure), "generate", str(results), "-o", str(report), "--clean"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"allure generate failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


def results_of(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(directory.glob("*-result.json"))]


def tree(node: dict[str, Any]) -> dict[str, Any]:
    """behaviors.json as nested names: epic -> feature -> story -> [leaf titles]."""
    children = node.get("children")
    if children is None:
        return {}
    if all("children" not in c for c in children):
        return {c["name"]: c["status"] for c in children}
    return {c["name"]: tree(c) for c in children}


@pytest.mark.cluster
def test_rendered_report_groups_by_profile_and_feature_and_keeps_history(allure_cli: Path, tmp_path: Path) -> None:
    results, report = tmp_path / "allure-results", tmp_path / "allure-report"
    conformance_run(results, tmp_path)
    first = {r["name"]: r for r in results_of(results)}
    generate(allure_cli, results, report)

    behaviors = tree(json.loads((report / "data" / "behaviors.json").read_text()))
    assert set(behaviors) == {"compute-driver", "agent-sandbox-core"}, behaviors
    assert set(behaviors["compute-driver"]) == {"DriverCore", "DriverStrictValidation", "DriverWarmPath"}, behaviors
    assert "DriverCapabilities" in behaviors["compute-driver"]["DriverCore"]
    assert "DriverValidateStrict" in behaviors["compute-driver"]["DriverStrictValidation"], "a test sits under each of its features"
    assert set(behaviors["agent-sandbox-core"]) == {"SandboxCore"}
    suites = tree(json.loads((report / "data" / "suites.json").read_text()))
    assert set(suites) == {"compute-driver", "agent-sandbox-core"}, f"suites follow profiles, not pytest modules: {suites}"

    assert len({r["fullName"] for r in first.values()}) == len(first), "each test has its own full name"
    for path in results.iterdir():
        assert "ConformanceTest(" not in path.read_text(), f"{path.name} carries a record's repr"
    capabilities = first["DriverCapabilities: GetCapabilities and listener requirements answer"]
    params = {p["name"]: p["value"] for p in capabilities["parameters"]}
    assert params["test"] == "DriverCapabilities" and params["lane"].startswith("agent-sandbox v"), params
    assert capabilities["description"].startswith("GetCapabilities and listener requirements answer")
    assert any(link["url"].endswith("compute_driver.proto") for link in capabilities["links"])
    labels = {(label["name"], label["value"]) for label in capabilities["labels"]}
    assert {("severity", "critical"), ("epic", "compute-driver"), ("story", "DriverCapabilities")} <= labels
    warm = next(r for r in first.values() if r["name"].startswith("DriverWarmPath:"))
    assert warm["status"] == "skipped" and {"name": "tag", "value": "provisional"} in warm["labels"]

    # The user keeps history: copy the report's history/ into the next run's results (after the
    # run, which cleans the results dir), then generate again.
    conformance_run(results, tmp_path)
    second = {r["name"]: r for r in results_of(results)}
    assert {n: r["historyId"] for n, r in first.items()} == {n: r["historyId"] for n, r in second.items()}, \
        "historyId must be the same for the same test and lane in every run"
    shutil.copytree(report / "history", results / "history")
    generate(allure_cli, results, report)
    trend = json.loads((report / "history" / "history-trend.json").read_text())
    assert len(trend) == 2, f"the trend shows both runs: {trend}"
    case = next(c for path in (report / "data" / "test-cases").glob("*.json")
                if (c := json.loads(path.read_text()))["name"] == capabilities["name"])
    history = case["extra"].get("history") or {}
    assert history.get("statistic", {}).get("total") == 2 and len(history["items"]) == 1, \
        f"the test's own history holds the earlier run: {history}"
