"""Between the public ``openshell.v1`` model and the driver's ``openshell.compute.v1`` model.

The public Sandbox is gateway-owned: metadata and spec come from the gateway's store, status is
derived from the driver's latest observation. Nothing public crosses to the driver untranslated.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell._proto.openshell.datamodel.v1 import datamodel_pb2 as dpb
from pytest_openshell._proto.openshell.v1 import openshell_pb2 as opb
from pytest_openshell.reference.driver.config import DRIVER_NAME
from pytest_openshell.reference.gateway.store import SandboxRecord

Phase = opb.SandboxPhase


def driver_template(public: opb.SandboxTemplate) -> cpb.DriverSandboxTemplate:
    out = cpb.DriverSandboxTemplate(image=public.image, agent_socket_path=public.agent_socket,
                                    labels=dict(public.labels), environment=dict(public.environment))
    platform: dict[str, Any] = {}
    if public.runtime_class_name:
        platform["runtimeClassName"] = public.runtime_class_name
    if public.annotations:
        platform["annotations"] = dict(public.annotations)
    if public.HasField("resources"):
        platform["resources"] = MessageToDict(public.resources)
    if platform:
        out.platform_config.update(platform)
    if public.HasField("driver_config"):
        # The caller keys its config by driver; only this driver's block is forwarded.
        block = MessageToDict(public.driver_config).get(DRIVER_NAME)
        if isinstance(block, dict):
            out.driver_config.CopyFrom(_struct(block))
    if public.HasField("user_namespaces"):
        out.user_namespaces = public.user_namespaces
    return out


def _struct(value: dict[str, Any]) -> Struct:
    s = Struct()
    s.update(value)
    return s


def driver_sandbox(record: SandboxRecord, spec: opb.SandboxSpec) -> cpb.DriverSandbox:
    driver_spec = cpb.DriverSandboxSpec(log_level=spec.log_level, environment=dict(spec.environment),
                                        template=driver_template(spec.template), command=list(spec.command), tty=spec.tty)
    if spec.HasField("policy"):
        driver_spec.policy.CopyFrom(spec.policy)  # unknown policy fields travel along as unknown fields
    if spec.HasField("resource_requirements"):
        # Same numbers and types on both sides of the boundary (proto/upstream-fields.yaml).
        driver_spec.resource_requirements.ParseFromString(spec.resource_requirements.SerializeToString())
    return cpb.DriverSandbox(id=record.id, name=record.name, namespace=record.namespace, spec=driver_spec,
                             workspace=record.workspace)


def phase(observed: cpb.DriverSandbox | None) -> int:
    if observed is None:
        return Phase.SANDBOX_PHASE_UNKNOWN
    if observed.status.deleting:
        return Phase.SANDBOX_PHASE_DELETING
    ready = next((c for c in observed.status.conditions if c.type == "Ready"), None)
    if ready is not None and ready.status == "True":
        return Phase.SANDBOX_PHASE_READY
    return Phase.SANDBOX_PHASE_PROVISIONING


def public_status(observed: cpb.DriverSandbox | None) -> opb.SandboxStatus:
    status = opb.SandboxStatus(phase=phase(observed))  # type: ignore[arg-type]
    if observed is not None:
        s = observed.status
        status.sandbox_name = s.sandbox_name
        status.agent_pod = s.instance_id
        status.agent_fd = s.agent_fd
        status.sandbox_fd = s.sandbox_fd
        status.conditions.extend(public_condition(c) for c in s.conditions)
    return status


def timestamp(ms: int) -> Timestamp | None:
    """Milliseconds since the epoch as a Timestamp; None (field unset) for 0."""
    if not ms:
        return None
    out = Timestamp()
    out.FromMilliseconds(ms)
    return out


def public_condition(c: cpb.DriverCondition) -> opb.SandboxCondition:
    out = opb.SandboxCondition(type=c.type, status=c.status, reason=c.reason, message=c.message)
    if c.HasField("transition_time"):
        out.transition_time.CopyFrom(c.transition_time)
    elif c.last_transition_time:
        try:  # the 2026-08 contract's RFC 3339 text
            out.transition_time.FromJsonString(c.last_transition_time)
        except ValueError:
            pass  # a driver's unparseable time is dropped, not a failed Get
    return out


def public_sandbox(record: SandboxRecord, observed: cpb.DriverSandbox | None) -> opb.Sandbox:
    spec = opb.SandboxSpec.FromString(record.spec)
    metadata = dpb.ObjectMeta(id=record.id, name=record.name, labels=record.labels, resource_version=record.resource_version,
                              workspace=record.workspace, created_time=timestamp(record.created_at_ms))
    return opb.Sandbox(metadata=metadata, spec=spec, status=public_status(observed))
