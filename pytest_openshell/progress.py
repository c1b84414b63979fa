"""Progress lines that reach the terminal even while pytest captures output."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from pytest_openshell.xdist_roles import worker_id

# What every long step reports through (providers, image builds, installs): one line per step.
Progress = Callable[[str], None]


def terminal_progress(config: pytest.Config):  # type: ignore[no-untyped-def]
    capman = config.pluginmanager.getplugin("capturemanager")
    worker = worker_id(config)
    prefix = f"[openshell {worker}] " if worker else "[openshell] "

    def write(message: str) -> None:
        if capman is not None:
            with capman.global_and_fixture_disabled():
                sys.stderr.write(prefix + message + "\n")
                sys.stderr.flush()
        else:
            sys.stderr.write(prefix + message + "\n")

    return write
