"""Predicates and small steps the agent-sandbox suites share."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pytest_openshell.agentsandbox.labels import NAME_HASH
from pytest_openshell.kube.recorder import Event, EventRecorder, is_named
from pytest_openshell.kube.waits import Obj, condition
from pytest_openshell.suite.context import SuiteContext

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def pod_ready(obj: Obj) -> bool:
    status = obj.get("status") or {}
    ready = condition(obj, "Ready")
    return status.get("phase") == "Running" and bool(status.get("podIP")) and ready is not None and ready["status"] == "True"


def ready(obj: Obj) -> bool:
    cond = condition(obj, "Ready")
    return cond is not None and cond.get("status") == "True"


def uid(obj: Obj) -> str:
    return str(obj["metadata"]["uid"])


def controller_of(obj: Obj) -> list[tuple[str, str, str]]:
    refs = obj["metadata"].get("ownerReferences") or []
    return [(r["kind"], r["name"], r["uid"]) for r in refs if r.get("controller")]


def endpoints(slice_obj: Obj) -> list[dict[str, Any]]:
    return list(slice_obj.get("endpoints") or [])


def ready_endpoint_uids(slice_obj: Obj) -> set[str]:
    return {
        ep["targetRef"]["uid"]
        for ep in endpoints(slice_obj)
        if ep.get("targetRef") and (ep.get("conditions") or {}).get("ready") is True
    }


def slice_of(service: str, pred: Callable[[Obj], bool]) -> Callable[[Event], bool]:
    def check(ev: Event) -> bool:
        labels = ev.obj.get("metadata", {}).get("labels") or {}
        return ev.type != "DELETED" and labels.get(SERVICE_NAME_LABEL) == service and pred(ev.obj)

    return check


def serving(pod_uid: str) -> Callable[[Obj], bool]:
    return lambda s: pod_uid in ready_endpoint_uids(s)


def not_serving(pod_uid: str) -> Callable[[Obj], bool]:
    return lambda s: pod_uid not in ready_endpoint_uids(s)


def serving_other_than(pod_uid: str) -> Callable[[Obj], bool]:
    return lambda s: bool(ready_endpoint_uids(s) - {pod_uid})


def no_ready_endpoints(s: Obj) -> bool:
    return not ready_endpoint_uids(s)


def ms(start: float, end: float) -> float:
    return round((end - start) * 1000.0, 3)


def wait_serving_pod(ctx: SuiteContext, pods: EventRecorder, slices: EventRecorder, name: str, service: str,
                     *, since_pods: int = 0, since_slices: int = 0, not_uid: str | None = None) -> tuple[Obj, Event]:
    """The Sandbox's pod is Ready and its Service has it as a ready endpoint."""
    t = ctx.config.timeout
    pod_ev = pods.wait_for(is_named(name, lambda p: pod_ready(p) and uid(p) != not_uid), since=since_pods,
                           timeout=t("sandbox_ready"), what=f"pod {name} Ready", diagnose=ctx.diagnose)
    slice_ev = slices.wait_for(slice_of(service, serving(uid(pod_ev.obj))), since=since_slices,
                               timeout=t("endpoints"), what=f"Service {service} to have pod {name} as a ready endpoint",
                               diagnose=ctx.diagnose)
    return pod_ev.obj, slice_ev


def assert_selects_sandbox(service: Obj, sandbox_name: str) -> None:
    spec = service["spec"]
    assert spec.get("clusterIP") == "None", f"Service {service['metadata']['name']} is not headless: {spec.get('clusterIP')}"
    from pytest_openshell.agentsandbox import name_hash

    assert spec.get("selector") == {NAME_HASH: name_hash(sandbox_name)}, f"unexpected selector {spec.get('selector')}"


def now() -> float:
    return time.monotonic()
