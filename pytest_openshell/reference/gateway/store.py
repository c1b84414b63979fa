"""The gateway's persistent state in SQLite: sandboxes, warm-claim bindings and its signing key.

Sandbox ids live here, not in the cluster: identity verification ends by checking that an id
is one this gateway created (step 8), and warm claims are bound to ids through records only the
gateway writes. The signing key is kept so tokens stay valid across gateway restarts.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS sandboxes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    namespace TEXT NOT NULL,
    workspace TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    labels TEXT NOT NULL,
    spec BLOB NOT NULL,
    resource_version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS warm_claims (
    namespace TEXT NOT NULL,
    claim_name TEXT NOT NULL,
    claim_uid TEXT NOT NULL,
    sandbox_id TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
    PRIMARY KEY (namespace, claim_name, claim_uid)
);
CREATE TABLE IF NOT EXISTS signing_keys (
    kid TEXT PRIMARY KEY,
    private_pem BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL
);
"""


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class SandboxRecord:
    id: str
    name: str
    namespace: str = ""
    workspace: str = "default"
    created_at_ms: int = field(default_factory=now_ms)
    labels: dict[str, str] = field(default_factory=dict)
    spec: bytes = b""  # serialized openshell.v1.SandboxSpec, as the caller sent it
    resource_version: int = 1


class NameTaken(Exception):
    """A sandbox with that name exists."""


class GatewayStore:
    """Thread-safe: one connection behind a lock (the gateway's request rate is tiny)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- sandboxes --------------------------------------------------------------------------------
    def add_sandbox(self, rec: SandboxRecord) -> None:
        with self._lock:
            try:
                self._db.execute("INSERT INTO sandboxes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                 (rec.id, rec.name, rec.namespace, rec.workspace, rec.created_at_ms,
                                  json.dumps(rec.labels, sort_keys=True), rec.spec, rec.resource_version))
            except sqlite3.IntegrityError as exc:
                raise NameTaken(rec.name) from exc

    @staticmethod
    def _record(row: tuple[Any, ...]) -> SandboxRecord:
        return SandboxRecord(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), bytes(row[6]), row[7])

    def _one(self, where: str, value: str) -> SandboxRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT * FROM sandboxes WHERE {where} = ?", (value,)).fetchone()
        return self._record(row) if row else None

    def by_name(self, name: str) -> SandboxRecord | None:
        return self._one("name", name)

    def by_id(self, sandbox_id: str) -> SandboxRecord | None:
        return self._one("id", sandbox_id)

    def has_sandbox(self, sandbox_id: str) -> bool:
        return self.by_id(sandbox_id) is not None

    def list_sandboxes(self, selector: dict[str, str] | None = None) -> list[SandboxRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM sandboxes ORDER BY created_at_ms, name").fetchall()
        records = [self._record(r) for r in rows]
        if selector:
            records = [r for r in records if all(r.labels.get(k) == v for k, v in selector.items())]
        return records

    def delete_sandbox(self, sandbox_id: str) -> bool:
        """Forget a sandbox and its claim bindings."""
        with self._lock:
            return self._db.execute("DELETE FROM sandboxes WHERE id = ?", (sandbox_id,)).rowcount > 0

    # -- warm claims ------------------------------------------------------------------------------
    def record_claim(self, namespace: str, claim_name: str, claim_uid: str, sandbox_id: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO warm_claims VALUES (?, ?, ?, ?)",
                             (namespace, claim_name, claim_uid, sandbox_id))

    def claim_sandbox_id(self, namespace: str, claim_name: str, claim_uid: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT sandbox_id FROM warm_claims WHERE namespace = ? AND claim_name = ? AND claim_uid = ?",
                                   (namespace, claim_name, claim_uid)).fetchone()
        return str(row[0]) if row else None

    # -- signing key ------------------------------------------------------------------------------
    def signing_key(self, create: Callable[[], tuple[str, bytes]]) -> tuple[str, bytes]:
        """The gateway's (kid, private key PEM), created with ``create()`` on first use."""
        with self._lock:
            row = self._db.execute("SELECT kid, private_pem FROM signing_keys ORDER BY created_at_ms LIMIT 1").fetchone()
            if row:
                return str(row[0]), bytes(row[1])
            kid, pem = create()
            self._db.execute("INSERT INTO signing_keys VALUES (?, ?, ?)", (kid, pem, now_ms()))
            return kid, pem
