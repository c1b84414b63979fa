"""A minimal HTTPS client for the apiserver, used while booting.

The supervisor needs a handful of calls (health, create, get) before anything else is up;
importing the full Kubernetes client for that would cost more than the calls themselves.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

STARTING = (429, 500, 503, 504)  # what a serving apiserver may answer until its post-start hooks are done


class RestClient:
    def __init__(self, server: str, ca: Path, cert: Path, key: Path, timeout: float = 10.0) -> None:
        self.server = server.rstrip("/")
        self.timeout = timeout
        self._ctx = ssl.create_default_context(cafile=str(ca))
        self._ctx.load_cert_chain(str(cert), str(key))

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self._ctx, timeout=self.timeout) as resp:
                raw = resp.read()
                return resp.status, _decode(raw)
        except urllib.error.HTTPError as err:
            return err.code, _decode(err.read())

    def healthy(self, path: str = "/readyz") -> bool:
        try:
            status, _ = self.request("GET", path)
        except (OSError, ssl.SSLError):
            return False
        return status == 200

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST, treating AlreadyExists as success (boot steps are idempotent)."""
        status, out = self.request("POST", path, body)
        if status not in (200, 201, 202, 409):
            raise RuntimeError(f"POST {path} -> {status}: {out}")
        return out if isinstance(out, dict) else {}

    def try_create(self, path: str, body: dict[str, Any]) -> bool:
        """POST once, for an apiserver that serves but may still be starting: True when created (or
        there already), False on what a starting apiserver answers (no connection, 429, 5xx)."""
        try:
            status, out = self.request("POST", path, body)
        except (OSError, ssl.SSLError):
            return False
        if status in (200, 201, 202, 409):
            return True
        if status in STARTING:
            return False
        raise RuntimeError(f"POST {path} -> {status}: {out}")

    def serving(self) -> bool:
        """The apiserver answers (kwokctl's readiness: ``/version``), before its post-start hooks are done."""
        try:
            status, _ = self.request("GET", "/version")
        except (OSError, ssl.SSLError):
            return False
        return status == 200

    def get(self, path: str) -> dict[str, Any] | None:
        status, out = self.request("GET", path)
        if status == 404:
            return None
        if status != 200:
            raise RuntimeError(f"GET {path} -> {status}: {out}")
        return out if isinstance(out, dict) else None

    def watch_until(self, collection: str, done: Callable[[dict[str, dict[str, Any]]], bool], timeout: float) -> bool:
        """List ``collection``, then watch it from that list's resourceVersion until ``done`` holds for
        the objects it holds (by name); False when ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        listed = self.get(collection) or {}
        objs = {o["metadata"]["name"]: o for o in listed.get("items") or []}
        rv = (listed.get("metadata") or {}).get("resourceVersion", "")
        while not done(objs):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            sep = "&" if "?" in collection else "?"
            url = f"{self.server}{collection}{sep}watch=1&resourceVersion={rv}&timeoutSeconds={max(1, int(left))}"
            try:
                with urllib.request.urlopen(url, context=self._ctx, timeout=left) as resp:
                    for line in resp:  # one JSON event per line, as the apiserver streams them
                        event = json.loads(line)
                        obj = event["object"]
                        if event["type"] == "ERROR":
                            raise RuntimeError(f"watch {collection}: {obj}")
                        rv = obj["metadata"].get("resourceVersion", rv)
                        if event["type"] == "DELETED":
                            objs.pop(obj["metadata"]["name"], None)
                        elif event["type"] in ("ADDED", "MODIFIED"):
                            objs[obj["metadata"]["name"]] = obj
                        if done(objs):
                            return True
            except TimeoutError:
                return False
        return True


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")
