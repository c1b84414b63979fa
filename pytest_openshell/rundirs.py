"""Run directories and their client registry: one implementation for every provider.

Each cluster a run acquires has a directory under ``runs_base()`` (``run-*`` embedded, ``kind-*``,
``k3d-*``). Every pytest process using the cluster registers as ``clients/<pid>``; an xdist worker
registers its controller too, since a later worker may ask for the cluster only after this one is
done. The last live client of a disposable cluster deletes it. The embedded supervisor, the kind
reaper and the providers all read the same registry, so it sits below them all.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def runs_base() -> Path:
    base = Path(tempfile.gettempdir()) / f"pytest-openshell-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    return base


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def register(run_dir: Path, shared_by_workers: bool) -> None:
    """Register this process (and, for an xdist worker, its controller) as a client of ``run_dir``."""
    clients = run_dir / "clients"
    clients.mkdir(parents=True, exist_ok=True)
    (clients / str(os.getpid())).touch()
    if shared_by_workers:
        # The cluster lives as long as the xdist controller (our parent), which outlives every worker.
        (clients / str(os.getppid())).touch()


def live_clients(run_dir: Path) -> list[int]:
    """The registered clients still alive; entries of dead ones are removed."""
    alive = []
    for entry in (run_dir / "clients").glob("*"):
        pid = int(entry.name)
        if pid_alive(pid):
            alive.append(pid)
        else:
            entry.unlink(missing_ok=True)
    return alive


def deregister(run_dir: Path, pid: int) -> bool:
    """Remove ``pid``; True when no live client is left (the caller, holding the run dir's lock, deletes)."""
    (run_dir / "clients" / str(pid)).unlink(missing_ok=True)
    return not live_clients(run_dir)


def lock_path(run_dir: Path) -> str:
    """The FileLock that serialises acquire and release of ``run_dir``'s cluster across processes."""
    return str(run_dir) + ".lock"
