"""The harness's gRPC clients against a peer as strict as tonic (the stack of every Rust OpenShell driver).

Our Python servers accept an HTTP/2 ``:authority`` that hyper rejects, so a client defect there
shows only against tonic: these tests fail when a harness channel loses its Unix-socket authority.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import grpc
import pytest

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2_grpc as cpb_grpc
from pytest_openshell._proto.openshell.v1 import openshell_pb2 as opb
from pytest_openshell.contract.clients import UDS_AUTHORITY, driver_channel, driver_client, gateway_client, open_channel, transport_failure
from pytest_openshell.errors import HarnessError
from pytest_openshell.openshell.services import OpenShellServices, ServiceOptions
from pytest_openshell.providers import Cluster
from pytest_openshell.reference.gateway import start_gateway
from tests.contract.strict_peer import RunningPeer
from tests.reference.certs import Pki

TIMEOUT = 10.0
PEER = "strict-peer"


def authority_seen(call: grpc.Call) -> str:
    """The ``:authority`` the peer received, which it returns as a response header."""
    return dict(call.initial_metadata())["strict-peer-authority"]


def test_driver_client_over_a_unix_socket(strict_peer_unix: RunningPeer) -> None:
    with driver_client(strict_peer_unix.target) as driver:
        caps, call = driver.GetCapabilities.with_call(cpb.GetCapabilitiesRequest(), timeout=TIMEOUT)
    assert caps.driver_name == PEER
    assert authority_seen(call) == UDS_AUTHORITY


def test_raw_driver_channel_over_a_unix_socket(strict_peer_unix: RunningPeer) -> None:
    """The bare channel the unknown-fields case sends hand-made bytes on."""
    with driver_channel(strict_peer_unix.target) as channel:
        caps = channel.unary_unary("/openshell.compute.v1.ComputeDriver/GetCapabilities",
                                   request_serializer=lambda m: m.SerializeToString() + b"\xf8\x7c\x01",
                                   response_deserializer=cpb.GetCapabilitiesResponse.FromString)
        assert caps(cpb.GetCapabilitiesRequest(), timeout=TIMEOUT).driver_name == PEER


def test_gateway_client_over_tcp(strict_peer_tcp: RunningPeer) -> None:
    with gateway_client(strict_peer_tcp.target) as gateway:
        health, call = gateway.Health.with_call(opb.HealthRequest(), timeout=TIMEOUT)
    assert health.version == PEER
    assert authority_seen(call) == strict_peer_tcp.target, "over TCP the authority is the HOST:PORT dialled"


def test_gateway_client_over_tls(strict_peer_tls: RunningPeer, pki: Pki) -> None:
    with gateway_client(strict_peer_tls.target, root_certificates=pki.ca.read_bytes()) as gateway:
        health, call = gateway.Health.with_call(opb.HealthRequest(), timeout=TIMEOUT)
    assert health.version == PEER
    assert authority_seen(call) == strict_peer_tls.target


def test_gateway_client_over_tls_with_a_server_name(strict_peer_tls: RunningPeer, pki: Pki) -> None:
    """Dialling an address whose certificate names another host: the authority is that name."""
    with gateway_client(strict_peer_tls.target, root_certificates=pki.ca.read_bytes(), server_name="localhost") as gateway:
        health, call = gateway.Health.with_call(opb.HealthRequest(), timeout=TIMEOUT)
    assert health.version == PEER
    assert authority_seen(call) == "localhost"


def test_gateway_client_over_mtls(strict_peer_mtls: RunningPeer, pki: Pki) -> None:
    client = {"private_key": pki.client_key.read_bytes(), "certificate_chain": pki.client_cert.read_bytes()}
    with gateway_client(strict_peer_mtls.target, root_certificates=pki.ca.read_bytes(), **client) as gateway:
        assert gateway.Health(opb.HealthRequest(), timeout=TIMEOUT).version == PEER
    # The peer does enforce mTLS: without a client certificate there is no answer.
    with gateway_client(strict_peer_mtls.target, root_certificates=pki.ca.read_bytes()) as gateway, pytest.raises(grpc.RpcError):
        gateway.Health(opb.HealthRequest(), timeout=TIMEOUT)


def test_services_use_a_tonic_driver(strict_peer_unix: RunningPeer) -> None:
    """What the suites do first with an external driver (--openshell-driver-socket)."""
    options = ServiceOptions(driver_socket=strict_peer_unix.target, driver_namespace="vendor")
    services = OpenShellServices(cluster=cast(Cluster, None), namespace="unused", options=options)
    try:
        assert services.capabilities().driver_name == PEER
    finally:
        services.close()


def test_probe_reaches_a_tonic_gateway(strict_peer_tcp: RunningPeer) -> None:
    ServiceOptions(gateway="external", gateway_endpoint=strict_peer_tcp.target).probe_gateway()


def test_probe_reaches_a_tonic_gateway_over_mtls(strict_peer_mtls: RunningPeer, pki: Pki) -> None:
    ServiceOptions(gateway="external", gateway_endpoint=strict_peer_mtls.target, gateway_ca=str(pki.ca),
                   gateway_cert=str(pki.client_cert), gateway_key=str(pki.client_key)).probe_gateway()


@pytest.mark.cluster
def test_reference_gateway_uses_a_tonic_driver(cluster: Cluster, strict_peer_unix: RunningPeer, tmp_path: Path) -> None:
    """The reference gateway in front of an external Rust driver asks it for its capabilities."""
    with start_gateway(Path(strict_peer_unix.target), tmp_path / "gateway.db", kubeconfig=cluster.kubeconfig, namespaces=["default"]) as gw, \
            gateway_client(gw.address) as client:
        info = client.GetGatewayInfo(opb.GetGatewayInfoRequest(), timeout=TIMEOUT)
    assert [d.capabilities.driver_name for d in info.compute_drivers] == [PEER]


def test_the_peer_is_as_strict_as_tonic(strict_peer_unix: RunningPeer) -> None:
    """Guards the guard: grpc-python's own default authority over a Unix socket (the percent-encoded
    path) must be refused, or the tests above would pass without the harness's fix."""
    with grpc.insecure_channel(f"unix:{strict_peer_unix.target}") as channel, pytest.raises(grpc.RpcError) as err:
        cpb_grpc.ComputeDriverStub(channel).GetCapabilities(cpb.GetCapabilitiesRequest(), timeout=TIMEOUT)
    failure = transport_failure(err.value)
    assert failure is not None and "PROTOCOL_ERROR" in failure.cause, err.value


def test_a_url_is_not_an_endpoint() -> None:
    with pytest.raises(HarnessError, match="give HOST:PORT"):
        open_channel("https://127.0.0.1:8443")
