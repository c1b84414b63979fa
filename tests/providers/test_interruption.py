"""SIGINT and SIGTERM at each phase of a run: cluster boot, agent-sandbox install, mid-test, report writing.

Each case runs the real harness as a subprocess, signals it at a phase it can be seen to be in, and
then requires: exit status 2 (interrupted), no process/run dir/lock of its cluster left, and -- for
conformance runs -- a report that is complete, valid against the schema and says whether the run
was cut short.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.providers.lifecycle import (
    CONFORMANCE,
    EXIT_TIMEOUT_S,
    READY_TIMEOUT_S,
    RUN_TIMEOUT_S,
    Inner,
    InnerRun,
    booted_run_dir,
    explicit,
    inner_env,
    left_behind,
    report_of,
    verdict_counts,
)

SIGNALS = pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
# A component that never becomes ready keeps the boot in the phase that waits for it.
HANG = "#!/bin/sh\nexec sleep 600\n"

pytestmark = pytest.mark.cluster


@pytest.fixture
def private_tmp() -> Iterator[Path]:
    """TMPDIR for the run: short (Unix socket paths live under it) and its own, so leftovers are attributable."""
    path = Path(tempfile.mkdtemp(prefix="int-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def temp_leftovers(tmpdir: Path) -> list[str]:
    """What a run left in its TMPDIR, apart from the per-user base dir of embedded runs (kept, like /tmp/pytest-of-<user>)."""
    base = tmpdir / f"pytest-openshell-{os.getuid()}"
    return sorted(str(p) for p in tmpdir.rglob("*") if p != base)


def _hanging(tmp_path: Path, name: str) -> Path:
    script = tmp_path / name
    script.write_text(HANG)
    script.chmod(0o755)
    return script


def _interrupted(run: InnerRun, sig: int) -> None:
    run.proc.send_signal(sig)
    code = run.wait(EXIT_TIMEOUT_S)
    assert code == pytest.ExitCode.INTERRUPTED, f"exit {code} after {signal.Signals(sig).name}:\n{run.output}"
    assert "Traceback" not in run.output.split("KeyboardInterrupt")[0], run.output


@SIGNALS
@pytest.mark.parametrize(("phase", "component", "seen"), [
    ("boot", "kube-apiserver", "etcd up"),
    ("install", "agent-sandbox-controller", "CRDs Established"),
], ids=["boot", "install"])
def test_signal_while_the_cluster_comes_up(inner: Inner, binaries: dict[str, Path], tmp_path: Path, private_tmp: Path, sig: int,
                                           phase: str, component: str, seen: str) -> None:
    stuck = {**binaries, component: _hanging(tmp_path, component)}
    run = inner("test_inner.py::test_record[0]", *explicit(stuck), env=inner_env(TMPDIR=str(private_tmp)))
    run.await_output(seen, READY_TIMEOUT_S)
    run_dir = booted_run_dir(run.output)
    _interrupted(run, sig)
    assert run.records() == {}, "no test ran"
    assert left_behind(run_dir) == [], f"after {signal.Signals(sig).name} during {phase}"
    assert temp_leftovers(private_tmp) == []


@SIGNALS
def test_signal_mid_test_leaves_a_valid_report_saying_interrupted(inner: Inner, binaries: dict[str, Path], private_tmp: Path,
                                                                  sig: int) -> None:
    # Upstream marks the Sandbox Finished and never replaces the pod: with a long grace the test
    # sits in its wait until the signal comes.
    run = inner("-k", "SandboxReady or ServiceSurvivesPodFailure", "--openshell-timeout=finished_grace=300",
                "--openshell-report=r.yaml", *explicit(binaries), command=CONFORMANCE, env=inner_env(TMPDIR=str(private_tmp)))
    run.await_output("ServiceSurvivesPodFailure]", RUN_TIMEOUT_S)
    run_dir = booted_run_dir(run.output)
    _interrupted(run, sig)
    report = report_of(run)
    assert report["interrupted"] is True
    assert verdict_counts(report) == {"passed": 1, "failed": 0, "skipped": 0}, "SandboxReady, and nothing for the interrupted test"
    assert left_behind(run_dir) == []
    assert temp_leftovers(private_tmp) == []


@SIGNALS
def test_signal_while_the_report_is_written_is_held_until_it_is_complete(inner: Inner, binaries: dict[str, Path], sig: int) -> None:
    """A plugin of the run sends the signal to its own process from inside the report writer."""
    run = inner("-p", "signal_in_writer", "-k", "SandboxReady", "--openshell-report=r.yaml", *explicit(binaries),
                command=CONFORMANCE, env=_with_plugin(sig))
    code = run.wait(RUN_TIMEOUT_S)
    assert code == pytest.ExitCode.INTERRUPTED, run.output
    assert f"interrupted (signal {sig}) while writing the outputs: they are complete" in run.output
    report = report_of(run)
    assert report["interrupted"] is False, "every test had finished before the signal"
    assert verdict_counts(report) == {"passed": 1, "failed": 0, "skipped": 0}
    assert left_behind(booted_run_dir(run.output)) == []


def _with_plugin(sig: int) -> dict[str, str]:
    return inner_env(PYTHONPATH=str(Path(__file__).parent / "data"), SIGNAL_IN_WRITER=str(int(sig)))
