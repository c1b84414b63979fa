"""The guard that keeps the test process from connecting to a simulated pod's IP.

The refused connections aim at a loopback address, so that were the guard broken the attempt
would still never leave the machine (it would be refused locally, failing the test)."""

from __future__ import annotations

import socket

import pytest

from pytest_openshell import podnet

DECOY = "127.0.0.77"  # stands in for a pod IP: blocked below, and local whatever happens


def test_connect_into_a_blocked_network_fails_before_sending() -> None:
    podnet.block([f"{DECOY}/32", "10.244.0.0/16"])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s, pytest.raises(podnet.SimulatedPodAddress, match=r"127\.0\.0\.77:8080"):
        s.connect((DECOY, 8080))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(podnet.SimulatedPodAddress):
        s.sendto(b"x", (DECOY, 53))
    assert podnet.is_blocked("10.244.3.7") and "10.244.0.0/16" in podnet.blocked()


def test_other_addresses_pass() -> None:
    podnet.block([f"{DECOY}/32"])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
    assert not podnet.is_blocked("10.245.0.1") and not podnet.is_blocked("localhost")
