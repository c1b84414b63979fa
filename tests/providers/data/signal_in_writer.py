"""Plugin for tests/providers/test_interruption.py: signal our own process from inside the report writer.

The signal arrives exactly while the outputs are being written, which no outside timing can hit.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from pytest_openshell.report import outputs


def pytest_configure(config: pytest.Config) -> None:
    real = outputs.write_report
    sig = signal.Signals(int(os.environ["SIGNAL_IN_WRITER"]))

    def signalled(path: Path, report: dict[str, Any]) -> Path:
        os.kill(os.getpid(), sig)
        return real(path, report)

    outputs.write_report = signalled  # type: ignore[assignment]
