"""The guard that keeps the test process from connecting to a simulated pod's IP."""

from __future__ import annotations

import socket

import pytest

from pytest_openshell import podnet


def test_connect_into_a_blocked_network_fails_before_sending() -> None:
    podnet.block(["10.244.0.0/16"])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s, pytest.raises(podnet.SimulatedPodAddress, match=r"10\.244\.3\.7:8080"):
        s.connect(("10.244.3.7", 8080))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(podnet.SimulatedPodAddress):
        s.sendto(b"x", ("10.244.0.9", 53))
    assert "10.244.0.0/16" in podnet.blocked()


def test_other_addresses_pass() -> None:
    podnet.block(["10.244.0.0/16"])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
    assert not podnet.is_blocked("10.245.0.1") and not podnet.is_blocked("localhost")
