"""Collect conformance results from test reports (they arrive from xdist workers too).

Tests put their facts in ``user_properties`` (JSON strings), which pytest-xdist ships back to
the controller with each report; this collector is the one place they are turned into the
result model, from which the JSON file and the terminal summary are written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_openshell.interrupts import signals_deferred
from pytest_openshell.redact import redact
from pytest_openshell.report.outputs import write_outputs
from pytest_openshell.report.summary import render_summary
from pytest_openshell.results.concurrency import Call, load_condition, worker_of
from pytest_openshell.results.model import (
    PROPERTY_ENVIRONMENT,
    PROPERTY_MEASUREMENT,
    PROPERTY_NOTE,
    PROPERTY_PROVISIONAL,
    PROPERTY_RECOMMENDATION,
    PROPERTY_TEST,
    PROPERTY_UNSUPPORTED,
    TestResult,
)


class ResultsCollector:
    def __init__(self, config: pytest.Config, json_path: str | None) -> None:
        self.config = config
        self.json_path = Path(json_path) if json_path else None
        self.results: dict[str, TestResult] = {}
        self._finished: set[str] = set()  # teardown reported; an interrupted test never gets there
        self._calls: list[Call] = []  # of every test, conformance or not: what ran when, on which worker
        self.environment: dict[str, Any] = {}
        self.interrupted = False
        self.held_signal: int | None = None  # arrived while the outputs were written
        self.written: list[Path] = []

    def _result(self, report: pytest.TestReport) -> TestResult | None:
        props = dict((k, v) for k, v in report.user_properties if k == PROPERTY_TEST)
        if PROPERTY_TEST not in props and report.nodeid not in self.results:
            return None
        if report.nodeid not in self.results:
            meta = json.loads(str(props[PROPERTY_TEST]))
            self.results[report.nodeid] = TestResult(report.nodeid, meta["short_name"], meta["profile"], meta["features"])
        return self.results[report.nodeid]

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self._calls.append(Call(report.nodeid, worker_of(report), report.start, report.stop))
        result = self._result(report)
        if result is None:
            return
        result.duration_s += report.duration
        if report.when == "teardown":
            self._finished.add(report.nodeid)
        if report.skipped and result.outcome == "passed":
            result.outcome = "skipped"
            longrepr = report.longrepr
            result.skip_reason = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)
            result.skip_reason = result.skip_reason.removeprefix("Skipped: ")
        elif report.failed:
            result.outcome = "failed" if report.when == "call" else "error"
            # The headline (the assertion or wait that failed) first: a long diagnostic would push it out of the tail.
            crash = getattr(getattr(report.longrepr, "reprcrash", None), "message", "")
            if crash:
                result.notes.append(redact("failure: " + str(crash).splitlines()[0])[:600])
            result.notes.append(redact(str(report.longreprtext))[-2000:])
        for key, value in report.user_properties:
            if report.when != "teardown":
                continue  # the same list rides on every phase's report; read it once
            if key == PROPERTY_MEASUREMENT:
                result.measurements.append(json.loads(str(value)))
            elif key == PROPERTY_NOTE:
                result.notes.append(redact(str(value)))
            elif key == PROPERTY_UNSUPPORTED:
                result.unsupported = json.loads(str(value))
            elif key == PROPERTY_PROVISIONAL:
                result.provisional = json.loads(str(value))
            elif key == PROPERTY_RECOMMENDATION:
                result.recommendations.append(redact(json.loads(str(value))))
            elif key == PROPERTY_ENVIRONMENT:
                # Merged a level deep: one test's view of the gateway (e.g. its contract generation,
                # seen only when a token was issued) is not erased by the next test's.
                for part, facts in json.loads(str(value)).items():
                    if isinstance(facts, dict) and isinstance(self.environment.get(part), dict):
                        self.environment[part] = {**self.environment[part], **facts}
                    else:
                        self.environment[part] = facts

    @pytest.hookimpl
    def pytest_keyboard_interrupt(self) -> None:
        self.interrupted = True

    def finished(self) -> list[TestResult]:
        """Results of tests that ran to the end: one cut short by Ctrl-C has no verdict to report."""
        done = [r for nodeid, r in self.results.items() if nodeid in self._finished]
        workers = len({c.worker for c in self._calls}) or 1
        calls = {c.nodeid: c for c in self._calls}
        for r in done:
            if r.measurements and r.nodeid in calls:
                r.load = load_condition(calls[r.nodeid], self._calls, workers)
        return done

    def as_dict(self) -> dict[str, Any]:
        return {
            "interrupted": self.interrupted,
            "environment": self.environment,
            "tests": [vars(r) for r in self.finished()],
        }

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Last of all (the cluster is already released), and not to be cut short by a signal.
        with signals_deferred() as held:
            if self.json_path is not None:
                self.json_path.parent.mkdir(parents=True, exist_ok=True)
                self.json_path.write_text(json.dumps(redact(self.as_dict()), indent=2))
            if self.results:
                self.written = write_outputs(self.config, self.finished(), self.environment, self.interrupted)
        if held:
            self.held_signal = held[0]
            session.exitstatus = pytest.ExitCode.INTERRUPTED

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.results:
            for line in render_summary(self.finished()):
                terminalreporter.write_line(line)
            for path in self.written:
                terminalreporter.write_line(f"written: {path}")
        if self.held_signal is not None:
            terminalreporter.write_line(f"interrupted (signal {self.held_signal}) while writing the outputs: they are complete")
