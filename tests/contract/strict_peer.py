"""The strict HTTP/2 peer (tests/strict_peer, a tonic server): built with cargo from crates.io, run per test.

The binary is cached as ``<cache>/bin/strict-peer-<source hash>`` (a source change rebuilds it);
cargo's own target dir lives beside it, so a rebuild only compiles the peer. The build runs under
a file lock and lands by atomic rename, like the cluster binaries.
"""

from __future__ import annotations

import hashlib
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from pytest_openshell.toolchain.cache import cache_root, logs_dir

SOURCE = Path(__file__).resolve().parents[1] / "strict_peer"
PROGRESS_EVERY_S = 5.0
START_TIMEOUT_S = 30.0


class CargoMissing(RuntimeError):
    pass


class PeerBuildFailed(RuntimeError):
    pass


def source_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted([SOURCE / "Cargo.toml", SOURCE / "Cargo.lock", *(SOURCE / "src").rglob("*.rs")]):
        digest.update(path.relative_to(SOURCE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def find_cargo() -> str | None:
    """``$CARGO``, else cargo on PATH, else rustup's default place (a CI shell may not have sourced it)."""
    rustup = Path.home() / ".cargo" / "bin" / "cargo"
    return os.environ.get("CARGO") or shutil.which("cargo") or (str(rustup) if os.access(rustup, os.X_OK) else None)


def peer_binary(progress: Callable[[str], None]) -> Path:
    """The built peer, building it first if this source has no binary in the cache yet."""
    binary = cache_root() / "bin" / f"strict-peer-{source_hash()}"
    if os.access(binary, os.X_OK):
        return binary
    cargo = find_cargo()
    if cargo is None:
        raise CargoMissing("the strict HTTP/2 peer (tests/strict_peer, a tonic server) is built with cargo, and cargo "
                           "was not found -- install Rust (rustup.rs) or set CARGO=/path/to/cargo")
    binary.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(binary) + ".lock"):
        if not os.access(binary, os.X_OK):
            _cargo_build(cargo, binary, progress)
    return binary


def _cargo_build(cargo: str, binary: Path, progress: Callable[[str], None]) -> None:
    log = logs_dir() / "build-strict-peer.log"
    target_dir = cache_root() / "cargo-target" / "strict-peer"
    cmd = ["nice", cargo, "build", "--release", "--locked", "--manifest-path", str(SOURCE / "Cargo.toml")]
    env = {**os.environ, "CARGO_TARGET_DIR": str(target_dir), "CARGO_TERM_COLOR": "never"}
    started = time.monotonic()
    progress(f"building the strict HTTP/2 peer with cargo (tonic, from crates.io; a few minutes cold, seconds after a source change); log: {log}")
    with open(log, "w") as logf:
        logf.write(f"$ CARGO_TARGET_DIR={target_dir} {' '.join(cmd)}\n")
        logf.flush()
        proc = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        compiled, last = 0, 0.0
        for line in proc.stderr:
            logf.write(line)
            compiled += line.lstrip().startswith("Compiling ")
            if time.monotonic() - last >= PROGRESS_EVERY_S:
                last = time.monotonic()
                progress(f"  strict-peer: {compiled} crates compiled, {last - started:.0f}s")
        rc = proc.wait()
    if rc != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise PeerBuildFailed(f"building the strict HTTP/2 peer failed (exit {rc}); log {log}:\n{tail}")
    staging = Path(tempfile.mkdtemp(prefix=".build-strict-peer-", dir=binary.parent))
    try:
        shutil.copy2(target_dir / "release" / "strict-peer", staging / "strict-peer")
        os.replace(staging / "strict-peer", binary)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    progress(f"built the strict HTTP/2 peer in {time.monotonic() - started:.0f}s -> {binary}")


@dataclass(frozen=True)
class RunningPeer:
    target: str  # what a harness client is given: a socket path, or HOST:PORT
    log: Path


@contextmanager
def running_peer(binary: Path, listen: str, log: Path, tls: Sequence[Path] = ()) -> Iterator[RunningPeer]:
    """Run the peer on ``listen`` (``unix:PATH`` or ``tcp:HOST:PORT``) until the block ends; ``tls``:
    server certificate and key (TLS), plus a client CA (mTLS).

    Ready when it prints its address; it exits when its stdin closes, so it cannot outlive us."""
    cmd = [str(binary), listen, *(["--tls", *map(str, tls)] if tls else [])]
    with open(log, "w") as logf:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logf, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        line = _first_line(proc, START_TIMEOUT_S)
        if not line.startswith("listening "):
            raise RuntimeError(f"the strict peer did not start on {listen} (exit {proc.poll()}): "
                               f"{log.read_text(errors='replace').strip()}")
        address = line.split(" ", 1)[1].strip()
        yield RunningPeer(address.removeprefix("unix:").removeprefix("tcp:"), log)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The peer's first stdout line, or '' when it exits or says nothing within ``timeout``."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return proc.stdout.readline()
