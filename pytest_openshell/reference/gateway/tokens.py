"""Gateway-minted sandbox tokens: EdDSA (Ed25519) JWTs.

Claims: ``sub`` = ``spiffe://openshell/sandbox/<id>``, ``iss`` = ``aud`` = ``openshell-gateway:<gateway_id>``,
``iat``, ``exp`` and ``sandbox_id``. Only such tokens are accepted for refresh: the algorithm is pinned
to EdDSA, so a service-account token (RS256/ES256 from the API server) is rejected before anything
else is looked at.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pytest_openshell.contract.labels import issuer, spiffe_id
from pytest_openshell.reference.status import Denied

ALGORITHM = "EdDSA"
REQUIRED_CLAIMS = ["sub", "iss", "aud", "iat", "exp", "sandbox_id"]


def new_signing_key() -> tuple[str, bytes]:
    """A fresh (kid, PKCS#8 PEM) pair; the kid is derived from the public key."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return _kid(key.public_key()), pem


def _kid(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class MintedToken:
    token: str
    expires_at_ms: int
    claims: dict[str, Any]


def verify_sandbox_token(token: str, public_key: Ed25519PublicKey | bytes, gateway_id: str) -> dict[str, Any]:
    """The claims of a valid gateway-minted sandbox token, or :class:`Denied` with the reason it is not."""
    key = serialization.load_pem_public_key(public_key) if isinstance(public_key, bytes) else public_key
    expected = issuer(gateway_id)
    try:
        claims: dict[str, Any] = jwt.decode(token, key, algorithms=[ALGORITHM], audience=expected, issuer=expected,  # type: ignore[arg-type]
                                            options={"require": REQUIRED_CLAIMS})
    except jwt.ExpiredSignatureError as exc:
        raise Denied("token expired") from exc
    except jwt.InvalidIssuerError as exc:
        raise Denied("issuer mismatch") from exc
    except jwt.InvalidAudienceError as exc:
        raise Denied("audience mismatch") from exc
    except jwt.PyJWTError as exc:
        raise Denied("token invalid") from exc
    sandbox_id = claims.get("sandbox_id")
    if not isinstance(sandbox_id, str) or not sandbox_id or claims.get("sub") != spiffe_id(sandbox_id):
        raise Denied("subject mismatch")
    return claims


class TokenIssuer:
    def __init__(self, kid: str, private_pem: bytes, gateway_id: str, ttl_seconds: int) -> None:
        key = serialization.load_pem_private_key(private_pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the gateway signing key must be Ed25519")
        self._key = key
        self.kid = kid
        self.gateway_id = gateway_id
        self.ttl_seconds = ttl_seconds

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    @property
    def public_key_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def mint(self, sandbox_id: str) -> MintedToken:
        now = int(time.time())
        expires = now + self.ttl_seconds
        claims: dict[str, Any] = {"sub": spiffe_id(sandbox_id), "iss": issuer(self.gateway_id), "aud": issuer(self.gateway_id),
                                  "iat": now, "exp": expires, "sandbox_id": sandbox_id}
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})
        return MintedToken(token, expires * 1000, claims)

    def verify(self, token: str) -> dict[str, Any]:
        return verify_sandbox_token(token, self.public_key, self.gateway_id)
