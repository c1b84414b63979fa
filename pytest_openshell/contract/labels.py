"""Label, annotation and metadata keys of OpenShell's Kubernetes path (see shared DOMAIN notes)."""

from __future__ import annotations

import re

# On the Sandbox (and SandboxClaim) objects the driver creates, and on their pods.
SANDBOX_ID = "openshell.ai/sandbox-id"
SANDBOX_NAME = "openshell.ai/sandbox-name"
SANDBOX_WORKSPACE = "openshell.ai/sandbox-workspace"
MANAGED_BY = "openshell.ai/managed-by"
MANAGED_BY_VALUE = "openshell"
GATEWAY_ID = "openshell.ai/gateway-id"

# The pod's claim to an identity. Note `.io`, not `.ai`: upstream spells it this way.
POD_SANDBOX_ID = "openshell.io/sandbox-id"

# Our choice (the warm path is not upstream yet): a SandboxWarmPool the driver may draw from.
WARM_POOL = "openshell.ai/warm-pool"
WARM_POOL_VALUE = "true"

# Metadata prefixes callers may not set: they carry identity or controller state.
RESERVED_PREFIXES = ("openshell.io/", "openshell.ai/", "agents.x-k8s.io/", "extensions.agents.x-k8s.io/", "spiffe.io/")

# The projected service-account token the in-pod supervisor presents to the gateway.
TOKEN_AUDIENCE = "openshell-gateway"
TOKEN_VOLUME = "openshell-sa-token"
TOKEN_MOUNT_PATH = "/var/run/secrets/openshell"
TOKEN_FILE = "token"
TOKEN_EXPIRATION_S = 3600

# TokenReview user.extra keys of a pod-bound service-account token.
POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name"
POD_UID_EXTRA = "authentication.kubernetes.io/pod-uid"

# gRPC trailing metadata on ComputeDriver.CreateSandbox: "<namespace>/<claim name>/<claim uid>" when
# the driver took the warm path. Ours, not upstream: how the gateway learns, from the party that
# created the claim, which (namespace, claim, uid) its new sandbox id is bound to.
WARM_CLAIM_METADATA = "x-openshell-warm-claim"

DEFAULT_GATEWAY_ID = "openshell"
DEFAULT_SERVICE_ACCOUNT = "default"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")


def managed_selector(gateway_id: str) -> str:
    """Selects what one gateway's driver created."""
    return f"{MANAGED_BY}={MANAGED_BY_VALUE},{GATEWAY_ID}={gateway_id}"


def is_reserved(key: str) -> bool:
    return key.startswith(RESERVED_PREFIXES)


def is_dns_label(name: str) -> bool:
    return bool(_DNS_LABEL.match(name))


def is_label_value(value: str) -> bool:
    return len(value) <= 63 and bool(_LABEL_VALUE.match(value))


def issuer(gateway_id: str) -> str:
    """``iss`` and ``aud`` of the gateway's sandbox tokens."""
    return f"openshell-gateway:{gateway_id}"


def spiffe_id(sandbox_id: str) -> str:
    """``sub`` of a sandbox token."""
    return f"spiffe://openshell/sandbox/{sandbox_id}"
