"""The kind reaper's wait: it wakes on the watched process's exit, whoever ends it, and not before."""

from __future__ import annotations

import subprocess
import sys
import threading

from pytest_openshell.providers.reaper import wait_for_exit


def test_wait_for_exit_wakes_when_the_process_exits() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    assert child.stdin is not None
    woke = threading.Event()
    waiter = threading.Thread(target=lambda: (wait_for_exit(child.pid), woke.set()), daemon=True)
    waiter.start()
    try:
        assert not woke.wait(0.5), "woke while the process was still running"
    finally:
        child.stdin.close()  # the child reads to EOF and exits
        child.wait(10)
    assert woke.wait(10), "still waiting 10 s after the process exited"
    waiter.join(1)


def test_wait_for_exit_of_a_gone_process_returns_at_once() -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    waiter = threading.Thread(target=wait_for_exit, args=(child.pid,), daemon=True)
    waiter.start()
    waiter.join(5)
    assert not waiter.is_alive(), "blocked on a pid that no longer exists"
