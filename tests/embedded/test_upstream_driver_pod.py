"""The pod shape the upstream OpenShell Kubernetes driver creates by default (NVIDIA/OpenShell
2f7fb655, crates/openshell-driver-kubernetes: a 2Gi "workspace" volumeClaimTemplate with no
storageClassName, the supervisor sideloaded by an image volume) gets Ready on the embedded cluster:
the claim binds through the default StorageClass and the apiserver keeps the image volume."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from pytest_openshell.agentsandbox import SandboxAPI
from pytest_openshell.kube.waits import has_condition, named, watch_until
from pytest_openshell.providers import AgentSandbox
from tests.embedded.pods import TIMEOUT

pytestmark = pytest.mark.cluster
SUPERVISOR = "ghcr.io/nvidia/openshell/supervisor:0.0.0-test"


def driver_shaped_sandbox(api: SandboxAPI, name: str) -> dict:
    pod = {
        "automountServiceAccountToken": False,
        "initContainers": [{"name": "workspace-init", "image": "busybox", "command": ["sh", "-c", "true"],
                            "volumeMounts": [{"name": "workspace", "mountPath": "/workspace-init"}]}],
        "containers": [{"name": "agent", "image": "busybox", "command": ["/opt/openshell/bin/openshell-sandbox"],
                        "volumeMounts": [{"name": "workspace", "mountPath": "/sandbox"},
                                         {"name": "openshell-supervisor-bin", "mountPath": "/opt/openshell/bin", "readOnly": True}]}],
        "volumes": [{"name": "openshell-supervisor-bin", "image": {"reference": SUPERVISOR, "pullPolicy": "IfNotPresent"}}],
    }
    body = api.sandbox(name, pod)
    body["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "workspace"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}}]
    return body


def test_upstream_driver_default_pod_gets_ready(k8s_api: k8s.ApiClient, agent_sandbox: AgentSandbox, namespace: str) -> None:
    api, core = SandboxAPI(k8s_api, agent_sandbox), k8s.CoreV1Api(k8s_api)
    api.create(namespace, driver_shaped_sandbox(api, "drv"))
    watch_until(api.lister("Sandbox", namespace), has_condition("Ready"), timeout=TIMEOUT, what="Sandbox drv Ready",
                diagnose=lambda: str(core.list_namespaced_persistent_volume_claim(namespace).items), **named("drv"))
    pod = core.read_namespaced_pod("drv", namespace)
    assert [v.image.reference for v in pod.spec.volumes if v.image] == [SUPERVISOR]
    claim = core.read_namespaced_persistent_volume_claim("workspace-drv", namespace)
    assert claim.status.phase == "Bound" and claim.spec.storage_class_name == "standard"
