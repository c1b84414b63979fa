"""The run-dir client registry every provider shares (pytest_openshell/rundirs.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pytest_openshell.rundirs import deregister, live_clients, pid_alive, register


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_last_live_client_is_told_it_is_last(tmp_path: Path) -> None:
    register(tmp_path, shared_by_workers=False)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "clients" / str(other.pid)).touch()
        assert sorted(live_clients(tmp_path)) == sorted([os.getpid(), other.pid])
        assert deregister(tmp_path, os.getpid()) is False, "another client is alive"
    finally:
        other.kill()
        other.wait()
    assert deregister(tmp_path, 12345678) is True, "the other client died: nobody is left"


def test_dead_clients_are_pruned_and_workers_register_their_controller(tmp_path: Path) -> None:
    dead = _dead_pid()
    assert not pid_alive(dead)
    register(tmp_path, shared_by_workers=True)
    (tmp_path / "clients" / str(dead)).touch()
    assert sorted(live_clients(tmp_path)) == sorted({os.getpid(), os.getppid()})
    assert not (tmp_path / "clients" / str(dead)).exists()
