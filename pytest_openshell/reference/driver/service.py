"""The ComputeDriver gRPC service: each RPC mapped onto the lifecycle, watch and identity code."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
from kubernetes import client as k8s

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as pb
from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2_grpc as pb_grpc
from pytest_openshell.contract.labels import WARM_CLAIM_METADATA, is_label_value
from pytest_openshell.reference.driver import manifests
from pytest_openshell.reference.driver.config import DRIVER_NAME, DriverConfig
from pytest_openshell.reference.driver.lifecycle import Lifecycle
from pytest_openshell.reference.driver.observe import to_driver_sandbox
from pytest_openshell.reference.driver.watch import SandboxWatch
from pytest_openshell.reference.identity import MemoryClaimRecords, ServiceAccountVerifier
from pytest_openshell.reference.kube import AgentSandboxResources
from pytest_openshell.reference.status import StatusError, rpc


class ComputeDriverService(pb_grpc.ComputeDriverServicer):
    def __init__(self, config: DriverConfig, resources: AgentSandboxResources) -> None:
        self.config = config
        self.resources = resources
        self.claims = MemoryClaimRecords()
        self.lifecycle = Lifecycle(config, resources, self.claims)
        self.verifier = ServiceAccountVerifier(resources.api, config.identity_policy, self.claims, config.faults, resources)
        self._watches: set[SandboxWatch] = set()
        self._closing = False
        self._lock = threading.Lock()

    @rpc
    def GetCapabilities(self, request: pb.GetCapabilitiesRequest, context: grpc.ServicerContext) -> pb.GetCapabilitiesResponse:
        return pb.GetCapabilitiesResponse(
            driver_name=DRIVER_NAME, driver_version=self.config.version, default_image=self.config.default_image,
            gateway_manages_lifecycle=False, supports_sandbox_authentication=True,
            driver_reports_runtime_readiness=self.config.reports_runtime_readiness)

    @rpc
    def AuthenticateSandbox(self, request: pb.AuthenticateSandboxRequest,
                            context: grpc.ServicerContext) -> pb.AuthenticateSandboxResponse:
        return pb.AuthenticateSandboxResponse(sandbox_id=self.verifier.verify(request.credential).sandbox_id)

    @rpc
    def GetGatewayListenerRequirements(self, request: pb.GetGatewayListenerRequirementsRequest,
                                       context: grpc.ServicerContext) -> pb.GetGatewayListenerRequirementsResponse:
        # Pods reach the gateway through its Service; no extra listener is needed.
        return pb.GetGatewayListenerRequirementsResponse()

    @rpc
    def ValidateSandboxCreate(self, request: pb.ValidateSandboxCreateRequest,
                              context: grpc.ServicerContext) -> pb.ValidateSandboxCreateResponse:
        manifests.validate(self.config, request.sandbox)
        return pb.ValidateSandboxCreateResponse()

    @rpc
    def CreateSandbox(self, request: pb.CreateSandboxRequest, context: grpc.ServicerContext) -> pb.CreateSandboxResponse:
        created = self.lifecycle.create(request.sandbox)
        if created.claim_uid:
            # Tell the caller, over this trusted channel, which claim incarnation the id is bound to.
            context.set_trailing_metadata(
                ((WARM_CLAIM_METADATA, f"{self.config.namespace}/{created.claim_name}/{created.claim_uid}"),))
        return pb.CreateSandboxResponse()

    @rpc
    def GetSandbox(self, request: pb.GetSandboxRequest, context: grpc.ServicerContext) -> pb.GetSandboxResponse:
        found = self.lifecycle.find(request.sandbox_id, request.sandbox_name)
        return pb.GetSandboxResponse(sandbox=to_driver_sandbox(found.obj, self.config.faults))

    @rpc
    def ListSandboxes(self, request: pb.ListSandboxesRequest, context: grpc.ServicerContext) -> pb.ListSandboxesResponse:
        return pb.ListSandboxesResponse(sandboxes=[to_driver_sandbox(o, self.config.faults) for o in self.lifecycle.list()])

    @rpc
    def StopSandbox(self, request: pb.StopSandboxRequest, context: grpc.ServicerContext) -> pb.StopSandboxResponse:
        self.lifecycle.set_running(request.sandbox_id, request.sandbox_name, running=False)
        return pb.StopSandboxResponse()

    @rpc
    def StartSandbox(self, request: pb.StartSandboxRequest, context: grpc.ServicerContext) -> pb.StartSandboxResponse:
        self.lifecycle.set_running(request.sandbox_id, request.sandbox_name, running=True)
        return pb.StartSandboxResponse()

    @rpc
    def DeleteSandbox(self, request: pb.DeleteSandboxRequest, context: grpc.ServicerContext) -> pb.DeleteSandboxResponse:
        return pb.DeleteSandboxResponse(deleted=self.lifecycle.delete(request.sandbox_id, request.sandbox_name))

    @rpc
    def WatchSandboxes(self, request: pb.WatchSandboxesRequest,
                       context: grpc.ServicerContext) -> Iterator[pb.WatchSandboxesEvent]:
        watch = SandboxWatch(self.config, self.resources)
        with self._lock:
            closing = self._closing
            self._watches.add(watch)
        try:
            # Both checks matter: a stream that starts while the server stops, or whose client already
            # left (add_callback then returns False and never calls back), would otherwise block forever.
            if closing:
                raise StatusError(grpc.StatusCode.UNAVAILABLE, "driver is shutting down")
            if not context.add_callback(watch.stop):
                return
            watch.start()
            yield from watch.events()
            if watch.shutdown:  # tell the client to come back later rather than "stream complete"
                raise StatusError(grpc.StatusCode.UNAVAILABLE, "driver is shutting down")
        finally:
            watch.stop()
            with self._lock:
                self._watches.discard(watch)

    @rpc
    def EnsureWorkspace(self, request: pb.EnsureWorkspaceRequest, context: grpc.ServicerContext) -> pb.EnsureWorkspaceResponse:
        # Shared-namespace mode: a workspace is a label value in the driver's namespace, which must exist.
        _check_workspace(request.workspace)
        k8s.CoreV1Api(self.resources.api).read_namespace(self.config.namespace)
        return pb.EnsureWorkspaceResponse()

    @rpc
    def DeleteWorkspace(self, request: pb.DeleteWorkspaceRequest, context: grpc.ServicerContext) -> pb.DeleteWorkspaceResponse:
        _check_workspace(request.workspace)
        self.lifecycle.delete_workspace(request.workspace)
        return pb.DeleteWorkspaceResponse()

    def stop_watches(self) -> None:
        """End every open WatchSandboxes stream (UNAVAILABLE) and refuse new ones: the server is stopping."""
        with self._lock:
            self._closing = True
            watches = list(self._watches)
        for watch in watches:
            watch.stop(shutdown=True)


def _check_workspace(workspace: str) -> None:
    if not workspace or not is_label_value(workspace):
        raise StatusError(grpc.StatusCode.INVALID_ARGUMENT, "workspace must be a non-empty label value")
