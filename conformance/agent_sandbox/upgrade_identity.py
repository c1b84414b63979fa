"""Identities the reference gateway minted before an in-place upgrade, resolved again after it.

Sandboxes are created through the gateway (CreateSandbox) against a pool opted in to the driver's
warm path, so their pods are claimed warm pods whose identity re-anchors through the SandboxClaim.
Before the upgrade each pod's token buys its sandbox id from the gateway; after it, a fresh token
of the same pod must buy the same id: the chain (pod -> Sandbox -> claim -> the gateway's record)
still resolves through the upgraded objects. The gateway and driver keep running across the
upgrade, as they would in a cluster.
"""

from __future__ import annotations

from typing import Any

from conformance.agent_sandbox.checks import pod_ready
from conformance.openshell.common import create_sandbox, new_name, pod_token, present_to_gateway
from pytest_openshell.agentsandbox import SandboxAPI
from pytest_openshell.contract.labels import POD_SANDBOX_ID, WARM_POOL, WARM_POOL_VALUE
from pytest_openshell.kindimage.workloads import SANDBOX_IMAGE as IMAGE
from pytest_openshell.kube.recorder import EventRecorder, is_named
from pytest_openshell.kube.waits import Obj, as_dict
from pytest_openshell.suite.context import SuiteContext

POOL, SANDBOXES = "upg-osh-pool", 2


def before(ctx: SuiteContext, api: SandboxAPI) -> dict[str, Any]:
    """Per sandbox id: its pod (name, uid), whether a claim holds it, and the identity the gateway gave its token."""
    if ctx.services_factory is None or not ctx.services.reference_gateway or not ctx.services.reference_driver:
        return {"unsupported": "the identity chain is checked through the reference gateway and driver only"}
    ns, t = ctx.namespace, ctx.config.timeout
    spec = {"containers": [{"name": "agent", "image": IMAGE}], "automountServiceAccountToken": False}
    api.create(ns, api.template(f"{POOL}-tpl", spec))
    pool = api.warm_pool(POOL, f"{POOL}-tpl", SANDBOXES)
    pool["metadata"]["labels"] = {WARM_POOL: WARM_POOL_VALUE}
    api.create(ns, pool)
    pools = EventRecorder(api.lister("SandboxWarmPool", ns), f"SandboxWarmPool in {ns}")
    try:
        pools.wait_for(is_named(POOL, lambda p: (p.get("status") or {}).get("readyReplicas") == SANDBOXES),
                       timeout=t("pool_ready"), what=f"pool {POOL} ready", diagnose=ctx.diagnose)
    finally:
        pools.stop()
    found: dict[str, Any] = {}
    for _ in range(SANDBOXES):
        sandbox_id = create_sandbox(ctx, new_name("upg"))
        pod = _pod_of(ctx, sandbox_id)
        outcome = present_to_gateway(ctx, pod_token(ctx, pod))
        owner = api.get("Sandbox", ns, _controller_name(pod))
        found[sandbox_id] = {"pod": pod["metadata"]["name"], "pod_uid": pod["metadata"]["uid"],
                             "claimed": any(r["kind"] == "SandboxClaim" for r in owner["metadata"].get("ownerReferences") or []),
                             "identity": outcome.sandbox_id, "code": outcome.code.name if outcome.code else None}
        # The pool refills before the next request, so that one is served warm too.
        pools = EventRecorder(api.lister("SandboxWarmPool", ns), f"SandboxWarmPool in {ns}")
        try:
            pools.wait_for(is_named(POOL, lambda p: (p.get("status") or {}).get("readyReplicas") == SANDBOXES),
                           timeout=t("pool_ready"), what=f"pool {POOL} refilled", diagnose=ctx.diagnose)
        finally:
            pools.stop()
    return {"sandboxes": found}


def after(ctx: SuiteContext, earlier: dict[str, Any] | None) -> dict[str, Any]:
    """Per sandbox id: the identity a fresh token of its (current) pod buys now."""
    if not earlier or "sandboxes" not in earlier:
        return {"unsupported": (earlier or {}).get("unsupported", "no identities were minted before the upgrade")}
    out: dict[str, Any] = {}
    carried = {(p["metadata"].get("annotations") or {}).get(POD_SANDBOX_ID)
               for p in as_dict(ctx.core.list_namespaced_pod(ctx.namespace))["items"]}
    for sandbox_id, seen in earlier["sandboxes"].items():
        if sandbox_id not in carried:  # lost with its objects: nothing to wait for
            out[sandbox_id] = {"pod": None, "identity": None, "code": None, "reason": "no pod carries this id any more"}
            continue
        pod = _pod_of(ctx, sandbox_id)
        outcome = present_to_gateway(ctx, pod_token(ctx, pod))
        out[sandbox_id] = {"pod": pod["metadata"]["name"], "pod_uid": pod["metadata"]["uid"], "identity": outcome.sandbox_id,
                           "code": outcome.code.name if outcome.code else None, "reason": outcome.reason,
                           "same_pod": pod["metadata"]["uid"] == seen["pod_uid"]}
    return {"sandboxes": out}


def _pod_of(ctx: SuiteContext, sandbox_id: str) -> Obj:
    """The Ready pod the gateway's id annotation names (found by it: the driver picks the names)."""
    pods = EventRecorder(lambda **kw: ctx.core.list_namespaced_pod(ctx.namespace, **kw), f"Pod in {ctx.namespace}")
    try:
        return pods.wait_for(lambda ev: ev.type != "DELETED" and pod_ready(ev.obj)
                             and (ev.obj["metadata"].get("annotations") or {}).get(POD_SANDBOX_ID) == sandbox_id,
                             timeout=ctx.config.timeout("sandbox_ready"), what=f"the Ready pod of sandbox {sandbox_id}",
                             diagnose=ctx.diagnose).obj
    finally:
        pods.stop()


def _controller_name(pod: Obj) -> str:
    refs = [r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller") and r["kind"] == "Sandbox"]
    return str(refs[0]["name"]) if refs else str(pod["metadata"]["name"])
