"""agent-sandbox resources as the reference servers see them: discovered versions and plain verbs.

The servers are deliberately independent of the test harness's helpers: they pick API versions
the way OpenShell does (v1beta1 when served, else v1alpha1), per API group, from discovery.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from pytest_openshell.agentsandbox.labels import CORE_GROUP, EXT_GROUP
from pytest_openshell.kube.client import api_client
from pytest_openshell.objects import Obj

PREFERENCE = ("v1beta1", "v1alpha1")


@dataclass(frozen=True)
class Resource:
    kind: str
    group: str
    version: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    def args(self) -> dict[str, Any]:
        return {"group": self.group, "version": self.version, "plural": self.plural}


def served_versions(api: k8s.ApiClient) -> dict[str, list[str]]:
    """API group -> versions the server serves."""
    groups = k8s.ApisApi(api).get_api_versions().groups or []
    return {g.name: [v.version for v in g.versions or []] for g in groups}


def preferred(versions: list[str]) -> str | None:
    return next((v for v in PREFERENCE if v in versions), None)


class AgentSandboxResources:
    """Sandbox, SandboxTemplate, SandboxWarmPool and SandboxClaim at their discovered versions.

    ``claim``, ``pool`` and ``template`` are None when the extensions are not installed.
    """

    def __init__(self, api: k8s.ApiClient) -> None:
        self.api = api
        self.custom = k8s.CustomObjectsApi(api)
        served = served_versions(api)
        core = preferred(served.get(CORE_GROUP, []))
        if core is None:
            raise RuntimeError(f"{CORE_GROUP} is not served (v1beta1 or v1alpha1): is agent-sandbox installed?")
        self.sandbox = Resource("Sandbox", CORE_GROUP, core, "sandboxes")
        ext = preferred(served.get(EXT_GROUP, []))
        self.template = Resource("SandboxTemplate", EXT_GROUP, ext, "sandboxtemplates") if ext else None
        self.pool = Resource("SandboxWarmPool", EXT_GROUP, ext, "sandboxwarmpools") if ext else None
        self.claim = Resource("SandboxClaim", EXT_GROUP, ext, "sandboxclaims") if ext else None

    @property
    def beta(self) -> bool:
        return self.sandbox.version == "v1beta1"

    def at(self, resource: Resource, api_version: str) -> Resource:
        """``resource`` at the version an ownerReference names (verification follows the reference)."""
        return Resource(resource.kind, resource.group, api_version.split("/", 1)[1], resource.plural)

    def get(self, resource: Resource, namespace: str, name: str) -> Obj | None:
        try:
            return cast(Obj, self.custom.get_namespaced_custom_object(namespace=namespace, name=name, **resource.args()))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, resource: Resource, namespace: str, selector: str | None = None) -> list[Obj]:
        kwargs: dict[str, Any] = {"label_selector": selector} if selector else {}
        out = self.custom.list_namespaced_custom_object(namespace=namespace, **resource.args(), **kwargs)
        return list(cast(Obj, out).get("items") or [])

    def create(self, resource: Resource, namespace: str, body: Obj) -> Obj:
        return cast(Obj, self.custom.create_namespaced_custom_object(namespace=namespace, body=body, **resource.args()))

    def patch(self, resource: Resource, namespace: str, name: str, body: Obj) -> Obj:
        return cast(Obj, self.custom.patch_namespaced_custom_object(namespace=namespace, name=name, body=body,
                                                                    **resource.args()))

    def delete(self, resource: Resource, namespace: str, name: str, preconditions: k8s.V1Preconditions | None) -> None:
        body = k8s.V1DeleteOptions(preconditions=preconditions, propagation_policy="Background")
        self.custom.delete_namespaced_custom_object(namespace=namespace, name=name, body=body, **resource.args())

    def lister(self, resource: Resource, namespace: str) -> Any:
        return partial(self.custom.list_namespaced_custom_object, namespace=namespace, **resource.args())


def open_api(kubeconfig: str | Path | None, api: k8s.ApiClient | None, context: str | None = None) -> tuple[k8s.ApiClient, bool]:
    """The client to use and whether the caller owns (must close) it."""
    if api is not None:
        return api, False
    if kubeconfig is None:
        # In a pod (the Helm-deployed gateway): the service account's own token, so what the server
        # may do is exactly what the chart's RBAC grants it.
        return in_cluster_client(), True
    return api_client(Path(kubeconfig), context), True


def in_cluster_client() -> k8s.ApiClient:
    configuration = k8s.Configuration()
    k8s_config.load_incluster_config(client_configuration=configuration)
    return k8s.ApiClient(configuration)


def meta(obj: Obj) -> Obj:
    return cast(Obj, obj.get("metadata") or {})


def labels(obj: Obj) -> dict[str, str]:
    return cast(dict[str, str], meta(obj).get("labels") or {})


def controller_ref(obj: Obj) -> Obj | None:
    refs = [r for r in meta(obj).get("ownerReferences") or [] if r.get("controller")]
    return refs[0] if len(refs) == 1 else None
