"""The process that owns an embedded cluster's components.

Started detached by the first pytest process that needs the cluster. It boots the components,
publishes ``state.json``, then watches the registered client pids: when the last client is gone
(released, crashed or killed with SIGKILL) it stops everything and removes the state dir, unless
the cluster is kept. Components die with the supervisor (PDEATHSIG), so nothing outlives it.

SIGUSR1 asks it to upgrade agent-sandbox in place to the lane ``upgrade.json`` names
(:mod:`pytest_openshell.embedded.upgrade`); it answers with an ``upgraded`` or ``upgrade-failed`` event.
SIGUSR2 is the last client releasing the cluster: stop now, not at the next look at the clients.

Files in the run dir: ``spec.json`` (in), ``upgrade.json`` (in), ``events.jsonl`` (progress, ready,
upgraded, error), ``state.json``, ``clients/<pid>``, ``supervisor.pid``, ``logs/``. The client that
started it follows its stdout (progress, then ready or error) until ready.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from pytest_openshell.embedded import upgrade
from pytest_openshell.embedded.boot import Booted, BootSpec, boot
from pytest_openshell.embedded.layout import Layout, Ports
from pytest_openshell.embedded.process import Stopped, ask_stop, stop_point
from pytest_openshell.errors import HarnessError
from pytest_openshell.rundirs import live_clients
from pytest_openshell.toolchain.cache import logs_dir

WATCH_INTERVAL_S = 0.2


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    ask_stop(signal.Signals(signum).name)


_upgrade_asked: list[bool] = []


def _on_upgrade(_signum: int, _frame: FrameType | None) -> None:
    # Only noted here: the watch loop upgrades between two rounds, never inside one.
    _upgrade_asked.append(True)


def emit(run_dir: Path, kind: str, **data: Any) -> None:
    with open(run_dir / "events.jsonl", "a") as f:
        f.write(json.dumps({"event": kind, "t": time.time(), **data}) + "\n")


def run(run_dir: Path) -> int:
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    signal.signal(signal.SIGUSR1, _on_upgrade)
    # From the last client as it releases the cluster (under the run's lock, so no client can
    # join meanwhile): stop now rather than at the next look at the clients.
    signal.signal(signal.SIGUSR2, _on_signal)
    # Any signal also writes to this pipe, so the watch loop below wakes at once (an upgrade too).
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    spec_raw = json.loads((run_dir / "spec.json").read_text())
    keep = bool(spec_raw.pop("keep", False))
    ports = Ports()
    if spec_raw.get("apiserver_port"):
        ports.apiserver = int(spec_raw["apiserver_port"])
    lay = Layout(run_dir, ports)
    booted = Booted()
    failed = False
    try:
        try:
            boot(BootSpec(**spec_raw), lay, lambda msg: _progress(run_dir, msg), booted)
        except HarnessError as exc:
            failed = True
            _report_failure(str(exc).replace(str(lay.logs), str(logs_dir() / "last-failure")))
            return 1
        stop_point()  # asked for after the last wait of the boot: not ready, then
        booted.state["supervisor_pid"] = os.getpid()
        booted.state["keep"] = keep
        _write_state(run_dir, booted.state)
        emit(run_dir, "ready", **booted.state)
        _say({"event": "ready", "boot_seconds": booted.state["boot_seconds"], "server": booted.state["server"]})
        seen_client = False
        reported_dead: set[str] = set()
        while True:
            clients = live_clients(run_dir)
            seen_client = seen_client or bool(clients)
            if not keep and seen_client and not clients:
                return 0
            if not keep and not seen_client and time.time() - (run_dir / "state.json").stat().st_mtime > 60:
                return 0  # nobody ever attached
            for comp in booted.components:
                if comp.name not in reported_dead and not comp.alive():
                    reported_dead.add(comp.name)
                    # The run dir goes at teardown; the log a failure names must outlive it.
                    kept = logs_dir() / f"died-{run_dir.name}-{comp.name}.log"
                    shutil.copy2(comp.log_file, kept)
                    emit(run_dir, "component-died", component=comp.name, log=str(kept))
            if _upgrade_asked:
                _upgrade_asked.clear()
                _upgrade(run_dir, lay, booted)
            if select.select([wake_r], [], [], WATCH_INTERVAL_S)[0]:
                os.read(wake_r, 512)
            stop_point()
    except Stopped as stop:
        emit(run_dir, "stopping", message="released" if str(stop) == "SIGUSR2" else "signalled")
        return 0
    except Exception:
        failed = True
        _report_failure(traceback.format_exc())
        return 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, signal.SIG_IGN)  # teardown must finish once started
        booted.stop()
        if failed:
            _keep_logs(lay)
        # The components are gone, so the state dir is only debris now, kept cluster or not.
        _remove(run_dir)


def _write_state(run_dir: Path, state: dict[str, Any]) -> None:
    tmp = run_dir / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, run_dir / "state.json")


def _upgrade(run_dir: Path, lay: Layout, booted: Booted) -> None:
    """One in-place upgrade; a failure is reported to the client and leaves the cluster up for its diagnosis."""
    try:
        spec = upgrade.read_request(run_dir)
        report = upgrade.upgrade(spec, lay, booted.components, booted.state, lambda msg: emit(run_dir, "progress", message=msg))
    except Stopped:
        raise
    except Exception as exc:  # the client needs the reason whatever it was; the cluster stays up
        message = str(exc) if isinstance(exc, HarnessError) else traceback.format_exc()
        emit(run_dir, "upgrade-failed", message=message)
        return
    _write_state(run_dir, booted.state)
    emit(run_dir, "upgraded", **report)


def _progress(run_dir: Path, message: str) -> None:
    emit(run_dir, "progress", message=message)
    _say({"event": "progress", "message": message})


def _say(event: dict[str, Any]) -> None:
    """To the client that started us, which follows our stdout until ready (or our exit)."""
    try:
        print(json.dumps(event), flush=True)
    except OSError:
        pass  # that client is gone (killed mid-boot); the boot goes on for the others


def _report_failure(message: str) -> None:
    # The starting client reads it from our stdout: the run dir will be gone by then.
    _say({"event": "error", "message": message})


def _keep_logs(lay: Layout) -> None:
    # Error messages name these logs, so they must outlive the run dir.
    dest = logs_dir() / "last-failure"
    shutil.rmtree(dest, ignore_errors=True)
    if lay.logs.exists():
        shutil.copytree(lay.logs, dest)
    if (lay.root / "events.jsonl").exists():
        shutil.copy2(lay.root / "events.jsonl", dest / "events.jsonl")


def _remove(run_dir: Path) -> None:
    # events.jsonl goes last: clients read it to learn how the supervisor ended.
    for child in run_dir.iterdir():
        if child.name != "events.jsonl":
            shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
    (run_dir / "events.jsonl").unlink(missing_ok=True)
    shutil.rmtree(run_dir, ignore_errors=True)
    # The clients' lock file (see EmbeddedProvider): a client that failed to boot or was killed
    # cannot remove it itself.
    Path(f"{run_dir}.lock").unlink(missing_ok=True)


if __name__ == "__main__":
    code = run(Path(sys.argv[1]))
    # Everything is written and flushed (events, stdout) and the run dir is gone: skip the
    # interpreter's finalization, 30-90 ms of every teardown here.
    os._exit(code)
