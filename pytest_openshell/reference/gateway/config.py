"""Settings of the reference gateway."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from pytest_openshell import __version__
from pytest_openshell.contract.labels import DEFAULT_GATEWAY_ID
from pytest_openshell.reference.identity import IdentityPolicy

IdentitySource = Literal["gateway", "driver"]
IDENTITY_SOURCES: tuple[str, ...] = get_args(IdentitySource)
DEFAULT_TOKEN_TTL_S = 3600
DEFAULT_NAMESPACES = ("openshell",)


@dataclass(frozen=True)
class TlsConfig:
    """Server certificate and key (PEM files); with ``client_ca`` the gateway requires client certificates (mTLS)."""

    cert: Path
    key: Path
    client_ca: Path | None = None


@dataclass(frozen=True)
class GatewayConfig:
    """``identity_source``: who runs the service-account chain for IssueSandboxToken: the gateway itself
    (``gateway``, the default) or the driver's AuthenticateSandbox (``driver``). Either way the
    gateway then checks the id against its store and mints the token."""

    gateway_id: str = DEFAULT_GATEWAY_ID
    identity: IdentityPolicy = field(default_factory=lambda: IdentityPolicy(DEFAULT_NAMESPACES))
    identity_source: IdentitySource = "gateway"
    token_ttl_seconds: int = DEFAULT_TOKEN_TTL_S
    # DriverSandbox.workspace of every sandbox it creates: upstream's gateway sends "default" unless
    # told otherwise (a driver in operator mode needs the namespace's name here).
    workspace: str = "default"
    faults: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.identity_source not in IDENTITY_SOURCES:
            raise ValueError(f"identity_source must be one of {IDENTITY_SOURCES}")
        if self.token_ttl_seconds <= 0:
            raise ValueError("token_ttl_seconds must be positive")

    @property
    def version(self) -> str:
        return __version__
