"""Sandbox credentials at the gateway: who is calling, and may they have (or renew) a token.

IssueSandboxToken: bearer = projected service-account token -> sandbox id, through the identity
chain (run here or, when configured, by the driver's AuthenticateSandbox) -> step 8: the id is a
sandbox this gateway created -> a fresh gateway JWT.
RefreshSandboxToken: bearer = a still-valid gateway JWT -> a fresh one for the same sandbox.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_openshell.reference.gateway.config import GatewayConfig
from pytest_openshell.reference.gateway.driver_client import DriverClient
from pytest_openshell.reference.gateway.store import GatewayStore
from pytest_openshell.reference.gateway.tokens import MintedToken, TokenIssuer
from pytest_openshell.reference.identity import ServiceAccountVerifier
from pytest_openshell.reference.status import Denied


def bearer_token(metadata: Sequence[tuple[str, str | bytes]] | None) -> str:
    """The token of an ``authorization: Bearer <token>`` entry; empty if there is none."""
    for key, value in metadata or ():
        if key.lower() == "authorization":
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    return ""


class SandboxAuthenticator:
    def __init__(self, config: GatewayConfig, store: GatewayStore, issuer: TokenIssuer,
                 verifier: ServiceAccountVerifier, driver: DriverClient) -> None:
        self.config = config
        self.store = store
        self.issuer = issuer
        self.verifier = verifier
        self.driver = driver

    def _sandbox_of_service_account_token(self, token: str) -> str:
        if self.config.identity_source == "driver":
            return self.driver.authenticate(token)
        return self.verifier.verify(token).sandbox_id

    def _known(self, sandbox_id: str) -> str:
        # Step 8: only ids this gateway handed out, and only while the sandbox exists.
        if not self.store.has_sandbox(sandbox_id) and "accept-unknown-sandbox" not in self.config.faults:
            raise Denied("sandbox unknown")
        return sandbox_id

    def issue(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> MintedToken:
        token = bearer_token(metadata)
        if not token:
            raise Denied("missing bearer token")
        return self.issuer.mint(self._known(self._sandbox_of_service_account_token(token)))

    def refresh(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> MintedToken:
        token = bearer_token(metadata)
        if not token:
            raise Denied("missing bearer token")
        try:
            sandbox_id = str(self.issuer.verify(token)["sandbox_id"])
        except Denied:
            if "refresh-accepts-sa-token" not in self.config.faults:
                raise
            sandbox_id = self._sandbox_of_service_account_token(token)
        return self.issuer.mint(self._known(sandbox_id))
