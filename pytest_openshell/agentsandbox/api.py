"""Build and call agent-sandbox objects in whichever API version the installed lane serves.

Tests speak one vocabulary (suspend, claim from a pool); this module maps it onto the two API
lines so no test is written twice.
"""

from __future__ import annotations

from functools import partial
from typing import Any, cast

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from pytest_openshell.agentsandbox.installed import AgentSandbox
from pytest_openshell.agentsandbox.labels import CORE_GROUP, EXT_GROUP
from pytest_openshell.objects import Obj

PLURALS = {"Sandbox": "sandboxes", "SandboxTemplate": "sandboxtemplates", "SandboxWarmPool": "sandboxwarmpools", "SandboxClaim": "sandboxclaims"}
GROUPS = {"Sandbox": CORE_GROUP, "SandboxTemplate": EXT_GROUP, "SandboxWarmPool": EXT_GROUP, "SandboxClaim": EXT_GROUP}


def default_pod_spec(port: int | None = None, image: str = "registry.local/sandbox:latest") -> Obj:
    container: Obj = {"name": "agent", "image": image}
    if port:
        container["ports"] = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    return {"containers": [container], "automountServiceAccountToken": False}


# Claims and pools own Sandboxes, which own pods: deleting in this order, nothing gets recreated.
OWNER_KINDS = ("SandboxClaim", "SandboxWarmPool", "Sandbox")


class SandboxAPI:
    def __init__(self, api: k8s.ApiClient, installed: AgentSandbox, version: str | None = None) -> None:
        self.custom = k8s.CustomObjectsApi(api)
        self.installed = installed
        self.version = version or installed.preferred("Sandbox")

    @property
    def beta(self) -> bool:
        return self.version == "v1beta1"

    def _args(self, kind: str) -> dict[str, Any]:
        return {"group": GROUPS[kind], "version": self.version, "plural": PLURALS[kind]}

    # -- generic verbs --------------------------------------------------------------------------
    def create(self, namespace: str, body: Obj) -> Obj:
        return cast(Obj, self.custom.create_namespaced_custom_object(namespace=namespace, body=body, **self._args(body["kind"])))

    def get(self, kind: str, namespace: str, name: str) -> Obj:
        return cast(Obj, self.custom.get_namespaced_custom_object(namespace=namespace, name=name, **self._args(kind)))

    def exists(self, kind: str, namespace: str, name: str) -> bool:
        try:
            self.get(kind, namespace, name)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def patch(self, kind: str, namespace: str, name: str, body: Obj) -> Obj:
        return cast(Obj, self.custom.patch_namespaced_custom_object(namespace=namespace, name=name, body=body, **self._args(kind)))

    def delete(self, kind: str, namespace: str, name: str, **kwargs: Any) -> Obj:
        return cast(Obj, self.custom.delete_namespaced_custom_object(namespace=namespace, name=name, **self._args(kind), **kwargs))

    def delete_owners(self, namespace: str) -> None:
        """Start deleting, top down, what owns the namespace's pods (so nothing is recreated meanwhile)."""
        for kind in OWNER_KINDS:
            try:
                self.delete_all(kind, namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise

    def delete_all(self, kind: str, namespace: str) -> None:
        """Start deleting every ``kind`` in ``namespace`` (background propagation: the GC takes what they own)."""
        self.custom.delete_collection_namespaced_custom_object(namespace=namespace, propagation_policy="Background", **self._args(kind))

    def lister(self, kind: str, namespace: str) -> Any:
        """A list function for :func:`watch_until` (it also accepts ``watch=True``)."""
        return partial(self.custom.list_namespaced_custom_object, namespace=namespace, **self._args(kind))

    # -- bodies -----------------------------------------------------------------------------------
    def _meta(self, kind: str, name: str, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> Obj:
        meta: Obj = {"name": name}
        if labels:
            meta["labels"] = labels
        if annotations:
            meta["annotations"] = annotations
        return {"apiVersion": f"{GROUPS[kind]}/{self.version}", "kind": kind, "metadata": meta}

    def sandbox(self, name: str, pod_spec: Obj | None = None, *, service: bool = False,
                pod_labels: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> Obj:
        body = self._meta("Sandbox", name, labels)
        spec: Obj = {"podTemplate": {"spec": pod_spec or default_pod_spec()}}
        if pod_labels:
            spec["podTemplate"]["metadata"] = {"labels": pod_labels}
        if service:
            spec["service"] = True
        body["spec"] = spec
        return body

    def template(self, name: str, pod_spec: Obj | None = None, *, service: bool = False) -> Obj:
        body = self._meta("SandboxTemplate", name)
        # Unmanaged: the managed default rewrites pod DNS to public resolvers, which we never want.
        body["spec"] = {"podTemplate": {"spec": pod_spec or default_pod_spec()}, "networkPolicyManagement": "Unmanaged"}
        if service:
            body["spec"]["service"] = True
        return body

    def warm_pool(self, name: str, template: str, replicas: int) -> Obj:
        body = self._meta("SandboxWarmPool", name)
        body["spec"] = {"replicas": replicas, "sandboxTemplateRef": {"name": template}}
        return body

    def claim(self, name: str, *, template: str, pool: str | None, annotations: dict[str, str] | None = None,
              pod_labels: dict[str, str] | None = None, pod_annotations: dict[str, str] | None = None) -> Obj:
        """A claim drawing from ``pool``; ``pool=None`` asks for no warm pool where the API allows it.

        v1beta1 has no "no pool" spelling: callers pass an empty pool there to force a cold start.
        """
        body = self._meta("SandboxClaim", name, annotations=annotations)
        spec: Obj
        if self.beta:
            if pool is None:
                raise ValueError("v1beta1 claims always name a warm pool; use an empty pool for a cold start")
            spec = {"warmPoolRef": {"name": pool}}
        else:
            spec = {"sandboxTemplateRef": {"name": template}, "warmpool": pool if pool is not None else "none"}
        if pod_labels or pod_annotations:
            spec["additionalPodMetadata"] = {k: v for k, v in (("labels", pod_labels), ("annotations", pod_annotations)) if v}
        body["spec"] = spec
        return body

    # -- lifecycle differences between the lines ------------------------------------------------
    def suspend_patch(self, suspended: bool) -> Obj:
        if self.beta:
            return {"spec": {"operatingMode": "Suspended" if suspended else "Running"}}
        return {"spec": {"replicas": 0 if suspended else 1}}

    def suspend(self, namespace: str, name: str) -> Obj:
        return self.patch("Sandbox", namespace, name, self.suspend_patch(True))

    def resume(self, namespace: str, name: str) -> Obj:
        return self.patch("Sandbox", namespace, name, self.suspend_patch(False))
