"""Start the reference gateway in-process: gRPC on TCP, plaintext or TLS/mTLS."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent import futures
from pathlib import Path

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from kubernetes import client as k8s

from pytest_openshell._proto.openshell.v1 import openshell_pb2_grpc as opb_grpc
from pytest_openshell.contract.clients import driver_channel
from pytest_openshell.contract.labels import DEFAULT_GATEWAY_ID, DEFAULT_SERVICE_ACCOUNT, TOKEN_AUDIENCE, issuer
from pytest_openshell.reference import faults as fault_catalogue
from pytest_openshell.reference.gateway.auth import SandboxAuthenticator
from pytest_openshell.reference.gateway.config import DEFAULT_NAMESPACES, DEFAULT_TOKEN_TTL_S, GatewayConfig, IdentitySource, TlsConfig
from pytest_openshell.reference.gateway.driver_client import DriverClient
from pytest_openshell.reference.gateway.service import OpenShellService
from pytest_openshell.reference.gateway.store import GatewayStore
from pytest_openshell.reference.gateway.tokens import TokenIssuer, new_signing_key
from pytest_openshell.reference.identity import IdentityPolicy, ServiceAccountVerifier
from pytest_openshell.reference.kube import AgentSandboxResources, open_api
from pytest_openshell.reference.serving import ServerHandle, new_server


class GatewayHandle(ServerHandle):
    """A running gateway. ``address`` is ``host:port``; ``public_key`` verifies the tokens it mints."""

    def __init__(self, server: grpc.Server, executor: futures.ThreadPoolExecutor, host: str, port: int,
                 service: OpenShellService, tokens: TokenIssuer, tls: TlsConfig | None) -> None:
        super().__init__(server, executor, f"{host}:{port}")
        self.host = host
        self.port = port
        self.service = service
        self.tokens = tokens
        self.tls = tls

    @property
    def config(self) -> GatewayConfig:
        return self.service.config

    @property
    def gateway_id(self) -> str:
        return self.config.gateway_id

    @property
    def issuer(self) -> str:
        """``iss`` and ``aud`` of the tokens this gateway mints."""
        return issuer(self.gateway_id)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.tokens.public_key

    @property
    def public_key_pem(self) -> bytes:
        return self.tokens.public_key_pem


def _server_credentials(tls: TlsConfig) -> grpc.ServerCredentials:
    pair = [(tls.key.read_bytes(), tls.cert.read_bytes())]
    if tls.client_ca is None:
        return grpc.ssl_server_credentials(pair)
    return grpc.ssl_server_credentials(pair, root_certificates=tls.client_ca.read_bytes(), require_client_auth=True)


def start_gateway(
    driver_socket: str | Path,
    db_path: str | Path,
    *,
    kubeconfig: str | Path | None = None,
    api_client: k8s.ApiClient | None = None,
    kube_context: str | None = None,
    listen: str = "127.0.0.1:0",
    gateway_id: str = DEFAULT_GATEWAY_ID,
    sandbox_service_account: str = DEFAULT_SERVICE_ACCOUNT,
    namespace_mode: str = "exact",
    namespaces: Sequence[str] = DEFAULT_NAMESPACES,
    audience: str = TOKEN_AUDIENCE,
    identity_source: IdentitySource = "gateway",
    token_ttl_seconds: int = DEFAULT_TOKEN_TTL_S,
    tls: TlsConfig | None = None,
    faults: Iterable[str] = frozenset(),
    max_workers: int = 16,
    workspace: str = "default",
) -> GatewayHandle:
    """Serve the ``openshell.v1.OpenShell`` subset on ``listen`` (port 0: any free port; see ``handle.port``).

    Sandboxes are created through the ComputeDriver at ``driver_socket``; ids, warm-claim bindings
    and the Ed25519 signing key persist in the SQLite file ``db_path``. The cluster is given as
    ``kubeconfig`` (opened and closed by the gateway) or an open ``api_client`` (left open).
    Sandbox tokens must come from ``sandbox_service_account`` with ``audience``, in namespaces
    allowed by ``namespace_mode`` (exact | prefix | allowlist) over ``namespaces``.
    ``faults`` switches on named mutants from :mod:`pytest_openshell.reference.faults` (tests only).
    """
    policy = IdentityPolicy.build(namespaces, namespace_mode, sandbox_service_account, audience)
    config = GatewayConfig(gateway_id=gateway_id, identity=policy, identity_source=identity_source,
                           token_ttl_seconds=token_ttl_seconds, workspace=workspace,
                           faults=fault_catalogue.validate(faults, "gateway"))
    api, owned_api = open_api(kubeconfig, api_client, kube_context)
    closers = [api.close] if owned_api else []
    try:
        store = GatewayStore(db_path)
        closers.append(store.close)
        driver = DriverClient(driver_channel(driver_socket))
        closers.append(driver.close)
        tokens = TokenIssuer(*store.signing_key(new_signing_key), gateway_id=gateway_id, ttl_seconds=token_ttl_seconds)
        verifier = ServiceAccountVerifier(api, policy, store, config.faults, AgentSandboxResources(api))
        service = OpenShellService(config, store, driver, SandboxAuthenticator(config, store, tokens, verifier, driver))
        server, executor = new_server(max_workers)
        opb_grpc.add_OpenShellServicer_to_server(service, server)
        host = listen.rpartition(":")[0].strip("[]")
        port = (server.add_secure_port(listen, _server_credentials(tls)) if tls else server.add_insecure_port(listen))
        if port == 0:
            raise OSError(f"could not bind {listen}")
        server.start()
    except BaseException:
        for close in reversed(closers):
            close()
        raise
    handle = GatewayHandle(server, executor, host or "127.0.0.1", port, service, tokens, tls)
    for close in closers:
        handle.on_stop(close)
    return handle
