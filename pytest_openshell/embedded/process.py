"""Supervised host processes: logs to a file, die with their parent, fail with a named log."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pytest_openshell.errors import ComponentError

_PR_SET_PDEATHSIG = 1
POLL_S = 0.05


def _die_with_parent() -> None:
    # If the supervisor is killed outright, the kernel takes its components down with it.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Stopped(Exception):
    """A stop was asked for (by a signal); raised at the next point where that is safe."""


_stop_asked: list[str] = []


def ask_stop(reason: str) -> None:
    """For a signal handler: raising from one could cut any library call in half (seen: inside
    logging's module lock, which then hung the teardown), so it only records the request."""
    _stop_asked.append(reason)


def stop_point() -> None:
    if _stop_asked:
        raise Stopped(_stop_asked[0])


class Component:
    """One running binary. ``ready`` is polled until it returns True or the deadline passes."""

    def __init__(self, name: str, argv: Sequence[str], log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_file = log_dir / f"{name}.log"
        self._env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_file, "ab") as log:
            log.write(("$ " + " ".join(self.argv) + "\n").encode())
            log.flush()
            try:
                self.proc = subprocess.Popen(
                    self.argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self._env,
                    preexec_fn=_die_with_parent,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ComponentError(self.name, f"could not be started: {exc}", str(self.log_file)) from exc

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise ComponentError(self.name, f"exited with code {self.proc.returncode}{self._why()}", str(self.log_file))

    def wait_ready(self, ready: Callable[[], bool], timeout: float, what: str = "ready") -> None:
        deadline = time.monotonic() + timeout
        while True:
            stop_point()
            self.check_alive()
            if ready():
                return
            if time.monotonic() > deadline:
                raise ComponentError(self.name, f"did not become {what} within {timeout:.0f}s{self._why()}", str(self.log_file))
            time.sleep(POLL_S)

    def _why(self) -> str:
        try:
            tail = self.log_file.read_text(errors="replace")[-8000:]
        except OSError:
            return ""
        if "address already in use" in tail:
            return " (a port it needs is already in use)"
        return ""

    def kill(self) -> None:
        """SIGKILL its process group (it and anything it started); :meth:`reap` collects it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def reap(self, timeout: float = 10.0) -> None:
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass  # stuck in the kernel: nothing more a signal can do

    def stop(self, grace: float = 5.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
