"""Fixtures of the provider tests: inner harness runs and the default lane's binaries."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from pytest_openshell.providers.embedded import CONTROL_PLANE
from pytest_openshell.toolchain import Resolver, load_pins
from tests.providers.lifecycle import Inner, InnerRun, inner_env


@pytest.fixture
def inner(tmp_path: Path) -> Iterator[Inner]:
    """Start an inner run: ``inner(*args, env=None, name="run", command=None)``; stopped at teardown."""
    runs: list[InnerRun] = []

    def start(*args: str, env: Mapping[str, str] | None = None, name: str = "run", command: list[str] | None = None) -> InnerRun:
        run = InnerRun(tmp_path / name, args, inner_env() if env is None else env, command)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop()


@pytest.fixture(scope="module")
def binaries() -> dict[str, Path]:
    """The default lane's binaries resolved as the plugin resolves them (built first if not cached), so
    inner runs only boot."""
    pins = load_pins()
    resolver = Resolver()
    found = {name: resolver.resolve(pins.binary(name)).path for name in CONTROL_PLANE}
    controller = pins.lane(None).module.binaries["agent-sandbox-controller"]
    found["agent-sandbox-controller"] = resolver.resolve(controller).path
    return found
