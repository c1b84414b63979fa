"""Release a kind cluster for a run that died without releasing it (SIGKILL, OOM kill, a lost CI node).

SIGINT and SIGTERM reach ``release()``; SIGKILL reaches nothing in the process. The embedded
cluster has its supervisor for that; a kind cluster lives in docker and would outlive the run.
So each client of a disposable kind cluster starts one reaper: a small process in its own
session (a Ctrl-C to the run's process group does not reach it) that waits for that client's
exit on a pidfd, then does what the client's ``release()`` would have done: deregister it and,
if it was the last client, delete the cluster. A client that releases normally stops its
reaper first, so a cluster is never deleted twice.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

from pytest_openshell.rundirs import pid_alive

POLL_FALLBACK_S = 1.0  # only where pidfd_open is missing (Linux < 5.3)


def wait_for_exit(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return  # gone already
    except (AttributeError, OSError):
        while pid_alive(pid):
            time.sleep(POLL_FALLBACK_S)
        return
    try:
        select.select([fd], [], [])  # readable once the process has exited
    finally:
        os.close(fd)


def spawn(entry: str, client: int, name: str, run_dir: Path, kind: str) -> subprocess.Popen[bytes]:
    """Start the reaper of ``client``: ``python -m entry`` (the provider's own release, run after
    :func:`wait_for_exit`). Named, not imported, so this mechanism sits below the providers it serves.
    Its log sits in the run dir, which a clean release deletes."""
    log = open(run_dir / f"reaper-{client}.log", "ab")  # the child gets its own descriptor; ours closes below
    try:
        return subprocess.Popen(
            [sys.executable, "-m", entry, "--pid", str(client), "--name", name,
             "--run-dir", str(run_dir), "--kind", kind],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()


def stop(reaper: subprocess.Popen[bytes] | None, timeout: float = 5.0) -> None:
    if reaper is None or reaper.poll() is not None:
        return
    reaper.terminate()
    try:
        reaper.wait(timeout)
    except subprocess.TimeoutExpired:
        reaper.kill()
        reaper.wait()
