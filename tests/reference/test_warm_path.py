"""The warm path: a matching request becomes a SandboxClaim, and identity re-anchors through it."""

from __future__ import annotations

import grpc
import pytest
from kubernetes import client as k8s

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell._proto.openshell.v1 import openshell_pb2 as opb
from pytest_openshell.agentsandbox import SandboxAPI
from pytest_openshell.agentsandbox.api import default_pod_spec
from pytest_openshell.contract.clients import bearer, driver_client, gateway_client
from pytest_openshell.contract.labels import POD_SANDBOX_ID, SANDBOX_ID, WARM_POOL
from pytest_openshell.kube.waits import as_dict, named, watch_until
from pytest_openshell.providers import AgentSandbox
from pytest_openshell.reference.driver import DriverHandle
from pytest_openshell.reference.gateway import GatewayHandle
from tests.reference.conftest import IMAGE, TIMEOUT, pod_token, wait_pod

pytestmark = pytest.mark.cluster


def test_warm_claim_carries_identity_only_through_the_pod_annotation(
        gateway: GatewayHandle, driver: DriverHandle, k8s_api: k8s.ApiClient, agent_sandbox: AgentSandbox,
        sandbox_namespace: str) -> None:
    ns = sandbox_namespace
    api = SandboxAPI(k8s_api, agent_sandbox)
    api.create(ns, api.template("tpl", default_pod_spec(image=IMAGE)))
    pool = api.warm_pool("pool", "tpl", 2)
    pool["metadata"]["labels"] = {WARM_POOL: "true"}
    api.create(ns, pool)
    watch_until(api.lister("SandboxWarmPool", ns), lambda o: o.get("status", {}).get("readyReplicas") == 2,
                timeout=TIMEOUT, what="warm pool ready", **named("pool"))

    with gateway_client(gateway.address) as gw:
        spec = opb.SandboxSpec(template=opb.SandboxTemplate(image=IMAGE))
        sandbox_id = gw.CreateSandbox(opb.CreateSandboxRequest(name="warm1", spec=spec)).sandbox.metadata.id

    claim = watch_until(api.lister("SandboxClaim", ns), lambda o: bool(o.get("status", {}).get("sandbox", {}).get("name")),
                        timeout=TIMEOUT, what="claim bound", **named("default--warm1")).obj  # shared mode: {workspace}--{name}
    assert claim["metadata"]["labels"][SANDBOX_ID] == sandbox_id
    assert claim["spec"]["additionalPodMetadata"] == {"annotations": {POD_SANDBOX_ID: sandbox_id}}
    adopted = claim["status"]["sandbox"]["name"]
    assert adopted.startswith("pool-"), "a matching request is served from the pool"
    assert SANDBOX_ID not in (api.get("Sandbox", ns, adopted)["metadata"].get("labels") or {})

    pod = wait_pod(k8s_api, ns, adopted, lambda o: (o["metadata"].get("annotations") or {}).get(POD_SANDBOX_ID) == sandbox_id)
    token = pod_token(k8s_api, ns, pod)
    with gateway_client(gateway.address) as gw:
        issued = gw.IssueSandboxToken(opb.IssueSandboxTokenRequest(), metadata=bearer(token))
    assert gateway.tokens.verify(issued.token)["sandbox_id"] == sandbox_id
    with driver_client(driver.socket_path) as drv:
        assert drv.AuthenticateSandbox(cpb.AuthenticateSandboxRequest(credential=token)).sandbox_id == sandbox_id

    # The pool's other pod is warm but unclaimed: it has no identity.
    pods = as_dict(k8s.CoreV1Api(k8s_api).list_namespaced_pod(ns))["items"]
    idle = next(p for p in pods if p["metadata"]["name"].startswith("pool-") and p["metadata"]["name"] != adopted)
    with gateway_client(gateway.address) as gw, pytest.raises(grpc.RpcError) as denied:
        gw.IssueSandboxToken(opb.IssueSandboxTokenRequest(), metadata=bearer(pod_token(k8s_api, ns, idle)))
    assert (denied.value.code(), denied.value.details()) == (grpc.StatusCode.PERMISSION_DENIED, "sandbox id annotation missing")
