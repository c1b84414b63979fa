"""Small steps the lifecycle suites share: wall-clock times of watch receipts, condition reasons,
finalizers that hold a pod, schema checks that turn a missing field into "unsupported"."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException

from pytest_openshell.agentsandbox.schema import missing_fields
from pytest_openshell.kube.waits import Obj, condition
from pytest_openshell.suite.context import SuiteContext

HOLD = "pytest-openshell.io/hold"  # a finalizer of ours: the pod outlives its deletion until we drop it
# The simulated node's pods only exit when their spec says so (clusters/kwok/README.md); a real node
# runs the same script, so the two agree on when a pod finishes.
FINISHING_CONTAINER: Obj = {"name": "agent", "image": "localhost/pytest-openshell/sandbox:2", "command": ["sh", "-c", "exit 0"]}
RUNNING_CONTAINER: Obj = {"name": "agent", "image": "localhost/pytest-openshell/sandbox:2"}


def pod_spec(container: Obj, **extra: Any) -> Obj:
    return {"containers": [dict(container)], "automountServiceAccountToken": False, **extra}


def finishing_pod() -> Obj:
    return pod_spec(FINISHING_CONTAINER, restartPolicy="Never")


class Clock:
    """Maps a recorder's monotonic receipt times onto the wall clock the API server stamps with."""

    def __init__(self) -> None:
        self.offset = time.time() - time.monotonic()

    def wall(self, monotonic: float) -> float:
        return monotonic + self.offset

    def at(self, seconds_from_now: float) -> tuple[str, float]:
        """An RFC 3339 time (whole seconds: what the API keeps) at least ``seconds_from_now`` ahead, and its epoch."""
        epoch = float(math.ceil(time.time() + seconds_from_now))
        return rfc3339(epoch), epoch


def rfc3339(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def reason_is(ctype: str, reason: str, status: str | None = None) -> Callable[[Obj], bool]:
    def check(obj: Obj) -> bool:
        cond = condition(obj, ctype)
        return cond is not None and cond.get("reason") == reason and (status is None or cond.get("status") == status)

    return check


def conditions_of(obj: Obj) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c.get("status", ""), c.get("reason", "")) for c in (obj.get("status") or {}).get("conditions") or []}


def deleting(obj: Obj) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def require_fields(ctx: SuiteContext, feature: str, fields: dict[str, list[str]]) -> None:
    """Unsupported unless the lane's served CRDs (at the version the suite speaks) have every field."""
    missing = [f"{kind}.{path}" for kind, paths in fields.items()
               for path in missing_fields(ctx.api, kind, ctx.sandboxes.version, paths)]
    if missing:
        ctx.unsupported([feature], f"the served {ctx.sandboxes.version} schema has no {', '.join(missing)}")


def hold_pod(ctx: SuiteContext, name: str, kind: str = "Pod") -> None:
    """Put our finalizer on the pod (or the agent-sandbox object of ``kind``): once deleted it
    lingers, Terminating, until we drop it, at the latest at the end of the test."""
    _edit_finalizers(ctx, kind, name, lambda kept: [*kept, HOLD] if HOLD not in kept else kept)
    ctx.defer(lambda: release_pod(ctx, name, kind))


def release_pod(ctx: SuiteContext, name: str, kind: str = "Pod") -> None:
    _edit_finalizers(ctx, kind, name, lambda kept: [f for f in kept if f != HOLD])


CONFLICT_RETRIES = 20  # an object's status moves under us (the node, the controller); each retry re-reads it


def _read(ctx: SuiteContext, kind: str, name: str) -> Obj:
    if kind == "Pod":
        return ctx.api.sanitize_for_serialization(ctx.core.read_namespaced_pod(name, ctx.namespace))  # type: ignore[no-any-return]
    return ctx.sandboxes.get(kind, ctx.namespace, name)


def _edit_finalizers(ctx: SuiteContext, kind: str, name: str, edit: Callable[[list[str]], list[str]]) -> None:
    """Read-modify-write of the object's finalizers, guarded by resourceVersion so a finalizer someone
    else added meanwhile is never dropped; a 409 means the object changed since we read it: read again."""
    for _ in range(CONFLICT_RETRIES):
        meta = _read(ctx, kind, name)["metadata"]
        body = {"metadata": {"finalizers": edit(list(meta.get("finalizers") or [])) or None, "resourceVersion": meta["resourceVersion"]}}
        try:
            if kind == "Pod":
                ctx.core.patch_namespaced_pod(name, ctx.namespace, body)
            else:
                ctx.sandboxes.patch(kind, ctx.namespace, name, body)
            return
        except ApiException as exc:
            if exc.status != 409:
                raise
    raise AssertionError(f"{kind} {ctx.namespace}/{name}: its finalizers could not be changed in {CONFLICT_RETRIES} tries: "
                         "every write conflicted with another writer")


def cold_source(ctx: SuiteContext, template: str, pod: Obj, pool: str) -> str | None:
    """A template, and where claims without a warm candidate come from: an empty pool on v1beta1
    (its claims must name one), ``warmpool: none`` on v1alpha1. Returns the pool to claim from."""
    ctx.sandboxes.create(ctx.namespace, ctx.sandboxes.template(template, pod))
    if ctx.sandboxes.beta:
        ctx.sandboxes.create(ctx.namespace, ctx.sandboxes.warm_pool(pool, template, 0))
        return pool
    return None
