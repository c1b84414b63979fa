"""Where the verifier looks up warm-claim bindings: (namespace, claim name, claim uid) -> sandbox id.

The binding must come from whoever created the claim, never from the cluster: anyone able to
create a SandboxClaim could otherwise label one with someone else's sandbox id. The gateway
keeps it in its SQLite store; a driver keeps the claims it created itself.
"""

from __future__ import annotations

import threading
from typing import Protocol


class ClaimRecords(Protocol):
    def claim_sandbox_id(self, namespace: str, claim_name: str, claim_uid: str) -> str | None:
        """The sandbox id recorded for exactly this claim incarnation, or None."""


class MemoryClaimRecords:
    """Claim bindings held in memory (a driver's own claims, lost on restart: verification then fails closed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[tuple[str, str, str], str] = {}

    def record_claim(self, namespace: str, claim_name: str, claim_uid: str, sandbox_id: str) -> None:
        with self._lock:
            self._records[(namespace, claim_name, claim_uid)] = sandbox_id

    def forget_claim(self, namespace: str, claim_name: str) -> None:
        with self._lock:
            for key in [k for k in self._records if k[:2] == (namespace, claim_name)]:
                del self._records[key]

    def claim_sandbox_id(self, namespace: str, claim_name: str, claim_uid: str) -> str | None:
        with self._lock:
            return self._records.get((namespace, claim_name, claim_uid))
