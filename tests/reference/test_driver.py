"""The reference ComputeDriver over its Unix socket: capabilities, lifecycle, watch."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from kubernetes import client as k8s

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2_grpc as cpb_grpc
from pytest_openshell.agentsandbox import SandboxAPI
from pytest_openshell.contract.clients import WatchStream, driver_client
from pytest_openshell.providers import AgentSandbox
from pytest_openshell.reference.driver import DriverHandle
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
        assert (seen.name, seen.namespace, seen.status.sandbox_name) == ("life", sandbox_namespace, "life")
        got = stub.GetSandbox(cpb.GetSandboxRequest(sandbox_id="id-life", sandbox_name="life")).sandbox
        assert got.id == "id-life"
        assert [s.id for s in stub.ListSandboxes(cpb.ListSandboxesRequest()).sandboxes] == ["id-life"]
        with pytest.raises(grpc.RpcError) as err:  # a name with someone else's id is not this sandbox
            stub.GetSandbox(cpb.GetSandboxRequest(sandbox_id="other", sandbox_name="life"))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND

        api = SandboxAPI(k8s_api, agent_sandbox)
        for _ in range(2):  # idempotent
            stub.StopSandbox(cpb.StopSandboxRequest(sandbox_id="id-life", sandbox_name="life"))
        spec = api.get("Sandbox", sandbox_namespace, "life")["spec"]
        assert spec.get("operatingMode") == "Suspended" if api.beta else spec.get("replicas") == 0
        for _ in range(2):
            stub.StartSandbox(cpb.StartSandboxRequest(sandbox_id="id-life", sandbox_name="life"))
        spec = api.get("Sandbox", sandbox_namespace, "life")["spec"]
        assert spec.get("operatingMode") == "Running" if api.beta else spec.get("replicas") == 1

        assert stub.DeleteSandbox(cpb.DeleteSandboxRequest(sandbox_id="id-life", sandbox_name="life")).deleted is True
        stream.next("deleted", "id-life", TIMEOUT)
        assert stub.DeleteSandbox(cpb.DeleteSandboxRequest(sandbox_id="id-life", sandbox_name="life")).deleted is False
