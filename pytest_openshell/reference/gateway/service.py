"""The openshell.v1 OpenShell gRPC service (the subset in proto/openshell/v1), backed by a driver."""

from __future__ import annotations

import secrets
import uuid

import grpc

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell._proto.openshell.v1 import openshell_pb2 as opb
from pytest_openshell._proto.openshell.v1 import openshell_pb2_grpc as opb_grpc
from pytest_openshell.contract.labels import is_dns_label, is_label_value
from pytest_openshell.reference.driver.config import DRIVER_NAME
from pytest_openshell.reference.gateway import paging, translate
from pytest_openshell.reference.gateway.auth import SandboxAuthenticator
from pytest_openshell.reference.gateway.config import GatewayConfig
from pytest_openshell.reference.gateway.driver_client import DriverClient
from pytest_openshell.reference.gateway.store import GatewayStore, NameTaken, SandboxRecord
from pytest_openshell.reference.status import StatusError, rpc

HEALTHY = opb.ServiceStatus.SERVICE_STATUS_HEALTHY
Outcome = opb.DeletionOutcome


def parse_selector(selector: str) -> dict[str, str]:
    out = {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        key, sep, value = term.partition("=")
        if not sep or not key:
            raise StatusError(grpc.StatusCode.INVALID_ARGUMENT, f"label selector term {term!r} is not key=value")
        out[key.strip()] = value.strip()
    return out


class OpenShellService(opb_grpc.OpenShellServicer):
    def __init__(self, config: GatewayConfig, store: GatewayStore, driver: DriverClient, auth: SandboxAuthenticator) -> None:
        self.config = config
        self.store = store
        self.driver = driver
        self.auth = auth
        self._capabilities: cpb.GetCapabilitiesResponse | None = None

    def capabilities(self) -> cpb.GetCapabilitiesResponse:
        """The driver's capabilities, asked once (a gateway snapshots them when it initialises the driver)."""
        if self._capabilities is None:
            self._capabilities = self.driver.capabilities()
        return self._capabilities

    def _record(self, name: str) -> SandboxRecord:
        record = self.store.by_name(name)
        if record is None:
            raise StatusError(grpc.StatusCode.NOT_FOUND, f"sandbox {name!r} not found")
        return record

    @rpc
    def Health(self, request: opb.HealthRequest, context: grpc.ServicerContext) -> opb.HealthResponse:
        return opb.HealthResponse(status=HEALTHY, version=self.config.version)

    @rpc
    def GetGatewayInfo(self, request: opb.GetGatewayInfoRequest, context: grpc.ServicerContext) -> opb.GetGatewayInfoResponse:
        caps = self.capabilities()
        driver = opb.ComputeDriverInfo(name=DRIVER_NAME, capabilities=opb.ComputeDriverCapabilities(
            driver_name=caps.driver_name, driver_version=caps.driver_version))
        if caps.HasField("resource_capabilities"):
            # The public message has the driver's numbers and types (proto/upstream-fields.yaml), so bytes carry over.
            driver.capabilities.resource_capabilities.ParseFromString(caps.resource_capabilities.SerializeToString())
        return opb.GetGatewayInfoResponse(status=HEALTHY, gateway_version=self.config.version, compute_drivers=[driver])

    @rpc
    def CreateSandbox(self, request: opb.CreateSandboxRequest, context: grpc.ServicerContext) -> opb.SandboxResponse:
        name = request.name or f"sandbox-{secrets.token_hex(4)}"
        if not is_dns_label(name):
            raise StatusError(grpc.StatusCode.INVALID_ARGUMENT, f"name {name!r} must be a DNS-1123 label")
        for key, value in request.labels.items():
            if not key or not is_label_value(value):
                raise StatusError(grpc.StatusCode.INVALID_ARGUMENT, f"label {key!r} is not valid")
        record = SandboxRecord(id=str(uuid.uuid4()), name=name, labels=dict(request.labels),
                               spec=request.spec.SerializeToString(), workspace=self.config.workspace)
        sandbox = translate.driver_sandbox(record, request.spec)
        self.driver.validate(sandbox)
        try:
            # Recorded before the platform object exists, so a pod can never present an id we do not know.
            self.store.add_sandbox(record)
        except NameTaken as exc:
            raise StatusError(grpc.StatusCode.ALREADY_EXISTS, f"sandbox {name!r} already exists") from exc
        try:
            claim = self.driver.create(sandbox)
        except StatusError:
            self.store.delete_sandbox(record.id)
            raise
        if claim is not None:
            self.store.record_claim(claim.namespace, claim.name, claim.uid, record.id)
        created = translate.public_sandbox(record, None)
        created.status.phase = opb.SandboxPhase.SANDBOX_PHASE_PROVISIONING
        return opb.SandboxResponse(sandbox=created)

    @rpc
    def GetSandbox(self, request: opb.GetSandboxRequest, context: grpc.ServicerContext) -> opb.SandboxResponse:
        record = self._record(request.name)
        return opb.SandboxResponse(sandbox=translate.public_sandbox(record, self.driver.get(record.id, record.name)))

    @rpc
    def ListSandboxes(self, request: opb.ListSandboxesRequest, context: grpc.ServicerContext) -> opb.ListSandboxesResponse:
        records = self.store.list_sandboxes(parse_selector(request.label_selector))
        page, next_token = paging.page(records, request.page_size, request.page_token, request.label_selector)
        observed = {s.id: s for s in self.driver.list()} if page else {}
        return opb.ListSandboxesResponse(sandboxes=[translate.public_sandbox(r, observed.get(r.id)) for r in page],
                                         next_page_token=next_token)

    @rpc
    def DeleteSandbox(self, request: opb.DeleteSandboxRequest, context: grpc.ServicerContext) -> opb.DeleteSandboxResponse:
        record = self.store.by_name(request.name)
        if record is None:
            if request.allow_missing:
                return opb.DeleteSandboxResponse(outcome=Outcome.DELETION_OUTCOME_ALREADY_ABSENT)
            raise StatusError(grpc.StatusCode.NOT_FOUND, f"sandbox {request.name!r} not found")
        self.driver.delete(record.id, record.name)
        # Forgotten even if the platform object was already gone: the id must stop authenticating.
        # The gateway's sandbox is gone when this returns (COMPLETED); a concurrent delete that
        # forgot it first makes this one ALREADY_ABSENT.
        removed = self.store.delete_sandbox(record.id)
        if not removed and not request.allow_missing:
            raise StatusError(grpc.StatusCode.NOT_FOUND, f"sandbox {request.name!r} not found")
        return opb.DeleteSandboxResponse(outcome=Outcome.DELETION_OUTCOME_COMPLETED if removed else Outcome.DELETION_OUTCOME_ALREADY_ABSENT,
                                         sandbox_id=record.id if removed else "")

    @rpc
    def IssueSandboxToken(self, request: opb.IssueSandboxTokenRequest,
                          context: grpc.ServicerContext) -> opb.IssueSandboxTokenResponse:
        minted = self.auth.issue(context.invocation_metadata())
        return opb.IssueSandboxTokenResponse(token=minted.token, expiration_time=translate.timestamp(minted.expires_at_ms))

    @rpc
    def RefreshSandboxToken(self, request: opb.RefreshSandboxTokenRequest,
                            context: grpc.ServicerContext) -> opb.RefreshSandboxTokenResponse:
        minted = self.auth.refresh(context.invocation_metadata())
        return opb.RefreshSandboxTokenResponse(token=minted.token, expiration_time=translate.timestamp(minted.expires_at_ms))
