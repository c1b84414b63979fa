"""The pytest11 entry point: options and fixtures; hooks stay thin."""

from __future__ import annotations

import signal

import pytest

from pytest_openshell.fixtures import agent_sandbox, cluster, k8s_api, namespace, namespace_factory
from pytest_openshell.options import add_options

__all__ = ["agent_sandbox", "cluster", "k8s_api", "namespace", "namespace_factory"]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def _sigterm_as_interrupt(signum: int, frame: object) -> None:
    # SIGTERM (CI cancel, timeout) must clean up exactly like Ctrl-C does.
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
