"""Helpers for tests that run the harness as a subprocess and check what it left behind.

An "inner run" is a real ``python -m pytest`` on data/inner_cluster.py in a tmp dir (isolated from this
repo's config), which boots a real embedded cluster; afterwards the outer test looks for processes
(found by scanning /proc), the run dir and the run dir's lock file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
import pytest
import yaml

from pytest_openshell.errors import WaitTimeout
from pytest_openshell.providers.embedded import CONTROL_PLANE
from pytest_openshell.toolchain.cache import cache_root

DATA = Path(__file__).parent / "data"
SUPERVISOR_MODULE = "pytest_openshell.embedded.supervisor"
COMPONENTS = (*CONTROL_PLANE, "agent-sandbox-controller")
READY_TIMEOUT_S = 120.0  # an inner test gets its cluster (boot is ~5 s with cached binaries)
RUN_TIMEOUT_S = 180.0  # a whole inner run
EXIT_TIMEOUT_S = 60.0  # an interrupted inner run finishing its teardown (namespace deletion included)
TEARDOWN_TIMEOUT_S = 30.0  # a supervisor noticing its last client is gone, or a signal, and stopping everything
POLL_S = 0.05
T = TypeVar("T")
Seen = Iterable[tuple[int, int | None]]  # (pid, start time) of processes that belonged to a cluster


def wait_for(what: str, condition: Callable[[], T], timeout: float, diagnostic: Callable[[], str] = lambda: "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WaitTimeout(what, timeout, diagnostic())
        time.sleep(POLL_S)


# -- processes -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    start: int  # clock ticks after boot: a later process reusing the pid has another
    argv: tuple[str, ...]

    @property
    def role(self) -> str:
        if SUPERVISOR_MODULE in self.argv:
            return "supervisor"
        return Path(self.argv[0]).name if self.argv else "?"

    def __str__(self) -> str:
        return f"pid {self.pid}: {' '.join(self.argv)[:300]}"


def _stat(pid: int | str) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def start_time(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def running(pid: int, start: int | None) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z" and int(fields[19]) == start


def scan_processes() -> dict[int, Proc]:
    """Every live process (zombies have exited: they only wait to be reaped)."""
    procs = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat(entry.name)
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                raw = f.read()
        except OSError:
            continue  # exited while we looked
        if fields is None or fields[0] == "Z":
            continue
        argv = tuple(a.decode(errors="replace") for a in raw.split(b"\0") if a)
        procs[int(entry.name)] = Proc(int(entry.name), int(fields[1]), int(fields[19]), argv)
    return procs


def cluster_processes(run_dir: Path, procs: Mapping[int, Proc] | None = None) -> dict[int, Proc]:
    """The live processes of the cluster in ``run_dir``: every process naming it on its command line
    (the supervisor and each component do) and all their descendants."""
    procs = scan_processes() if procs is None else procs
    names_it = re.compile(rf"(?<![\w.-]){re.escape(str(run_dir))}(?![\w.-])")
    found = {pid for pid, p in procs.items() if any(names_it.search(arg) for arg in p.argv)}
    children: dict[int, list[int]] = defaultdict(list)
    for p in procs.values():
        children[p.ppid].append(p.pid)
    todo = list(found)
    while todo:
        for child in children[todo.pop()]:
            if child not in found:
                found.add(child)
                todo.append(child)
    return {pid: procs[pid] for pid in sorted(found)}


def left_behind(run_dir: Path, seen: Seen = ()) -> list[str]:
    """What the cluster in ``run_dir`` left behind; empty when it is all gone.

    Processes are those naming the run dir now, plus those ``seen`` earlier (components run from the
    binary cache count even if they no longer name it); then the run dir and its lock file.
    """
    procs = scan_processes()
    left = cluster_processes(run_dir, procs)
    for pid, start in seen:
        p = procs.get(pid)
        if p is not None and p.start == start:
            left[pid] = p
    found = [f"process {p}" for _, p in sorted(left.items())]
    found += [f"path {path}" for path in (run_dir, Path(f"{run_dir}.lock")) if path.exists()]
    return found


def assert_all_roles(procs: Iterable[Proc]) -> None:
    roles = {p.role for p in procs}
    missing = {"supervisor", *COMPONENTS} - roles
    assert not missing, f"the scan did not find {sorted(missing)} among: {sorted(roles)}"


# -- inner pytest runs -----------------------------------------------------------------------------
def inner_env(**extra: str) -> dict[str, str]:
    """Our environment minus this pytest run's own settings (addopts, xdist worker, current test)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(extra)
    return env


def _as_from_a_terminal() -> None:
    # Background jobs of a non-interactive shell ignore SIGINT and children inherit that; a user's
    # Ctrl-C reaches a pytest that has the default handling.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class InnerRun:
    """``python -m pytest`` on the inner tests in ``root`` (or ``command``, there); output (both streams) goes to a file."""

    def __init__(self, root: Path, args: Iterable[str], env: Mapping[str, str], command: list[str] | None = None) -> None:
        root.mkdir(parents=True)
        shutil.copy(DATA / "inner_cluster.py", root / "test_inner.py")
        (root / "pytest.ini").write_text("[pytest]\n")
        self.root = root
        self.out_dir = root / "out"
        self.out_dir.mkdir()
        self.log = root / "output.txt"
        argv = command or [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--rootdir={root}", "-c", str(root / "pytest.ini")]
        argv = [*argv, *args]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                argv, cwd=root, env={**env, "LIFECYCLE_OUT": str(self.out_dir)},
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_as_from_a_terminal,
            )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise WaitTimeout("the inner pytest run to exit", timeout, self.output) from None

    def await_output(self, text: str, timeout: float) -> None:
        wait_for(f"{text!r} in the run's output", lambda: text in self.output or self.proc.poll() is not None, timeout,
                 lambda: self.output)
        if text not in self.output:
            pytest.fail(f"the run exited with {self.proc.returncode} before printing {text!r}:\n{self.output}")

    def records(self) -> dict[str, dict[str, Any]]:
        return {p.stem: json.loads(p.read_text()) for p in sorted(self.out_dir.glob("*.json"))}

    def await_record(self, name: str, timeout: float) -> dict[str, Any]:
        path = self.out_dir / f"{name}.json"
        wait_for(f"the inner test to write {path.name}", lambda: path.exists() or self.proc.poll() is not None, timeout,
                 lambda: self.output)
        if not path.exists():
            pytest.fail(f"the inner run exited with {self.proc.returncode} before writing {path.name}:\n{self.output}")
        return dict(json.loads(path.read_text()))

    def stop(self) -> None:
        """Whatever the test did, stop the run: SIGTERM cleans up as Ctrl-C does; SIGKILL if that hangs."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


Inner = Callable[..., InnerRun]


def explicit(binaries: Mapping[str, Path]) -> list[str]:
    return [f"--openshell-binary={name}={path}" for name, path in binaries.items()]


def one_line(output: str, text: str) -> str:
    lines = [line for line in output.splitlines() if text in line]
    assert len(lines) == 1, f"expected one line with {text!r}, got {len(lines)}:\n{output}"
    return lines[0]


def booted_run_dir(output: str) -> Path:
    match = re.search(r"booting embedded cluster \(agent-sandbox \S+\) in (\S+)", output)
    assert match, f"no boot progress line in:\n{output}"
    return Path(match[1])


def named_log(error: str) -> Path:
    match = re.search(r"see its log: (\S+\.log)", error)
    assert match, f"no log file named in: {error}"
    return Path(match[1])


def stop_kept(name: str) -> dict[Path, list[tuple[int, int | None]]]:
    """Stop the kept clusters called ``name`` as a user would: SIGTERM to the supervisor in state.json."""
    return {run_dir: _stop_supervisor(run_dir) for run_dir in sorted((cache_root() / "clusters").glob(f"{name}-*"))
            if (run_dir / "state.json").is_file()}


def _stop_supervisor(run_dir: Path) -> list[tuple[int, int | None]]:
    state = json.loads((run_dir / "state.json").read_text())
    pids = [int(state["supervisor_pid"]), *map(int, state["pids"].values())]
    seen = [(pid, start_time(pid)) for pid in pids]
    supervisor, start = seen[0]
    try:
        os.kill(supervisor, signal.SIGTERM)
    except ProcessLookupError:
        pass
    wait_for(f"the supervisor {supervisor} of kept cluster {run_dir.name} to exit", lambda: not running(supervisor, start),
             TEARDOWN_TIMEOUT_S, lambda: "\n".join(left_behind(run_dir, seen)))
    return seen


# -- conformance runs as a user starts them, and their reports -------------------------------------
CONFORMANCE = [sys.executable, "-m", "pytest_openshell.cli", "-v", "-p", "no:cacheprovider"]
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "reports" / "conformance-report.schema.json").read_text())


def report_of(run: InnerRun) -> dict[str, Any]:
    path = run.root / "r.yaml"
    assert path.is_file(), f"no report written:\n{run.output}"
    report = yaml.safe_load(path.read_text())
    jsonschema.validate(report, SCHEMA)
    assert not list(run.root.glob(".r.yaml.*")), "a temporary report file was left behind"
    return dict(report)


def verdict_counts(report: dict[str, Any]) -> dict[str, int]:
    """passed/failed/skipped over every profile and conformance level of the report."""
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    for profile in report["profiles"]:
        for level in ("core", "extended"):
            for key, n in (profile.get(level) or {}).get("statistics", {}).items():
                totals[key] += n
    return totals
