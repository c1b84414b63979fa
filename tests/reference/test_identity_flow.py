"""End to end: a sandbox created through the gateway gets a pod whose token buys a gateway JWT."""

from __future__ import annotations

import grpc
import jwt
import pytest
from kubernetes import client as k8s

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell._proto.openshell.v1 import openshell_pb2 as opb
from pytest_openshell.agentsandbox import SandboxAPI
from pytest_openshell.contract.clients import bearer, driver_client, gateway_client
from pytest_openshell.contract.labels import (
    GATEWAY_ID,
    MANAGED_BY,
    POD_SANDBOX_ID,
    SANDBOX_ID,
    SANDBOX_NAME,
    SANDBOX_WORKSPACE,
    TOKEN_MOUNT_PATH,
)
from pytest_openshell.providers import AgentSandbox
from pytest_openshell.reference.driver import DriverHandle
from pytest_openshell.reference.gateway import GatewayHandle
from tests.reference.conftest import IMAGE, pod_token, wait_pod

pytestmark = pytest.mark.cluster


def create(gateway: GatewayHandle, name: str) -> opb.Sandbox:
    with gateway_client(gateway.address) as gw:
        spec = opb.SandboxSpec(template=opb.SandboxTemplate(image=IMAGE))
        return gw.CreateSandbox(opb.CreateSandboxRequest(name=name, spec=spec)).sandbox


def test_sandbox_object_carries_openshell_identity(gateway: GatewayHandle, k8s_api: k8s.ApiClient,
                                                    agent_sandbox: AgentSandbox, sandbox_namespace: str) -> None:
    sandbox = create(gateway, "box")
    sandbox_id = sandbox.metadata.id
    assert sandbox.status.phase == opb.SandboxPhase.SANDBOX_PHASE_PROVISIONING
    # Shared workspace mode, upstream's default: the platform object is named {workspace}--{name}.
    obj = SandboxAPI(k8s_api, agent_sandbox).get("Sandbox", sandbox_namespace, "default--box")
    assert obj["apiVersion"].endswith(agent_sandbox.preferred())  # v1beta1 when served, else v1alpha1
    assert {k: obj["metadata"]["labels"].get(k) for k in (SANDBOX_ID, SANDBOX_NAME, SANDBOX_WORKSPACE, MANAGED_BY, GATEWAY_ID)} == {
        SANDBOX_ID: sandbox_id, SANDBOX_NAME: "box", SANDBOX_WORKSPACE: "default", MANAGED_BY: "openshell", GATEWAY_ID: "openshell"}
    template = obj["spec"]["podTemplate"]
    assert template["metadata"]["annotations"][POD_SANDBOX_ID] == sandbox_id
    pod_spec = template["spec"]
    assert pod_spec["automountServiceAccountToken"] is False
    [volume] = [v for v in pod_spec["volumes"] if "projected" in v]
    [source] = volume["projected"]["sources"]
    assert source["serviceAccountToken"]["audience"] == "openshell-gateway"
    assert {"name": volume["name"], "mountPath": TOKEN_MOUNT_PATH, "readOnly": True} in pod_spec["containers"][0]["volumeMounts"]
    pod = wait_pod(k8s_api, sandbox_namespace, "default--box")
    assert pod["metadata"]["annotations"][POD_SANDBOX_ID] == sandbox_id


def test_pod_token_buys_a_gateway_jwt_that_refreshes(gateway: GatewayHandle, driver: DriverHandle, k8s_api: k8s.ApiClient,
                                                       sandbox_namespace: str) -> None:
    sandbox_id = create(gateway, "tok").metadata.id
    token = pod_token(k8s_api, sandbox_namespace, wait_pod(k8s_api, sandbox_namespace, "default--tok"))
    with gateway_client(gateway.address) as gw:
        issued = gw.IssueSandboxToken(opb.IssueSandboxTokenRequest(), metadata=bearer(token))
        assert jwt.get_unverified_header(issued.token)["alg"] == "EdDSA"
        claims = jwt.decode(issued.token, gateway.public_key, algorithms=["EdDSA"], audience=gateway.issuer,
                            issuer=gateway.issuer)
        assert gateway.issuer == "openshell-gateway:openshell"
        assert claims["sub"] == f"spiffe://openshell/sandbox/{sandbox_id}"
        assert claims["sandbox_id"] == sandbox_id
        assert claims["iat"] <= claims["exp"] and issued.HasField("expiration_time")
        assert issued.expiration_time.ToMilliseconds() == claims["exp"] * 1000

        refreshed = gw.RefreshSandboxToken(opb.RefreshSandboxTokenRequest(), metadata=bearer(issued.token))
        again = jwt.decode(refreshed.token, gateway.public_key, algorithms=["EdDSA"], audience=gateway.issuer,
                           issuer=gateway.issuer)
        assert again["sub"] == claims["sub"]

        with pytest.raises(grpc.RpcError) as refused:  # a service-account token is not a gateway token
            gw.RefreshSandboxToken(opb.RefreshSandboxTokenRequest(), metadata=bearer(token))
        assert (refused.value.code(), refused.value.details()) == (grpc.StatusCode.UNAUTHENTICATED, "token invalid")

    with driver_client(driver.socket_path) as drv:  # the driver verifies the same chain
        assert drv.AuthenticateSandbox(cpb.AuthenticateSandboxRequest(credential=token)).sandbox_id == sandbox_id


def test_wrong_audience_is_denied(gateway: GatewayHandle, k8s_api: k8s.ApiClient, sandbox_namespace: str) -> None:
    create(gateway, "aud")
    token = pod_token(k8s_api, sandbox_namespace, wait_pod(k8s_api, sandbox_namespace, "default--aud"), audience="someone-else")
    with gateway_client(gateway.address) as gw, pytest.raises(grpc.RpcError) as denied:
        gw.IssueSandboxToken(opb.IssueSandboxTokenRequest(), metadata=bearer(token))
    assert (denied.value.code(), denied.value.details()) == (grpc.StatusCode.UNAUTHENTICATED, "token not authenticated")
