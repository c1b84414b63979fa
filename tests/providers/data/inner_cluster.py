"""Inner tests for tests/providers/test_embedded_lifecycle.py, copied into a tmp dir and run by a pytest subprocess.

Each test writes one JSON record into $LIFECYCLE_OUT (atomically, so a reader never sees half of it):
the cluster it got, the pytest process that ran it, and the supervisor and component processes of that
cluster as (pid, start time) so the outer test can tell them from a later process reusing the pid.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from pytest_openshell.providers import Cluster

BLOCK_S = 120.0  # the outer test signals long before this
LATE_TIMEOUT_S = 60.0
POLL_S = 0.05


def _start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _record(cluster: Cluster, name: str) -> None:
    run_dir = Path(cluster.details["run_dir"])
    state = json.loads((run_dir / "state.json").read_text())
    pids = {"supervisor": int(state["supervisor_pid"]), **{k: int(v) for k, v in state["pids"].items()}}
    record = {
        "name": name,
        "server": cluster.server,
        "run_dir": str(run_dir),
        "pid": os.getpid(),
        "worker": os.environ.get("PYTEST_XDIST_WORKER"),
        "processes": {component: [pid, _start_time(pid)] for component, pid in pids.items()},
    }
    out = Path(os.environ["LIFECYCLE_OUT"])
    tmp = out / f".{name}.tmp"
    tmp.write_text(json.dumps(record))
    os.replace(tmp, out / f"{name}.json")


@pytest.mark.parametrize("n", range(4))
def test_record(cluster: Cluster, n: int) -> None:
    _record(cluster, f"record-{n}")


def test_block(cluster: Cluster, namespace: str) -> None:
    _record(cluster, "block")
    assert not threading.Event().wait(BLOCK_S), "unreachable: the event is never set"


def test_late_joiner(request: pytest.FixtureRequest) -> None:
    """Run with ``-n 2 --dist each``: gw1 asks for the cluster only after gw0 has given it back."""
    if os.environ.get("PYTEST_XDIST_WORKER") == "gw0":
        _record(request.getfixturevalue("cluster"), "early")
        return
    early_file = Path(os.environ["LIFECYCLE_OUT"]) / "early.json"
    deadline = time.monotonic() + LATE_TIMEOUT_S
    while not early_file.exists():
        assert time.monotonic() < deadline, f"gw0 did not write {early_file} within {LATE_TIMEOUT_S}s"
        time.sleep(POLL_S)
    early = json.loads(early_file.read_text())
    registration = Path(early["run_dir"]) / "clients" / str(early["pid"])
    while registration.exists():  # gw0 releases the cluster when its session ends
        assert time.monotonic() < deadline, f"gw0 did not release the cluster ({registration}) within {LATE_TIMEOUT_S}s"
        time.sleep(POLL_S)
    _record(request.getfixturevalue("cluster"), "late")
