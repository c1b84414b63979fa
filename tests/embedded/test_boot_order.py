"""The boot starts controller-manager before the apiserver is healthy; these check what that needs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pytest_openshell.embedded.boot import _ControllerManager
from pytest_openshell.embedded.process import Component
from pytest_openshell.errors import ComponentError


def _exited(comp: Component) -> Component:
    assert comp.proc is not None
    comp.proc.wait(10)
    return comp


def _script(tmp_path: Path, first_run: str) -> list[str]:
    # First run: what controller-manager does when the apiserver stays unhealthy; later runs stay up.
    marker = tmp_path / "ran-once"
    return ["sh", "-c", f'if [ -e {marker} ]; then exec sleep 30; fi; touch {marker}; {first_run}']


def test_controller_manager_that_gave_up_on_the_apiserver_is_started_once_more(tmp_path: Path) -> None:
    comp = Component("kube-controller-manager", _script(tmp_path, 'echo "E1202 failed to wait for apiserver being healthy"; exit 1'),
                     tmp_path)
    comp.start()
    first = _exited(comp).pid
    said: list[str] = []
    kcm = _ControllerManager(comp, said.append)
    try:
        kcm.check_alive()
        assert comp.alive() and comp.pid != first
        assert said and "started again" in said[0]
        kcm.check_alive()  # no second restart for a live one
        assert len(said) == 1
    finally:
        comp.kill()
        comp.reap()
    log = comp.log_file.read_text()
    assert log.count("$ sh -c") == 2 and "failed to wait for apiserver being healthy" in log


def test_controller_manager_that_failed_otherwise_fails_the_boot(tmp_path: Path) -> None:
    comp = Component("kube-controller-manager", _script(tmp_path, "echo bad flag; exit 1"), tmp_path)
    comp.start()
    _exited(comp)
    with pytest.raises(ComponentError, match="kube-controller-manager exited with code 1"):
        _ControllerManager(comp, lambda _m: None).check_alive()


def test_components_are_killed_at_once(tmp_path: Path) -> None:
    from pytest_openshell.embedded.boot import Booted

    booted = Booted()
    for i in range(3):
        # Ignores SIGTERM: a graceful stop would wait out its grace period.
        comp = Component(f"c{i}", ["sh", "-c", "trap '' TERM; sleep 30 & wait"], tmp_path)
        comp.start()
        booted.components.append(comp)
    t0 = time.monotonic()
    booted.stop()
    assert time.monotonic() - t0 < 2.0
    assert not any(c.alive() for c in booted.components)
