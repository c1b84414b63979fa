"""allure-pytest integration: steps, failure attachments, environment and categories.

Everything here is optional: without allure-pytest installed or without --alluredir the
functions do nothing. Every attachment passes through the one redaction function.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_openshell.redact import redact, redact_text
from pytest_openshell.report.svg import histogram_svg

LOG_TAIL_BYTES = 20_000

# Allure puts assertion failures under "failed" and other exceptions under "broken".
CATEGORIES = [
    {"name": "Infrastructure timeout", "messageRegex": r"(?s).*timed out after .*", "matchedStatuses": ["failed", "broken"]},
    {"name": "Harness error", "messageRegex": r"(?s).*(HarnessError|pytest-openshell:|INTERNALERROR).*", "matchedStatuses": ["broken"]},
    {"name": "Non-conformance", "matchedStatuses": ["failed"]},
    {"name": "Harness error (unexpected exception)", "matchedStatuses": ["broken"]},
]


def alluredir(config: pytest.Config) -> Path | None:
    value = config.getoption("allure_report_dir", default=None)
    return Path(value) if value else None


def _allure() -> Any:
    try:
        import allure
    except ImportError:  # allure-pytest is optional
        return None
    return allure


def step_hook(config: pytest.Config) -> Any:
    allure = _allure()
    if allure is None or alluredir(config) is None:
        return None

    @contextlib.contextmanager
    def step(title: str) -> Iterator[None]:
        with allure.step(title):
            yield

    return step


class AllureEvidence:
    """The suites' evidence (suite/context.py's Evidence) as allure attachments, redacted."""

    def text(self, name: str, text: str, kind: str = "text") -> None:
        attach_text(name, text, kind)

    def histogram(self, name: str, samples_ms: list[float], budget_ms: float | None) -> None:
        attach_svg(f"histogram: {name}", histogram_svg(name, samples_ms, budget_ms))

    def log_tails(self, logs: dict[str, str]) -> None:
        attach_log_tails(logs)


def allure_evidence(config: pytest.Config) -> AllureEvidence | None:
    """The evidence writer when allure results are being written, else None (nothing is made)."""
    return AllureEvidence() if _allure() is not None and alluredir(config) is not None else None


def attach_text(name: str, text: str, kind: str = "text") -> None:
    allure = _allure()
    if allure is None:
        return
    types = {"text": allure.attachment_type.TEXT, "yaml": allure.attachment_type.YAML, "json": allure.attachment_type.JSON}
    allure.attach(redact_text(text), name=name, attachment_type=types[kind])


def attach_svg(name: str, svg: str) -> None:
    allure = _allure()
    if allure is not None:
        allure.attach(svg, name=name, attachment_type=allure.attachment_type.SVG)


def attach_log_tails(logs: dict[str, str]) -> None:
    for component, path in logs.items():
        try:
            with open(path, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - LOG_TAIL_BYTES))
                tail = f.read().decode(errors="replace")
        except OSError:
            continue
        attach_text(f"log tail: {component}", tail)


def write_environment(directory: Path, environment: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    flat: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            flat[prefix] = json.dumps(value) if isinstance(value, list) else str(value)

    walk("", redact(environment))
    lines = [f"{k.replace(' ', '_')}={v}" for k, v in sorted(flat.items())]
    (directory / "environment.properties").write_text("\n".join(lines) + "\n")
    (directory / "categories.json").write_text(json.dumps(CATEGORIES, indent=2))
