"""Label and annotation keys agent-sandbox writes, and how it derives the name hash."""

from __future__ import annotations

CORE_GROUP = "agents.x-k8s.io"
EXT_GROUP = "extensions.agents.x-k8s.io"

NAME_HASH = f"{CORE_GROUP}/sandbox-name-hash"
CLAIM_UID = f"{CORE_GROUP}/claim-uid"
LAUNCH_TYPE = f"{CORE_GROUP}/launch-type"
WARM_POOL_SANDBOX = f"{CORE_GROUP}/warm-pool-sandbox"
POD_NAME_ANNOTATION = f"{CORE_GROUP}/pod-name"
# The controller records claim_startup_latency_ms only for claims a client stamped with this.
FIRST_OBSERVED_ANNOTATION = f"{CORE_GROUP}/webhook-first-observed-at"


def name_hash(name: str) -> str:
    """FNV-1a 32-bit of the name as 8 lowercase hex chars, as agent-sandbox computes it."""
    h = 0x811C9DC5
    for byte in name.encode():
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return f"{h:08x}"
