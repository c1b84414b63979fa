"""Default storage on the embedded cluster: claims bind through kube-controller-manager's PV controller
to volumes the local-path provisioner makes, and a volume stays bound to its claim across pod recreation."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from pytest_openshell.agentsandbox import SandboxAPI
from pytest_openshell.kube.waits import has_condition, named, watch_until
from pytest_openshell.providers import AgentSandbox
from tests.embedded.pods import TIMEOUT

pytestmark = pytest.mark.cluster


def bound(claim: dict) -> bool:
    return (claim.get("status") or {}).get("phase") == "Bound"


def test_default_storage_class_is_local_path(k8s_api: k8s.ApiClient) -> None:
    classes = k8s.StorageV1Api(k8s_api).list_storage_class().items
    default = [c for c in classes if (c.metadata.annotations or {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
    assert [(c.metadata.name, c.provisioner, c.volume_binding_mode) for c in default] == [
        ("standard", "rancher.io/local-path", "WaitForFirstConsumer")]


def test_sandbox_volume_claim_template_gets_a_bound_pvc_that_outlives_its_pod(
        k8s_api: k8s.ApiClient, agent_sandbox: AgentSandbox, namespace: str) -> None:
    api, core = SandboxAPI(k8s_api, agent_sandbox), k8s.CoreV1Api(k8s_api)
    body = api.sandbox("vol", {"containers": [{"name": "main", "image": "busybox", "command": ["sleep", "infinity"],
                                               "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]})
    body["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}}]
    api.create(namespace, body)
    claim = watch_until(core.list_namespaced_persistent_volume_claim, bound, timeout=TIMEOUT, what="PVC data-vol Bound",
                        namespace=namespace, **named("data-vol")).obj
    assert claim["spec"]["storageClassName"] == "standard"
    volume = claim["spec"]["volumeName"]
    pv = core.read_persistent_volume(volume)
    assert (pv.spec.claim_ref.name, pv.spec.claim_ref.uid) == ("data-vol", claim["metadata"]["uid"])
    first = watch_until(core.list_namespaced_pod, has_condition("Ready"), timeout=TIMEOUT, what="sandbox pod Ready",
                        namespace=namespace, **named("vol")).obj
    core.delete_namespaced_pod("vol", namespace)
    again = watch_until(core.list_namespaced_pod, lambda p: p["metadata"]["uid"] != first["metadata"]["uid"] and has_condition("Ready")(p),
                        timeout=TIMEOUT, what="replacement sandbox pod Ready", namespace=namespace, **named("vol")).obj
    assert [v["persistentVolumeClaim"]["claimName"] for v in again["spec"]["volumes"] if v.get("persistentVolumeClaim")] == ["data-vol"]
    still = core.read_namespaced_persistent_volume_claim("data-vol", namespace)
    assert (still.status.phase, still.spec.volume_name) == ("Bound", volume)
    assert core.read_persistent_volume(volume).status.phase == "Bound"

