"""The reference ComputeDriver over its Unix socket: capabilities, lifecycle, watch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from kubernetes import client as k8s

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2_grpc as cpb_grpc
from pytest_openshell.agentsandbox import SandboxAPI
from pytest_openshell.contract.clients import WatchStream, driver_client
from pytest_openshell.providers import AgentSandbox, Cluster
from pytest_openshell.reference.driver import DriverHandle, start_driver
from tests.reference.conftest import IMAGE, TIMEOUT

pytestmark = pytest.mark.cluster


def driver_sandbox(name: str, sandbox_id: str) -> cpb.DriverSandbox:
    return cpb.DriverSandbox(id=sandbox_id, name=name, spec=cpb.DriverSandboxSpec(
        template=cpb.DriverSandboxTemplate(image=IMAGE)))


@pytest.fixture
def stub(driver: DriverHandle) -> Iterator[cpb_grpc.ComputeDriverStub]:
    with driver_client(driver.socket_path) as s:
        yield s


def test_capabilities_advertise_authentication(stub: cpb_grpc.ComputeDriverStub) -> None:
    caps = stub.GetCapabilities(cpb.GetCapabilitiesRequest())
    assert caps.driver_name == "kubernetes"
    assert caps.supports_sandbox_authentication is True
    assert caps.driver_reports_runtime_readiness is False
    assert caps.default_image == IMAGE
    assert list(stub.GetGatewayListenerRequirements(cpb.GetGatewayListenerRequirementsRequest()).requirements) == []


def test_validate_rejects_reserved_labels_and_bad_names(stub: cpb_grpc.ComputeDriverStub) -> None:
    bad = driver_sandbox("ok", "id-1")
    bad.spec.template.labels["openshell.ai/sandbox-id"] = "forged"
    for sandbox in (bad, driver_sandbox("Not_A_Name", "id-2"), driver_sandbox("ok", "")):
        with pytest.raises(grpc.RpcError) as err:
            stub.ValidateSandboxCreate(cpb.ValidateSandboxCreateRequest(sandbox=sandbox))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_lifecycle_and_watch(stub: cpb_grpc.ComputeDriverStub, k8s_api: k8s.ApiClient, agent_sandbox: AgentSandbox,
                             sandbox_namespace: str) -> None:
    with WatchStream(stub) as stream:
        stub.CreateSandbox(cpb.CreateSandboxRequest(sandbox=driver_sandbox("life", "id-life")))
        seen = stream.next("sandbox", "id-life", TIMEOUT).sandbox.sandbox
        # Shared workspace mode (upstream's default): the Sandbox is named {workspace}--{name}.
        assert (seen.name, seen.namespace, seen.workspace, seen.status.sandbox_name) == ("life", sandbox_namespace, "default", "default--life")
        got = stub.GetSandbox(cpb.GetSandboxRequest(sandbox_id="id-life", sandbox_name="life")).sandbox
        assert got.id == "id-life"
        assert [s.id for s in stub.ListSandboxes(cpb.ListSandboxesRequest()).sandboxes] == ["id-life"]
        with pytest.raises(grpc.RpcError) as err:  # a name with someone else's id is not this sandbox
            stub.GetSandbox(cpb.GetSandboxRequest(sandbox_id="other", sandbox_name="life"))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND

        api = SandboxAPI(k8s_api, agent_sandbox)
        for _ in range(2):  # idempotent
            stub.StopSandbox(cpb.StopSandboxRequest(sandbox_id="id-life", sandbox_name="life"))
        spec = api.get("Sandbox", sandbox_namespace, "default--life")["spec"]
        assert spec.get("operatingMode") == "Suspended" if api.beta else spec.get("replicas") == 0
        for _ in range(2):
            stub.StartSandbox(cpb.StartSandboxRequest(sandbox_id="id-life", sandbox_name="life"))
        spec = api.get("Sandbox", sandbox_namespace, "default--life")["spec"]
        assert spec.get("operatingMode") == "Running" if api.beta else spec.get("replicas") == 1

        assert stub.DeleteSandbox(cpb.DeleteSandboxRequest(sandbox_id="id-life", sandbox_name="life")).deleted is True
        stream.next("deleted", "id-life", TIMEOUT)
        assert stub.DeleteSandbox(cpb.DeleteSandboxRequest(sandbox_id="id-life", sandbox_name="life")).deleted is False


def test_operator_mode_uses_bare_names_and_only_its_namespace_as_workspace(cluster: Cluster, sandbox_namespace: str, sockdir: Path,
                                                                          k8s_api: k8s.ApiClient, agent_sandbox: AgentSandbox) -> None:
    with start_driver(sockdir / "op.sock", sandbox_namespace, kubeconfig=cluster.kubeconfig, default_image=IMAGE,
                      workspace_mode="operator") as handle, driver_client(handle.socket_path) as op:
        elsewhere = driver_sandbox("op", "id-op")
        elsewhere.workspace = "default"  # not the namespace: not in the operator allowlist
        with pytest.raises(grpc.RpcError) as err:
            op.CreateSandbox(cpb.CreateSandboxRequest(sandbox=elsewhere))
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        mine = driver_sandbox("op", "id-op")
        mine.workspace = sandbox_namespace
        op.CreateSandbox(cpb.CreateSandboxRequest(sandbox=mine))
        obj = SandboxAPI(k8s_api, agent_sandbox).get("Sandbox", sandbox_namespace, "op")
        assert obj["metadata"]["labels"]["openshell.ai/sandbox-id"] == "id-op"
        assert op.DeleteSandbox(cpb.DeleteSandboxRequest(sandbox_id="id-op")).deleted is True


def test_shared_mode_refuses_names_too_long_for_their_prefix(stub: cpb_grpc.ComputeDriverStub) -> None:
    # "default--" plus 55 characters is 64: a valid sandbox name, no valid object name.
    with pytest.raises(grpc.RpcError) as err:
        stub.ValidateSandboxCreate(cpb.ValidateSandboxCreateRequest(sandbox=driver_sandbox("a" * 55, "id-long")))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "default--" in str(err.value.details())
