"""Reference pieces that need no cluster: faults, tokens, store, bearer parsing, namespace policy."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pytest_openshell.reference import faults
from pytest_openshell.reference.gateway.auth import bearer_token
from pytest_openshell.reference.gateway.store import GatewayStore, NameTaken, SandboxRecord
from pytest_openshell.reference.gateway.tokens import TokenIssuer, new_signing_key, verify_sandbox_token
from pytest_openshell.reference.identity import IdentityPolicy
from pytest_openshell.reference.status import REASONS, Denied

REQUIRED_FAULTS = {"skip-owner-uid-check", "trust-annotation-alone", "accept-any-audience", "skip-claim-reanchoring",
                   "ignore-delete-preconditions", "drop-watch-deletes", "report-ready-early", "skip-pod-uid-check",
                   "accept-unknown-sandbox", "refresh-accepts-sa-token", "skip-label-id-check", "stop-not-idempotent"}


def test_fault_catalogue_covers_the_required_mutants() -> None:
    assert REQUIRED_FAULTS <= faults.FAULTS.keys()
    assert all(f.description and f.where and f.components for f in faults.FAULTS.values())
    assert faults.validate(["skip-owner-uid-check", "drop-watch-deletes"], "driver") == {"skip-owner-uid-check", "drop-watch-deletes"}
    with pytest.raises(ValueError, match="unknown"):
        faults.validate(["no-such-fault"], "driver")
    with pytest.raises(ValueError, match="do not apply"):
        faults.validate(["accept-unknown-sandbox"], "driver")


def test_every_denial_has_a_status_code() -> None:
    assert Denied("owner UID mismatch").code == grpc.StatusCode.PERMISSION_DENIED
    assert Denied("audience missing").code == grpc.StatusCode.UNAUTHENTICATED
    assert len(REASONS) == len(set(REASONS))
    with pytest.raises(ValueError):
        Denied("made-up reason")


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer(*new_signing_key(), gateway_id="gw1", ttl_seconds=60)


def test_minted_token_claims(issuer: TokenIssuer) -> None:
    minted = issuer.mint("abc")
    claims = verify_sandbox_token(minted.token, issuer.public_key_pem, "gw1")
    assert {k: claims[k] for k in ("sub", "iss", "aud", "sandbox_id")} == {
        "sub": "spiffe://openshell/sandbox/abc", "iss": "openshell-gateway:gw1", "aud": "openshell-gateway:gw1", "sandbox_id": "abc"}
    assert claims["exp"] - claims["iat"] == 60
    assert jwt.get_unverified_header(minted.token) == {"alg": "EdDSA", "typ": "JWT", "kid": issuer.kid}


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda c: {**c, "exp": int(time.time()) - 5}, "token expired"),
    (lambda c: {**c, "iss": "openshell-gateway:other"}, "issuer mismatch"),
    (lambda c: {**c, "aud": "openshell-gateway:other"}, "audience mismatch"),
    (lambda c: {**c, "sub": "spiffe://openshell/sandbox/other"}, "subject mismatch"),
    (lambda c: {k: v for k, v in c.items() if k != "sandbox_id"}, "token invalid"),
])
def test_refresh_verification_reasons(issuer: TokenIssuer, mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    claims = mutate(issuer.mint("abc").claims)
    token = jwt.encode(claims, issuer._key, algorithm="EdDSA")
    with pytest.raises(Denied) as denied:
        issuer.verify(token)
    assert denied.value.reason == reason


def test_foreign_keys_and_algorithms_are_rejected(issuer: TokenIssuer) -> None:
    forged = jwt.encode(issuer.mint("abc").claims, Ed25519PrivateKey.generate(), algorithm="EdDSA")
    hs = jwt.encode(issuer.mint("abc").claims, "secret-key-of-at-least-32-bytes!!", algorithm="HS256")
    for token in (forged, hs, "not-a-jwt"):
        with pytest.raises(Denied) as denied:
            issuer.verify(token)
        assert denied.value.reason == "token invalid"


def test_store_persists_sandboxes_claims_and_key(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    store = GatewayStore(db)
    store.add_sandbox(SandboxRecord("id1", "one", labels={"team": "a"}))
    with pytest.raises(NameTaken):
        store.add_sandbox(SandboxRecord("id2", "one"))
    store.record_claim("ns", "one", "uid-1", "id1")
    kid, pem = store.signing_key(new_signing_key)
    store.close()

    store = GatewayStore(db)
    assert store.by_name("one") == SandboxRecord("id1", "one", created_at_ms=store.by_name("one").created_at_ms,  # type: ignore[union-attr]
                                                 labels={"team": "a"})
    assert [r.id for r in store.list_sandboxes({"team": "a"})] == ["id1"] and store.list_sandboxes({"team": "b"}) == []
    assert store.claim_sandbox_id("ns", "one", "uid-1") == "id1"
    assert store.claim_sandbox_id("ns", "one", "uid-2") is None, "a recreated claim (new uid) has no record"
    assert store.signing_key(new_signing_key) == (kid, pem)
    assert store.delete_sandbox("id1") is True
    assert store.claim_sandbox_id("ns", "one", "uid-1") is None, "claim bindings go with their sandbox"
    assert store.delete_sandbox("id1") is False
    store.close()


def test_bearer_parsing() -> None:
    assert bearer_token([("authorization", "Bearer abc")]) == "abc"
    assert bearer_token([("Authorization", b"bearer  abc ")]) == "abc"
    assert bearer_token([("authorization", "Basic abc")]) == ""
    assert bearer_token(None) == ""


def test_namespace_policy_modes() -> None:
    assert IdentityPolicy(("team-a",)).allows_namespace("team-a")
    assert not IdentityPolicy(("team-a",)).allows_namespace("team-ab")
    assert IdentityPolicy(("team-",), "prefix").allows_namespace("team-ab")
    assert IdentityPolicy(("a", "b"), "allowlist").allows_namespace("b")
    with pytest.raises(ValueError):
        IdentityPolicy(("a", "b"))  # exact takes one
    with pytest.raises(ValueError):
        IdentityPolicy.build(["a"], "regex")


@pytest.mark.parametrize("fault", sorted(faults.FAULTS))
def test_each_fault_is_switched_at_the_spot_it_names(fault: str) -> None:
    module = Path(faults.__file__).parent / faults.FAULTS[fault].where.split(":")[0]
    assert f'"{fault}"' in module.read_text(), f"{fault} is documented at {module} but not checked there"
