"""The embedded cluster's lifecycle seen from outside: cleanup, bad input and pytest-xdist sharing.

Every test runs a real ``python -m pytest`` on data/inner_cluster.py in a tmp dir (isolated from this
repo's config), which boots a real embedded cluster, and then checks what that run left behind:
processes (found by scanning /proc), the run dir and the run dir's lock file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pytest_openshell.errors import WaitTimeout
from pytest_openshell.providers.embedded import CONTROL_PLANE, runs_base
from pytest_openshell.toolchain import Resolver, load_pins
from pytest_openshell.toolchain.cache import CACHE_LAYOUT_VERSION, cache_root

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
    """``python -m pytest`` on the inner tests in ``root``; output (both streams) goes to a file."""

    def __init__(self, root: Path, args: Iterable[str], env: Mapping[str, str]) -> None:
        root.mkdir(parents=True)
        shutil.copy(DATA / "inner_cluster.py", root / "test_inner.py")
        (root / "pytest.ini").write_text("[pytest]\n")
        self.out_dir = root / "out"
        self.out_dir.mkdir()
        self.log = root / "output.txt"
        argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--rootdir={root}", "-c", str(root / "pytest.ini"), *args]
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


@pytest.fixture
def inner(tmp_path: Path) -> Iterator[Inner]:
    """Start an inner run: ``inner(*pytest_args, env=None, name="run")``; stopped at teardown."""
    runs: list[InnerRun] = []

    def start(*args: str, env: Mapping[str, str] | None = None, name: str = "run") -> InnerRun:
        run = InnerRun(tmp_path / name, args, inner_env() if env is None else env)
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


# -- cleanup ----------------------------------------------------------------------------------------
def _blocked_cluster(inner: Inner) -> tuple[InnerRun, Path, list[tuple[int, int | None]]]:
    """An inner run blocked inside a test that holds the cluster and a namespace, and what it runs."""
    run = inner("test_inner.py::test_block")
    record = run.await_record("block", READY_TIMEOUT_S)
    run_dir = Path(record["run_dir"])
    assert run_dir.parent == runs_base()
    procs = cluster_processes(run_dir)
    assert_all_roles(procs.values())
    seen = [(p.pid, p.start) for p in procs.values()] + [(pid, start) for pid, start in record["processes"].values()]
    return run, run_dir, seen


@pytest.mark.cluster
def test_sigint_mid_test_stops_everything(inner: Inner, binaries: dict[str, Path]) -> None:
    run, run_dir, seen = _blocked_cluster(inner)
    run.proc.send_signal(signal.SIGINT)
    assert run.wait(EXIT_TIMEOUT_S) == pytest.ExitCode.INTERRUPTED, run.output
    assert "KeyboardInterrupt" in run.output
    # The pytest process that booted the cluster waits for its teardown before it exits.
    assert left_behind(run_dir, seen) == []


@pytest.mark.cluster
def test_sigkill_of_the_only_client_stops_everything(inner: Inner, binaries: dict[str, Path]) -> None:
    run, run_dir, seen = _blocked_cluster(inner)
    run.proc.kill()
    assert run.wait(EXIT_TIMEOUT_S) == -signal.SIGKILL
    wait_for("the supervisor to tear down the cluster of its killed client", lambda: not left_behind(run_dir, seen),
             TEARDOWN_TIMEOUT_S, lambda: "\n".join(left_behind(run_dir, seen)))


# -- bad input --------------------------------------------------------------------------------------
def test_no_binaries_and_no_go_is_one_clear_line(inner: Inner, tmp_path: Path) -> None:
    path = os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"])
    if shutil.which("go", path=path):
        pytest.skip(f"go is installed on {path}, so there is no Go-less PATH to test with")
    cache = tmp_path / "empty-cache"
    cache.mkdir()
    env = {k: v for k, v in inner_env().items() if not k.startswith(("KWOK_", "OPENSHELL_")) and k != "KUBEBUILDER_ASSETS"}
    env.update(PATH=path, OPENSHELL_CACHE_DIR=str(cache))
    run = inner("test_inner.py::test_record", env=env)
    assert run.wait(RUN_TIMEOUT_S) == 3, run.output
    line = one_line(run.output, "Go is not installed")
    assert "OPENSHELL_BIN_DIR" in line
    assert "Traceback" not in run.output
    assert "booting embedded cluster" not in run.output
    assert run.records() == {}


@pytest.mark.cluster
def test_apiserver_port_in_use_names_the_component_and_its_log(inner: Inner, binaries: dict[str, Path], tmp_path: Path) -> None:
    # A cache dir of its own: last-failure/ is shared by every run using the same cache.
    cache = tmp_path / "cache"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = inner("test_inner.py::test_record", f"--openshell-apiserver-port={port}", *explicit(binaries),
                    env=inner_env(OPENSHELL_CACHE_DIR=str(cache)))
        assert run.wait(RUN_TIMEOUT_S) == 3, run.output
    error = one_line(run.output, "embedded cluster failed to boot")
    assert "kube-apiserver" in error and "already in use" in error, error
    log = named_log(error)
    assert log.parent == cache / CACHE_LAYOUT_VERSION / "logs" / "last-failure"
    assert f"--secure-port={port}" in log.read_text(), "the log of this run's kube-apiserver"
    assert "Traceback" not in run.output
    assert "etcd up" in run.output  # so there was something running to stop
    assert left_behind(booted_run_dir(run.output)) == []


@pytest.mark.cluster
def test_component_dying_at_start_names_it_and_keeps_its_log(inner: Inner, binaries: dict[str, Path], tmp_path: Path) -> None:
    if not os.access("/bin/false", os.X_OK):
        pytest.skip("no /bin/false")
    cache = tmp_path / "cache"
    run = inner("test_inner.py::test_record", *explicit({**binaries, "etcd": Path("/bin/false")}),
                env=inner_env(OPENSHELL_CACHE_DIR=str(cache)))
    assert run.wait(RUN_TIMEOUT_S) == 3, run.output
    error = one_line(run.output, "embedded cluster failed to boot")
    assert "etcd exited" in error, error
    log = named_log(error)
    assert log == cache / CACHE_LAYOUT_VERSION / "logs" / "last-failure" / "etcd.log"
    assert log.read_text().startswith("$ /bin/false "), "the log outlives the run dir and shows the command"
    assert "Traceback" not in run.output
    assert left_behind(booted_run_dir(run.output)) == []


# -- sharing ----------------------------------------------------------------------------------------
@pytest.mark.cluster
def test_xdist_workers_share_one_cluster(inner: Inner, binaries: dict[str, Path]) -> None:
    uid = f"lifecycle{uuid.uuid4().hex[:12]}"
    run_dir = runs_base() / f"run-{uid}-{load_pins().default_lane}"  # one per lane
    run = inner("test_inner.py::test_record", "-n", "2", "--dist", "load", f"--testrunuid={uid}")
    assert run.wait(RUN_TIMEOUT_S) == 0, run.output
    records = run.records()
    assert sorted(records) == [f"record-{n}" for n in range(4)], run.output
    seen_by = {name: (r["worker"], r["pid"], r["server"], r["run_dir"]) for name, r in records.items()}
    assert {r["worker"] for r in records.values()} == {"gw0", "gw1"}, seen_by
    assert len({r["pid"] for r in records.values()}) == 2, seen_by
    assert len({r["server"] for r in records.values()}) == 1, f"one cluster for the run: {seen_by}\n{run.output}"
    assert {r["run_dir"] for r in records.values()} == {str(run_dir)}, seen_by
    assert len({tuple(r["processes"]["supervisor"]) for r in records.values()}) == 1, "booted once"
    seen = {(pid, start) for r in records.values() for pid, start in r["processes"].values()}
    _await_gone(run_dir, seen)


@pytest.mark.cluster
def test_xdist_worker_joining_after_another_left_shares_its_cluster(inner: Inner, binaries: dict[str, Path]) -> None:
    uid = f"lifecycle{uuid.uuid4().hex[:12]}"
    run = inner("test_inner.py::test_late_joiner", "-n", "2", "--dist", "each", f"--testrunuid={uid}")
    assert run.wait(RUN_TIMEOUT_S) == 0, run.output
    records = run.records()
    assert sorted(records) == ["early", "late"], run.output
    early, late = records["early"], records["late"]
    assert (early["worker"], late["worker"]) == ("gw0", "gw1")
    assert late["server"] == early["server"], f"gw1 booted a second cluster after gw0 left:\n{run.output}"
    assert late["processes"] == early["processes"]
    assert early["run_dir"] == str(runs_base() / f"run-{uid}-{load_pins().default_lane}")
    _await_gone(Path(early["run_dir"]), {(pid, start) for r in records.values() for pid, start in r["processes"].values()})


def _await_gone(run_dir: Path, seen: Seen) -> None:
    """The cluster of an xdist run lives as long as the run's controller; its supervisor stops it right after."""
    wait_for(f"the supervisor to tear down {run_dir} after the xdist run", lambda: not left_behind(run_dir, seen),
             TEARDOWN_TIMEOUT_S, lambda: "\n".join(left_behind(run_dir, seen)))


@pytest.mark.cluster
def test_kept_cluster_is_reused_and_stops_with_its_supervisor(inner: Inner, binaries: dict[str, Path]) -> None:
    name = f"lifecycle-{uuid.uuid4().hex[:8]}"
    args = ("test_inner.py::test_record[0]", "--keep-cluster", f"--openshell-cluster-name={name}")
    try:
        first = inner(*args, name="first")
        assert first.wait(RUN_TIMEOUT_S) == 0, first.output
        kept = first.records()["record-0"]
        assert "booting embedded cluster" in first.output
        assert all(running(pid, start) for pid, start in kept["processes"].values()), "kept after the run"

        second = inner(*args, name="second")
        assert second.wait(RUN_TIMEOUT_S) == 0, second.output
        reused = second.records()["record-0"]
        assert f"joined embedded cluster at {kept['server']}" in second.output
        assert "booting embedded cluster" not in second.output
        assert reused["server"] == kept["server"]
        assert reused["processes"] == kept["processes"], "the same supervisor and components"
        assert all(running(pid, start) for pid, start in kept["processes"].values()), "still kept after the second run"
    finally:
        stopped = stop_kept(name)
    assert list(stopped) == [Path(kept["run_dir"])]
    for run_dir, seen in stopped.items():
        assert left_behind(run_dir, seen) == []


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
