"""One WatchSandboxes stream: snapshots, deletions and platform events from three followers.

Sandboxes (cold) and SandboxClaims (warm) the driver manages produce snapshots and deletions;
core/v1 Events about those objects and their pods become platform events. Events name objects,
not sandbox ids, so the stream keeps a name -> id map from what it has seen: a cold Sandbox and its
pod share the sandbox's name; a claim and the pool Sandbox (and pod) it adopted both map to the
claim's id.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from kubernetes import client as k8s

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as pb
from pytest_openshell.contract.labels import SANDBOX_ID, managed_selector
from pytest_openshell.reference.driver.config import DriverConfig
from pytest_openshell.reference.driver.observe import bound_sandbox, platform_event, to_driver_sandbox
from pytest_openshell.reference.follow import Follower, Handler
from pytest_openshell.reference.kube import AgentSandboxResources, Obj, Resource, labels, meta

EVENT_KINDS = {"Sandbox", "SandboxClaim", "Pod"}


class SandboxWatch:
    def __init__(self, config: DriverConfig, resources: AgentSandboxResources) -> None:
        self.config = config
        self.res = resources
        self._queue: queue.Queue[pb.WatchSandboxesEvent | None] = queue.Queue()
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}
        self._stopped = threading.Event()
        self.shutdown = False  # stopped because the server is going away, not because the client left
        selector = managed_selector(config.gateway_id)
        ns = config.namespace
        self._objects = [Follower(resources.lister(r, ns), self._object_handler(r), name=f"{r.plural}/{ns}",
                                  label_selector=selector) for r in (resources.sandbox, resources.claim) if r is not None]
        self._events = Follower(k8s.CoreV1Api(resources.api).list_namespaced_event, self._on_event, name=f"events/{ns}",
                                namespace=ns)

    def start(self) -> None:
        # Objects first, so the name map knows every sandbox before the first event is looked up.
        for follower in self._objects:
            follower.start()
        self._events.start()

    def _object_handler(self, resource: Resource) -> Handler:
        def handle(kind: str, obj: Obj) -> None:
            obj.setdefault("kind", resource.kind)
            sandbox_id = labels(obj).get(SANDBOX_ID, "")
            if not sandbox_id:
                return
            names = {str(meta(obj).get("name")), bound_sandbox(obj)} - {""}
            with self._lock:
                for name in names:
                    if kind == "DELETED":
                        self._names.pop(name, None)
                    else:
                        self._names[name] = sandbox_id
            if kind == "DELETED":
                if "drop-watch-deletes" not in self.config.faults:
                    self._put(pb.WatchSandboxesEvent(deleted=pb.WatchSandboxesDeletedEvent(sandbox_id=sandbox_id)))
                return
            snapshot = to_driver_sandbox(obj, self.config.faults)
            self._put(pb.WatchSandboxesEvent(sandbox=pb.WatchSandboxesSandboxEvent(sandbox=snapshot)))
        return handle

    def _on_event(self, kind: str, event: Obj) -> None:
        if kind not in ("ADDED", "MODIFIED"):  # the listed history is not news; deleted events are expiry
            return
        involved = event.get("involvedObject") or {}
        if involved.get("kind") not in EVENT_KINDS:
            return
        with self._lock:
            sandbox_id = self._names.get(str(involved.get("name")))
        if sandbox_id:
            self._put(pb.WatchSandboxesEvent(platform_event=pb.WatchSandboxesPlatformEvent(
                sandbox_id=sandbox_id, event=platform_event(event))))

    def _put(self, item: pb.WatchSandboxesEvent) -> None:
        if not self._stopped.is_set():
            self._queue.put(item)

    def events(self) -> Iterator[pb.WatchSandboxesEvent]:
        """Yields until :meth:`stop`; a blocking get, woken by the stop sentinel."""
        while (item := self._queue.get()) is not None:
            yield item

    def stop(self, shutdown: bool = False) -> None:
        if self._stopped.is_set():
            return
        self.shutdown = shutdown
        self._stopped.set()
        for follower in (*self._objects, self._events):
            follower.stop()
        self._queue.put(None)
