"""The reference OpenShell gateway: the openshell.v1 subset the harness tests, over TCP.

In-process: ``handle = start_gateway(driver_socket, db_path, kubeconfig=..., namespaces=[ns])``;
``handle.address``; ``handle.stop()``.
As a host process: ``python -m pytest_openshell.reference.gateway --listen 127.0.0.1:PORT --driver-socket PATH
--kubeconfig PATH --db PATH --gateway-id ID``; without ``--kubeconfig``, in-cluster config (the pod's service
account: how clusters/helm/openshell-reference runs it).
"""

from pytest_openshell.reference.gateway.config import GatewayConfig, IdentitySource, TlsConfig
from pytest_openshell.reference.gateway.server import GatewayHandle, start_gateway
from pytest_openshell.reference.gateway.tokens import verify_sandbox_token

__all__ = ["GatewayConfig", "GatewayHandle", "IdentitySource", "TlsConfig", "start_gateway", "verify_sandbox_token"]
