"""The embedded cluster's lifecycle seen from outside: cleanup, bad input and pytest-xdist sharing.

Every test runs a real ``python -m pytest`` on data/inner_cluster.py in a tmp dir (isolated from this
repo's config), which boots a real embedded cluster, and then checks what that run left behind:
processes (found by scanning /proc), the run dir and the run dir's lock file.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import uuid
from pathlib import Path

import pytest

from pytest_openshell.rundirs import runs_base
from pytest_openshell.toolchain import load_pins
from pytest_openshell.toolchain.cache import CACHE_LAYOUT_VERSION
from tests.providers.lifecycle import (
    EXIT_TIMEOUT_S,
    READY_TIMEOUT_S,
    RUN_TIMEOUT_S,
    TEARDOWN_TIMEOUT_S,
    Inner,
    InnerRun,
    Seen,
    assert_all_roles,
    booted_run_dir,
    cluster_processes,
    explicit,
    inner_env,
    left_behind,
    named_log,
    one_line,
    running,
    stop_kept,
    wait_for,
)


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
    """The cluster of an xdist run lives as long as the run's controller, which waits for it to stop
    before it exits: nothing outlives the command."""
    assert left_behind(run_dir, seen) == [], "the xdist run returned with its cluster still running"


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
