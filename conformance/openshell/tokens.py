"""An expired pod-bound token, signed like the apiserver signs them.

TokenRequest refuses lifetimes under ten minutes, so a token that is already expired can only be
made with the cluster's service-account signing key: on the embedded cluster the harness holds it.
The unexpired twin (same claims, same key) is the control that proves only the expiry differs.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest

from pytest_openshell.contract.labels import TOKEN_AUDIENCE
from pytest_openshell.embedded.layout import SA_ISSUER
from pytest_openshell.suite.context import SuiteContext


def expired_pod_token(ctx: SuiteContext, pod: dict[str, Any], service_account: str = "default") -> tuple[str, str]:
    key_file = Path(ctx.cluster.kubeconfig).parent / "pki" / "sa.key"
    if not key_file.exists():
        # The embedded cluster keeps it beside its kubeconfig (also when used as --openshell-cluster=existing);
        # the unexpired twin, which must be accepted, proves the key is the cluster's.
        ctx.unsupported(["ExpiredTokens"], "minting an expired token needs the cluster's signing key (the embedded cluster's pki/sa.key)")
    ns, name, uid = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"]
    sa_meta = ctx.core.read_namespaced_service_account(service_account, ns).metadata
    assert sa_meta is not None
    sa_uid = sa_meta.uid
    key = key_file.read_bytes()
    now = int(time.time())

    def token(iat: int, exp: int) -> str:
        claims = {
            "iss": SA_ISSUER, "aud": [TOKEN_AUDIENCE], "sub": f"system:serviceaccount:{ns}:{service_account}",
            "iat": iat, "nbf": iat, "exp": exp, "jti": str(uuid.uuid4()),
            "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": service_account, "uid": sa_uid},
                              "pod": {"name": name, "uid": uid}},
        }
        return jwt.encode(claims, key, algorithm="ES256")

    return token(now - 5, now + 600), token(now - 1200, now - 600)


__all__ = ["expired_pod_token", "pytest"]
