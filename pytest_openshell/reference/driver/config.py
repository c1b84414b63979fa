"""Settings of the reference compute driver."""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_openshell import __version__
from pytest_openshell.contract.labels import DEFAULT_GATEWAY_ID, DEFAULT_SERVICE_ACCOUNT, TOKEN_AUDIENCE, TOKEN_EXPIRATION_S
from pytest_openshell.reference.identity import IdentityPolicy

DRIVER_NAME = "kubernetes"
DEFAULT_IMAGE = "ghcr.io/nvidia/openshell-community/sandboxes/base:latest"
DEFAULT_WORKSPACE = "default"


@dataclass(frozen=True)
class DriverConfig:
    """One driver manages one namespace ("shared-namespace" mode: workspaces are labels in it).

    ``identity`` decides which tokens AuthenticateSandbox accepts; by default the pods this driver
    creates: its namespace, its service account, its token audience.
    """

    namespace: str
    gateway_id: str = DEFAULT_GATEWAY_ID
    service_account: str = DEFAULT_SERVICE_ACCOUNT
    token_audience: str = TOKEN_AUDIENCE
    token_expiration_seconds: int = TOKEN_EXPIRATION_S
    default_image: str = DEFAULT_IMAGE
    reports_runtime_readiness: bool = False  # Ready means "pod healthy", not "supervisor connected"
    identity: IdentityPolicy | None = None
    faults: frozenset[str] = field(default_factory=frozenset)

    @property
    def identity_policy(self) -> IdentityPolicy:
        return self.identity or IdentityPolicy((self.namespace,), "exact", self.service_account, self.token_audience)

    @property
    def version(self) -> str:
        return __version__
