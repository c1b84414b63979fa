"""A tonic server (tests/strict_peer) for the harness's gRPC clients to talk to, over a Unix socket and TCP.

Without cargo the peer cannot be built: the tests that need it skip, except under CI (CI=true),
where cargo is part of the machine and a skip would hide the one check that tonic accepts us.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_openshell.progress import terminal_progress
from tests.contract.strict_peer import CargoMissing, PeerBuildFailed, RunningPeer, peer_binary, running_peer
from tests.reference.certs import Pki, make_pki


@pytest.fixture(scope="session")
def strict_peer_binary(request: pytest.FixtureRequest) -> Path:
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    try:
        return peer_binary(terminal_progress(request.config))
    except CargoMissing as exc:
        problem, fail = f"{exc}{' (CI=true: the strict HTTP/2 check must run in CI)' if in_ci else ''}", in_ci
    except PeerBuildFailed as exc:
        problem, fail = str(exc), True
    # Reported outside the except blocks: one message, no chained traceback.
    if fail:
        pytest.fail(problem, pytrace=False)
    pytest.skip(problem)


@pytest.fixture
def sockdir() -> Iterator[Path]:
    """A short directory for Unix sockets (tmp_path can exceed the 107-byte socket path limit)."""
    path = Path(tempfile.mkdtemp(prefix="osh-sp-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def strict_peer_unix(strict_peer_binary: Path, sockdir: Path) -> Iterator[RunningPeer]:
    """The peer on a Unix socket, as a compute driver is served; ``.target`` is the socket path."""
    with running_peer(strict_peer_binary, f"unix:{sockdir / 'peer.sock'}", sockdir / "peer.log") as peer:
        yield peer


@pytest.fixture
def strict_peer_tcp(strict_peer_binary: Path, sockdir: Path) -> Iterator[RunningPeer]:
    """The peer on loopback TCP, as a plaintext gateway is served; ``.target`` is HOST:PORT."""
    with running_peer(strict_peer_binary, "tcp:127.0.0.1:0", sockdir / "peer.log") as peer:
        yield peer


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


@pytest.fixture
def strict_peer_tls(strict_peer_binary: Path, sockdir: Path, pki: Pki) -> Iterator[RunningPeer]:
    """The peer on loopback TCP with TLS (rustls, as upstream's gateway): server certificate from ``pki``."""
    with running_peer(strict_peer_binary, "tcp:127.0.0.1:0", sockdir / "peer.log", tls=(pki.server_cert, pki.server_key)) as peer:
        yield peer


@pytest.fixture
def strict_peer_mtls(strict_peer_binary: Path, sockdir: Path, pki: Pki) -> Iterator[RunningPeer]:
    """As ``strict_peer_tls``, and a client certificate issued by ``pki.ca`` is required."""
    with running_peer(strict_peer_binary, "tcp:127.0.0.1:0", sockdir / "peer.log", tls=(pki.server_cert, pki.server_key, pki.ca)) as peer:
        yield peer
