"""Start the reference compute driver on a Unix socket, in-process."""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent import futures
from pathlib import Path

import grpc
from kubernetes import client as k8s

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2_grpc as pb_grpc
from pytest_openshell.contract.labels import DEFAULT_GATEWAY_ID, DEFAULT_SERVICE_ACCOUNT, TOKEN_AUDIENCE
from pytest_openshell.reference import faults as fault_catalogue
from pytest_openshell.reference.driver.config import DEFAULT_IMAGE, DriverConfig
from pytest_openshell.reference.driver.service import ComputeDriverService
from pytest_openshell.reference.identity import IdentityPolicy
from pytest_openshell.reference.kube import AgentSandboxResources, open_api
from pytest_openshell.reference.serving import ServerHandle, new_server

MAX_SOCKET_PATH = 107  # sun_path is 108 bytes including the terminating NUL


class DriverHandle(ServerHandle):
    """A running driver. ``address`` is the gRPC target (``unix:/path``)."""

    def __init__(self, server: grpc.Server, executor: futures.ThreadPoolExecutor, socket_path: Path,
                 service: ComputeDriverService) -> None:
        super().__init__(server, executor, f"unix:{socket_path}")
        self.socket_path = socket_path
        self.service = service

    @property
    def config(self) -> DriverConfig:
        return self.service.config


def start_driver(
    socket_path: str | Path,
    namespace: str,
    *,
    kubeconfig: str | Path | None = None,
    api_client: k8s.ApiClient | None = None,
    kube_context: str | None = None,
    gateway_id: str = DEFAULT_GATEWAY_ID,
    service_account: str = DEFAULT_SERVICE_ACCOUNT,
    token_audience: str = TOKEN_AUDIENCE,
    default_image: str = DEFAULT_IMAGE,
    identity: IdentityPolicy | None = None,
    reports_runtime_readiness: bool = False,
    faults: Iterable[str] = frozenset(),
    max_workers: int = 16,
    workspace_mode: str = "shared",
) -> DriverHandle:
    """Serve ``openshell.compute.v1.ComputeDriver`` on ``socket_path`` for sandboxes in ``namespace``.

    Give the cluster as ``kubeconfig`` (the driver opens and closes its own client) or as an open
    ``api_client`` (left open on stop). ``identity`` decides which tokens AuthenticateSandbox accepts
    (default: ``service_account`` tokens for ``token_audience`` in ``namespace``). ``faults`` switches
    on named mutants from :mod:`pytest_openshell.reference.faults` (tests only). ``workspace_mode``
    is upstream's: ``shared`` (default; objects named ``{workspace}--{name}``) or ``operator``
    (``namespace`` is the one allowed workspace; bare names).
    """
    path = Path(socket_path)
    if len(str(path)) > MAX_SOCKET_PATH:
        raise ValueError(f"socket path {path} is longer than {MAX_SOCKET_PATH} bytes")
    config = DriverConfig(namespace=namespace, workspace_mode=workspace_mode, gateway_id=gateway_id, service_account=service_account,
                          token_audience=token_audience, default_image=default_image, identity=identity,
                          reports_runtime_readiness=reports_runtime_readiness,
                          faults=fault_catalogue.validate(faults, "driver"))
    api, owned = open_api(kubeconfig, api_client, kube_context)
    try:
        service = ComputeDriverService(config, AgentSandboxResources(api))
        server, executor = new_server(max_workers)
        pb_grpc.add_ComputeDriverServicer_to_server(service, server)
        if path.is_socket():
            path.unlink()  # a stale socket from a killed run; a live server would hold it open, not bind it
        address = f"unix:{path}"
        if server.add_insecure_port(address) == 0:
            raise OSError(f"could not bind {address}")
        server.start()
    except BaseException:
        if owned:
            api.close()
        raise
    handle = DriverHandle(server, executor, path, service)
    handle.before_stop(service.stop_watches)
    if owned:
        handle.on_stop(api.close)
    handle.on_stop(lambda: _unlink(path))
    return handle


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
