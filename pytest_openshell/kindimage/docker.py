"""The few docker operations the kind/k3d providers and the offline image builder need."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from collections.abc import Mapping
from pathlib import Path

from pytest_openshell.errors import HarnessError

DOCKER_FIX = "install docker.io and start dockerd (apt-get install -y docker.io; dockerd >/var/log/dockerd.log 2>&1 &)"


def docker_binary() -> str:
    found = shutil.which("docker")
    if found is None:
        raise HarnessError("docker is not installed: the kind and k3d providers run their nodes as docker containers", fix=DOCKER_FIX)
    return found


def require_docker() -> str:
    """The docker CLI, once we know it reaches a running daemon; one clear error otherwise."""
    docker = docker_binary()
    try:
        out = subprocess.run([docker, "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise HarnessError("docker did not answer within 30s", fix=DOCKER_FIX) from None
    if out.returncode != 0 or not out.stdout.strip():
        detail = (out.stderr.strip().splitlines() or ["no server version"])[-1]
        raise HarnessError(f"docker is installed but its daemon is not running ({detail})", fix=DOCKER_FIX)
    return docker


def docker(*args: str, input: bytes | None = None, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    out = subprocess.run([docker_binary(), *args], input=input, capture_output=True, timeout=timeout)
    if check and out.returncode != 0:
        raise HarnessError(f"docker {' '.join(args[:3])} failed: {out.stderr.decode(errors='replace').strip()}")
    return out


def image_exists(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False, timeout=60).returncode == 0


def import_files(
    tag: str, files: Mapping[str, Path | bytes], changes: tuple[str, ...] = (), links: Mapping[str, str] | None = None
) -> None:
    """``docker import`` an image holding just ``files`` (path in image -> host file or content).

    ``links`` are symlinks (path in image -> target), e.g. busybox applets.
    Static binaries need nothing else, so these images are a few MB and build in a second.
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs: set[str] = {"tmp"}
        for dest in (*files, *(links or {})):
            parts = dest.strip("/").split("/")[:-1]
            dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        for dest, src in files.items():
            data = src.read_bytes() if isinstance(src, Path) else src
            info = tarfile.TarInfo(dest.strip("/"))
            info.size = len(data)
            info.mode = 0o755 if isinstance(src, Path) else 0o644
            tar.addfile(info, io.BytesIO(data))
        for dest, target in (links or {}).items():
            info = tarfile.TarInfo(dest.strip("/"))
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    args = ["import"]
    for change in changes:
        args += ["--change", change]
    docker(*args, "-", tag, input=buf.getvalue())
