"""Debian rootfs trees made with debootstrap, cached by what they contain; and images built once.

The kind node image and the gateway image both start from a debootstrap'd Debian (the mirror is
reachable through apt; no image can be pulled). One implementation serves both: a tree is keyed by
suite, mirror and package list, completed trees are marked, and a failed run leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from pytest_openshell.errors import HarnessError
from pytest_openshell.kindimage.docker import image_exists, require_docker
from pytest_openshell.progress import Progress
from pytest_openshell.toolchain.cache import logs_dir

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"


def debootstrap(work_root: Path, packages: tuple[str, ...], purpose: str, progress: Progress, fix: str) -> Path:
    """A minbase ``DEBIAN_SUITE`` rootfs with ``packages`` under ``work_root`` (cached), for ``purpose``."""
    key = hashlib.sha256(" ".join((DEBIAN_SUITE, DEBIAN_MIRROR, *packages)).encode()).hexdigest()[:10]
    base = work_root / f"rootfs-{DEBIAN_SUITE}-{key}"
    if (base / ".complete").exists():
        return base
    binary = shutil.which("debootstrap")
    if binary is None or os.geteuid() != 0:
        raise HarnessError(f"building {purpose} needs debootstrap, run as root", fix=fix)
    shutil.rmtree(base, ignore_errors=True)
    log = logs_dir() / f"debootstrap-{DEBIAN_SUITE}-{key}.log"
    progress(f"  debootstrap {DEBIAN_SUITE} ({len(packages)} packages) from {DEBIAN_MIRROR}; log: {log}")
    started = time.monotonic()
    with open(log, "w") as logf:
        rc = subprocess.run(
            [binary, "--variant=minbase", "--include=" + ",".join(packages), DEBIAN_SUITE, str(base), DEBIAN_MIRROR],
            stdout=logf, stderr=subprocess.STDOUT,
        ).returncode
    if rc != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise HarnessError(f"debootstrap {DEBIAN_SUITE} for {purpose} failed (exit {rc})", fix=f"read {log}")
    # what kind's base image drops: apt caches (units that make no sense in a container are the node's own business)
    for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*"):
        for path in base.glob(pattern):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    (base / ".complete").touch()
    progress(f"  debootstrap done in {time.monotonic() - started:.0f}s")
    return base


def build_once(tag: str, lock: Path, label: str, build: Callable[[], None], progress: Progress) -> str:
    """``tag``, made by ``build()`` unless docker has it; one builder at a time across processes."""
    require_docker()
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock)):
        if image_exists(tag):
            progress(f"{label} {tag} (cached)")
            return tag
        started = time.monotonic()
        progress(f"building {label} {tag} offline (first time only)")
        build()
        progress(f"built {label} {tag} in {time.monotonic() - started:.0f}s")
    return tag
