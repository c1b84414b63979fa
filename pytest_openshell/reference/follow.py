"""List-then-watch one resource in a thread, like an informer, with a stop that takes effect at once.

A server streams platform changes for as long as a client listens, and must stop promptly when
the client goes away or the server shuts down. The Kubernetes client's own ``Watch.stop()`` only
takes effect at the next event; :meth:`Follower.stop` ends the read at once (kube.watchstream) and
joins the thread. Objects are handled as the raw JSON dicts the API serves.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException

from pytest_openshell.kube.watchstream import WatchConnection
from pytest_openshell.objects import Obj

log = logging.getLogger(__name__)
WATCH_CHUNK_S = 300
RETRY_S = 1.0
Handler = Callable[[str, Obj], None]  # (ADDED | MODIFIED | DELETED | LIST, object)


class Follower:
    """Calls ``handler`` for every object of ``list_fn(**kwargs)``: LIST for the state at start (and
    after a relist), then ADDED / MODIFIED / DELETED. A relist reports objects that vanished
    meanwhile as DELETED, so a consumer never misses a deletion."""

    def __init__(self, list_fn: Callable[..., Any], handler: Handler, *, name: str, **list_kwargs: Any) -> None:
        self._list_fn = list_fn
        self._handler = handler
        self._kwargs = list_kwargs
        self.name = name
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conn = WatchConnection()
        self._known: dict[str, Obj] = {}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """List synchronously (errors surface to the caller), then watch in a thread."""
        rv = self._relist()
        # Under the lock: a stop() racing this (the server shutting down while a stream opens) sees
        # either no thread, and then none starts, or a started one it can join.
        with self._lock:
            if self._stop.is_set():
                return
            self._thread = threading.Thread(target=self._run, args=(rv,), name=f"follow-{self.name}", daemon=True)
            self._thread.start()

    def _relist(self) -> str | None:
        # resourceVersion "0": any recent state from the API server's cache, like client-go informers; the
        # watch from the listed resourceVersion then delivers everything after it. A consistent list
        # would first wait for the cache to catch up with etcd (about a second on a fresh resource).
        listing = json.loads(self._list_fn(_preload_content=False, resource_version="0", **self._kwargs).data)
        current = {str(o["metadata"]["name"]): o for o in listing.get("items") or []}
        for name, obj in list(self._known.items()):
            if name not in current:
                self._handler("DELETED", obj)
        for obj in current.values():
            self._handler("LIST", obj)
        self._known = current
        rv: str | None = listing.get("metadata", {}).get("resourceVersion")
        return rv

    def _run(self, rv: str | None) -> None:
        while not self._stop.is_set():
            try:
                rv = self._watch_once(rv)
            except ApiException as exc:
                if self._stop.is_set():
                    return
                if exc.status != 410:
                    log.warning("watch of %s failed: %s", self.name, exc)
                    self._stop.wait(RETRY_S)  # back off, but wake at once on stop
                rv = self._safe_relist(rv)
            except Exception as exc:  # a shut-down response surfaces as a protocol/connection error
                if self._stop.is_set():
                    return
                log.warning("watch of %s broke: %s", self.name, exc)
                self._stop.wait(RETRY_S)
                rv = self._safe_relist(rv)

    def _safe_relist(self, rv: str | None) -> str | None:
        try:
            return self._relist()
        except Exception as exc:
            log.warning("relist of %s failed: %s", self.name, exc)
            return rv

    def _watch_once(self, rv: str | None) -> str | None:
        for event in self._conn.events(self._list_fn, rv, timeout_s=WATCH_CHUNK_S, **self._kwargs):
            kind, obj = event["type"], event["object"]
            if kind == "ERROR":
                raise ApiException(status=obj.get("code", 500), reason=obj.get("message"))
            rv = obj.get("metadata", {}).get("resourceVersion", rv)
            if kind == "BOOKMARK":
                continue
            name = str(obj["metadata"]["name"])
            if kind == "DELETED":
                self._known.pop(name, None)
            else:
                self._known[name] = obj
            self._handler(kind, obj)
        return rv

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._conn.close()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
