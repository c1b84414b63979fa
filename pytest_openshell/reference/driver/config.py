"""Settings of the reference compute driver."""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_openshell import __version__
from pytest_openshell.contract.labels import DEFAULT_GATEWAY_ID, DEFAULT_SERVICE_ACCOUNT, TOKEN_AUDIENCE, TOKEN_EXPIRATION_S
from pytest_openshell.reference.identity import IdentityPolicy

DRIVER_NAME = "kubernetes"
DEFAULT_IMAGE = "ghcr.io/nvidia/openshell-community/sandboxes/base:latest"
DEFAULT_WORKSPACE = "default"
# Upstream's workspace modes (openshell-driver-kubernetes config.rs). ``shared``: every sandbox in the
# driver's one namespace, objects named ``{workspace}--{name}`` because the namespace isolates
# nothing; ``operator``: the workspace *is* a pre-existing allowed namespace, objects keep bare
# names. Upstream's ``managed`` mode (a namespace per workspace) is not implemented here.
WORKSPACE_MODES = ("shared", "operator")


@dataclass(frozen=True)
class DriverConfig:
    """One driver manages one namespace: in ``shared`` mode (the default, as upstream's) workspaces
    are labels and name prefixes in it; in ``operator`` mode it is the one allowed workspace.

    ``identity`` decides which tokens AuthenticateSandbox accepts; by default the pods this driver
    creates: its namespace, its service account, its token audience.
    """

    namespace: str
    workspace_mode: str = "shared"
    gateway_id: str = DEFAULT_GATEWAY_ID
    service_account: str = DEFAULT_SERVICE_ACCOUNT
    token_audience: str = TOKEN_AUDIENCE
    token_expiration_seconds: int = TOKEN_EXPIRATION_S
    default_image: str = DEFAULT_IMAGE
    reports_runtime_readiness: bool = False  # Ready means "pod healthy", not "supervisor connected"
    identity: IdentityPolicy | None = None
    faults: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.workspace_mode not in WORKSPACE_MODES:
            raise ValueError(f"workspace mode {self.workspace_mode!r}: the reference driver implements {', '.join(WORKSPACE_MODES)}")

    def kube_name(self, workspace: str, name: str) -> str:
        """The platform object's name for a sandbox, as upstream's ``kube_resource_name``."""
        return f"{workspace}--{name}" if self.workspace_mode == "shared" else name

    @property
    def identity_policy(self) -> IdentityPolicy:
        return self.identity or IdentityPolicy((self.namespace,), "exact", self.service_account, self.token_audience)

    @property
    def version(self) -> str:
        return __version__
