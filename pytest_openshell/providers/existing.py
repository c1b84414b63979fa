"""An existing cluster, reached through a kubeconfig. Nothing is booted or torn down.

agent-sandbox must already be installed there: the provider reads which CRD versions are
served, and refuses with one clear message when the CRDs are missing.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from pytest_openshell.agentsandbox.installed import CRDS
from pytest_openshell.embedded.addons import KWOK_NODE_ANNOTATION
from pytest_openshell.errors import HarnessError
from pytest_openshell.kube.client import api_client, server_version
from pytest_openshell.providers.base import AgentSandbox, Cluster, ClusterProvider


def default_kubeconfig() -> Path:
    return Path(os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or Path.home() / ".kube" / "config")


class ExistingProvider(ClusterProvider):
    name = "existing"

    def acquire(self) -> Cluster:
        kubeconfig = self.settings.kubeconfig or default_kubeconfig()
        version = server_version(kubeconfig, self.settings.context)
        api = api_client(kubeconfig, self.settings.context)
        try:
            served = self._served(api)
            node_mode = self._node_mode(api)
        finally:
            api.close()
        self.progress(f"using existing cluster {version} from {kubeconfig} ({node_mode} nodes)")
        return Cluster(
            provider=self.name, kubeconfig=kubeconfig, server=str(api.configuration.host), server_version=version,
            node_mode=node_mode, agent_sandbox=AgentSandbox(version=self.settings.agent_sandbox_version or "installed", api_versions=served),
        )

    @staticmethod
    def _node_mode(api: k8s.ApiClient) -> str:
        """"simulated" when every node is kwok's (no container ever runs), else "real"."""
        try:
            nodes = k8s.CoreV1Api(api).list_node().items
        except ApiException:
            return "real"  # may not list nodes: assume the common case
        kwok = [n for n in nodes if n.metadata and (n.metadata.annotations or {}).get(KWOK_NODE_ANNOTATION) == "fake"]
        return "simulated" if nodes and len(kwok) == len(nodes) else "real"

    @staticmethod
    def _served(api: k8s.ApiClient) -> dict[str, list[str]]:
        ext = k8s.ApiextensionsV1Api(api)
        served: dict[str, list[str]] = {}
        for kind, name in CRDS.items():
            try:
                crd = ext.read_custom_resource_definition(name)
            except ApiException as exc:
                if exc.status == 404:
                    raise HarnessError(f"the cluster has no {name} CRD: agent-sandbox (core + extensions) is not installed",
                                       fix="install agent-sandbox's release manifests, or use --openshell-cluster=embedded") from None
                if exc.status == 403:
                    raise HarnessError(f"the harness may not read CRD {name} ({exc.reason})",
                                       fix="grant get on customresourcedefinitions, or use a kubeconfig with more rights") from None
                raise
            versions = [v for v in crd.spec.versions if v.served]
            versions.sort(key=lambda v: not v.storage)  # storage version first
            served[kind] = [v.name for v in versions]
        return served

    def release(self) -> None:
        return None
