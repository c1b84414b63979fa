"""What the platform says about a sandbox, as driver messages.

Drivers report backend state only. Ready comes from the platform object's Ready condition: the
Sandbox's for a cold sandbox, the SandboxClaim's (which follows its adopted Sandbox) for a warm one.
"""

from __future__ import annotations

from datetime import datetime

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as pb
from pytest_openshell.agentsandbox.labels import POD_NAME_ANNOTATION
from pytest_openshell.contract.labels import SANDBOX_ID, SANDBOX_NAME, SANDBOX_WORKSPACE
from pytest_openshell.reference.kube import Obj, labels, meta

EARLY_READY = pb.DriverCondition(type="Ready", status="True", reason="Created",
                                 message="reported ready as soon as the object exists")


def is_claim(obj: Obj) -> bool:
    return obj.get("kind") == "SandboxClaim"


def bound_sandbox(obj: Obj) -> str:
    """The agents.x-k8s.io Sandbox behind a platform object: itself, or the one a claim adopted."""
    if is_claim(obj):
        return str(((obj.get("status") or {}).get("sandbox") or {}).get("name") or "")
    return str(meta(obj).get("name") or "")


def conditions(obj: Obj, faults: frozenset[str]) -> list[pb.DriverCondition]:
    out = [pb.DriverCondition(type=str(c.get("type", "")), status=str(c.get("status", "")), reason=str(c.get("reason") or ""),
                              message=str(c.get("message") or ""), last_transition_time=str(c.get("lastTransitionTime") or ""))
           for c in (obj.get("status") or {}).get("conditions") or []]
    if "report-ready-early" in faults:
        out = [c for c in out if c.type != "Ready"] + [EARLY_READY]
    return out


def to_driver_sandbox(obj: Obj, faults: frozenset[str] = frozenset()) -> pb.DriverSandbox:
    m, lab = meta(obj), labels(obj)
    sandbox_name = bound_sandbox(obj)
    annotations = m.get("annotations") or {}
    instance = str(annotations.get(POD_NAME_ANNOTATION) or sandbox_name)  # the pod is named after its Sandbox
    return pb.DriverSandbox(
        id=lab.get(SANDBOX_ID, ""),
        name=lab.get(SANDBOX_NAME, str(m.get("name", ""))),
        namespace=str(m.get("namespace", "")),
        workspace=lab.get(SANDBOX_WORKSPACE, ""),
        status=pb.DriverSandboxStatus(sandbox_name=sandbox_name, instance_id=instance, conditions=conditions(obj, faults),
                                      deleting=bool(m.get("deletionTimestamp"))),
    )


def _millis(stamp: object) -> int:
    if not stamp:
        return 0
    try:
        return int(datetime.fromisoformat(str(stamp)).timestamp() * 1000)
    except ValueError:
        return 0


def platform_event(event: Obj) -> pb.DriverPlatformEvent:
    """A core/v1 Event as a driver platform event."""
    involved = event.get("involvedObject") or {}
    stamp = event.get("eventTime") or event.get("lastTimestamp") or event.get("firstTimestamp") or meta(event).get("creationTimestamp")
    metadata = {k: str(v) for k, v in (("kind", involved.get("kind")), ("name", involved.get("name")),
                                       ("namespace", involved.get("namespace")), ("uid", involved.get("uid"))) if v}
    if count := event.get("count"):
        metadata["count"] = str(count)
    return pb.DriverPlatformEvent(timestamp_ms=_millis(stamp), source="kubernetes", type=str(event.get("type") or ""),
                                  reason=str(event.get("reason") or ""), message=str(event.get("message") or ""),
                                  metadata=metadata)
