"""The recorded calibration against upstream OpenShell (conformance/expectations-openshell.yaml) is
well formed: every run names the upstream commit and its mode, covers every OpenShell test, and
every failure names its kind and evidence. No recorded failure may be the harness's own doing."""

from __future__ import annotations

from pathlib import Path

import yaml

import conformance
from conformance.openshell import TESTS

RECORD = yaml.safe_load((Path(conformance.__file__).parent / "expectations-openshell.yaml").read_text())
# Why an upstream implementation may fail a test and the verdict still stand: none of them is "the harness".
FAILURE_KINDS = {"upstream-nonconformance", "provisional", "recommendation"}
VERDICTS = {"passed", "failed", "skipped"}


def test_the_record_names_the_upstream_revision() -> None:
    upstream = RECORD["upstream"]
    assert upstream["repository"] == "NVIDIA/OpenShell"
    assert len(upstream["commit"]) == 40 and int(upstream["commit"], 16) >= 0
    assert RECORD["runs"], "no calibration run recorded"


def test_every_run_covers_every_openshell_test_with_a_known_verdict() -> None:
    names = {t.short_name for t in TESTS}
    for run in RECORD["runs"]:
        for key in ("id", "driver", "gateway", "workspace_mode", "transport", "cluster", "command"):
            assert run.get(key), f"run {run.get('id')}: {key} missing"
        assert run["workspace_mode"] in ("shared", "operator", "managed"), run["id"]
        verdicts = run["verdicts"]
        assert set(verdicts) == names, f"run {run['id']}: missing {sorted(names - set(verdicts))}, unknown {sorted(set(verdicts) - names)}"
        for name, verdict in verdicts.items():
            outcome = verdict if isinstance(verdict, str) else verdict["verdict"]
            assert outcome in VERDICTS, f"{run['id']}/{name}: {outcome}"


def test_every_recorded_failure_names_its_kind_and_evidence() -> None:
    recommended = set(yaml.safe_load((Path(conformance.__file__).parent / "features.yaml").read_text())["recommendations"])
    by_name = {t.short_name: t for t in TESTS}
    for run in RECORD["runs"]:
        for name, verdict in run["verdicts"].items():
            if verdict == "passed":
                continue
            assert isinstance(verdict, dict), f"{run['id']}/{name}: a {verdict} verdict needs its reason"
            assert verdict.get("reason"), f"{run['id']}/{name}: no reason"
            if verdict["verdict"] != "failed":
                continue
            assert verdict.get("kind") in FAILURE_KINDS, f"{run['id']}/{name}: kind {verdict.get('kind')!r}"
            assert verdict.get("evidence"), f"{run['id']}/{name}: a failure needs its evidence"
            features = set(by_name[name].features)
            if verdict["kind"] == "recommendation":
                assert features & recommended, f"{run['id']}/{name} is no recommendation test"
            if verdict["kind"] == "provisional":
                from pytest_openshell.suite.features import load_catalogue

                assert load_catalogue().provisional_features(by_name[name].features), f"{run['id']}/{name} is not provisional"


def test_the_upstream_findings_are_recorded_as_such() -> None:
    findings = {f["id"]: f for f in RECORD["findings"]}
    stop = findings["stop-start-conflict"]
    assert stop["kind"] == "upstream-nonconformance" and "ALREADY_EXISTS" in stop["evidence"]
    assert all(f.get("tests") and f.get("evidence") and f.get("kind") in FAILURE_KINDS for f in findings.values())
