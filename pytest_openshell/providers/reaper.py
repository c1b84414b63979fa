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

import argparse
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from pytest_openshell.embedded.supervisor import pid_alive

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


def spawn(client: int, name: str, run_dir: Path, kind: str) -> subprocess.Popen[bytes]:
    """Start the reaper of ``client``; its log sits in the run dir, which a clean release deletes."""
    log = open(run_dir / f"reaper-{client}.log", "ab")  # the child gets its own descriptor; ours closes below
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "pytest_openshell.providers.reaper", "--pid", str(client), "--name", name,
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_openshell.providers.reaper")
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--kind", required=True)
    args = parser.parse_args(argv)
    wait_for_exit(args.pid)

    from pytest_openshell.providers.base import ProviderSettings
    from pytest_openshell.providers.kind import KindProvider

    provider = KindProvider(ProviderSettings(), lambda message: print(message, flush=True))
    provider.adopt(args.name, args.run_dir, args.kind)
    print(f"client {args.pid} exited without releasing kind cluster {args.name}", flush=True)
    provider.release_client(args.pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
