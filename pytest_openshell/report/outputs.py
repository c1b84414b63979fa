"""Write the session's outputs from the result model: the conformance report and allure metadata."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_openshell.options import csv, get, implementation, openshell_options
from pytest_openshell.redact import redact
from pytest_openshell.report.allure_support import alluredir, write_environment
from pytest_openshell.report.model import ReportInputs, build_report
from pytest_openshell.results.model import TestResult
from pytest_openshell.suite import load_catalogue


def write_report(path: Path, report: dict[str, Any]) -> Path:
    """Write atomically: a reader (or a concurrent run writing the same path) never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = redact(report)
    text = json.dumps(clean, indent=2) + "\n" if path.suffix == ".json" else yaml.safe_dump(clean, sort_keys=False)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        tmp.chmod(0o644)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_outputs(config: pytest.Config, results: list[TestResult], environment: dict[str, Any], interrupted: bool) -> list[Path]:
    written = []
    report = build_report(ReportInputs(
        results=results,
        catalogue=load_catalogue(),
        environment=environment,
        implementation=implementation(config),
        claimed_features=csv(config, "openshell_features") or None,
        selected_profiles=csv(config, "openshell_profiles"),
        command=[Path(sys.argv[0]).name, *sys.argv[1:]],
        options=openshell_options(config),
        interrupted=interrupted,
    ))
    target = get(config, "openshell_report")
    if target:
        path = Path(target)
        if not path.is_absolute():
            path = Path(config.invocation_params.dir) / path
        written.append(write_report(path, report))
    allure = alluredir(config)
    if allure is not None:
        write_environment(allure, environment)
        written.append(allure)
    return written
