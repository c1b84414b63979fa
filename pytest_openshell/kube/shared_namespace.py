"""Tests in a namespace the harness does not own -- an external driver's -- delete what each made.

An external compute driver serves one namespace, fixed when it was deployed, so the OpenShell
suites run there instead of in a fresh namespace per test. That namespace must be dedicated to
the run: whatever appears in it during a test (a UID not there when the test started) is deleted
when the test ends, and the next test starts only once it is gone, because tests reuse fixed
names (a pool, a service account).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from pytest_openshell.agentsandbox.api import OWNER_KINDS, SandboxAPI
from pytest_openshell.errors import WaitTimeout
from pytest_openshell.kube.recorder import EventRecorder
from pytest_openshell.kube.waits import as_dict

# Deletion order: owners before what they own (a pool refills its Sandboxes), then templates,
# which nothing needs any more.
SANDBOX_KINDS = (*OWNER_KINDS, "SandboxTemplate")
# PVCs and Services: a driver's Sandbox owns them, but a Sandbox that was never reconciled, or a
# driver that made them itself, can leave them behind.
CORE_KINDS = ("Pod", "Service", "PersistentVolumeClaim", "ServiceAccount")


class SharedNamespace:
    def __init__(self, core: k8s.CoreV1Api, sandboxes: SandboxAPI, namespace: str) -> None:
        self.core, self.sandboxes, self.namespace = core, sandboxes, namespace
        self._before = {kind: set(self._uids(kind)) for kind in (*SANDBOX_KINDS, *CORE_KINDS)}

    def _lister(self, kind: str) -> Callable[..., Any]:
        if kind == "Pod":
            return lambda **kw: self.core.list_namespaced_pod(self.namespace, **kw)
        if kind == "ServiceAccount":
            return lambda **kw: self.core.list_namespaced_service_account(self.namespace, **kw)
        if kind == "Service":
            return lambda **kw: self.core.list_namespaced_service(self.namespace, **kw)
        if kind == "PersistentVolumeClaim":
            return lambda **kw: self.core.list_namespaced_persistent_volume_claim(self.namespace, **kw)
        return self.sandboxes.lister(kind, self.namespace)  # type: ignore[no-any-return]

    def _uids(self, kind: str) -> dict[str, str]:
        items = as_dict(self._lister(kind)()).get("items") or []
        return {str(o["metadata"]["uid"]): str(o["metadata"]["name"]) for o in items}

    def _delete(self, kind: str, name: str, uid: str) -> None:
        # The uid precondition: never a namesake made after we listed. Nothing runs in a test pod to stop.
        body = k8s.V1DeleteOptions(preconditions=k8s.V1Preconditions(uid=uid), grace_period_seconds=0 if kind == "Pod" else None)
        try:
            if kind == "Pod":
                self.core.delete_namespaced_pod(name, self.namespace, body=body)
            elif kind == "ServiceAccount":
                self.core.delete_namespaced_service_account(name, self.namespace, body=body)
            elif kind == "Service":
                self.core.delete_namespaced_service(name, self.namespace, body=body)
            elif kind == "PersistentVolumeClaim":
                self.core.delete_namespaced_persistent_volume_claim(name, self.namespace, body=body)
            else:
                self.sandboxes.delete(kind, self.namespace, name, body=body)
        except ApiException as exc:
            if exc.status not in (404, 409):  # gone already, or a namesake: not ours
                raise

    def clean(self, timeout: float) -> list[str]:
        """Delete what appeared since the start and wait until it is gone; returns ``Kind/name`` of each.

        Every kind is cleaned even when one of them does not go in time (a dead driver, a stuck
        finalizer): the namespace is left as it was found as far as it can be, and one error at the
        end names everything left.
        """
        deadline = time.monotonic() + timeout
        removed: list[str] = []
        left: list[str] = []
        for kind in (*SANDBOX_KINDS, *CORE_KINDS):
            if self._uids(kind).keys() <= self._before[kind]:
                continue  # nothing new of this kind: no watch to open
            with EventRecorder(self._lister(kind), f"{kind} in {self.namespace}") as rec:
                listed = {str(e.obj["metadata"]["uid"]): e.name for e in rec.history if e.type == "LIST"}
                created = {uid: name for uid, name in listed.items() if uid not in self._before[kind]}
                for uid, name in created.items():
                    self._delete(kind, name, uid)
                for uid, name in created.items():
                    try:
                        rec.wait_for(lambda ev, uid=uid: ev.type == "DELETED" and ev.obj["metadata"]["uid"] == uid,  # type: ignore[misc]
                                     timeout=max(0.1, deadline - time.monotonic()), what=f"{kind} {self.namespace}/{name} to be deleted",
                                     diagnose=lambda kind=kind: self._diagnose(kind))  # type: ignore[misc]
                        removed.append(f"{kind}/{name}")
                    except WaitTimeout as exc:
                        left.append(str(exc))
        if left:
            raise WaitTimeout(f"namespace {self.namespace} not left as found", timeout, "\n".join(left))
        return removed

    def _diagnose(self, kind: str) -> str:
        items = as_dict(self._lister(kind)()).get("items") or []
        return f"{kind} still in {self.namespace}: " + ", ".join(
            f"{o['metadata']['name']} (finalizers {o['metadata'].get('finalizers')})" for o in items)


__all__ = ["SharedNamespace"]
