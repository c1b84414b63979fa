"""A disposable cluster's components are killed at once, not stopped one graceful shutdown after another."""

from __future__ import annotations

import time
from pathlib import Path

from pytest_openshell.embedded.boot import Booted
from pytest_openshell.embedded.process import Component


def test_components_are_killed_at_once(tmp_path: Path) -> None:
    booted = Booted()
    for i in range(3):
        # Each ignores SIGTERM and has a child: a graceful stop would wait out its grace period.
        comp = Component(f"c{i}", ["sh", "-c", "trap '' TERM; sleep 30 & wait"], tmp_path)
        comp.start()
        booted.components.append(comp)
    t0 = time.monotonic()
    booted.stop()
    assert time.monotonic() - t0 < 2.0
    assert not any(c.alive() for c in booted.components)
