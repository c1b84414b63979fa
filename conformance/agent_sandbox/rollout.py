"""Profile agent-sandbox-lifecycle, rollout: how a warm pool's Sandboxes follow a change of template.

"Left alone" is never judged by waiting a while: each such check has a barrier, a Sandbox the same
pool creates after the change (the pool is scaled up by one). The pool's controller deletes stale
Sandboxes before it creates new ones in a pass, and one watch orders both, so a Sandbox that was to
be rolled has a deletion in the history before that barrier.
"""

from __future__ import annotations

from collections.abc import Callable

from conformance.agent_sandbox.checks import controller_of, ready
from conformance.agent_sandbox.support import RUNNING_CONTAINER, deleting, pod_spec, require_fields
from pytest_openshell.agentsandbox import name_hash
from pytest_openshell.agentsandbox.labels import WARM_POOL_SANDBOX
from pytest_openshell.kube.recorder import Event, EventRecorder, is_named
from pytest_openshell.kube.waits import Obj
from pytest_openshell.suite import ConformanceTest
from pytest_openshell.suite.context import SuiteContext

PROFILE = "agent-sandbox-lifecycle"
MARK = "ROLLOUT"  # an env var whose value says which template revision a Sandbox was made from


def _template(ctx: SuiteContext, name: str, revision: str) -> Obj:
    container = dict(RUNNING_CONTAINER, env=[{"name": MARK, "value": revision}])
    return ctx.sandboxes.template(name, pod_spec(container))


def _revision(box: Obj) -> str | None:
    for c in box["spec"]["podTemplate"]["spec"]["containers"]:
        for env in c.get("env") or []:
            if env["name"] == MARK:
                return str(env.get("value"))
    return None


def _members(ctx: SuiteContext, pool: str) -> list[Obj]:
    items = ctx.sandboxes.lister("Sandbox", ctx.namespace)(label_selector=f"{WARM_POOL_SANDBOX}={name_hash(pool)}")["items"]
    return [b for b in items if not deleting(b) and any(k == "SandboxWarmPool" and n == pool for k, n, _ in controller_of(b))]


def _pool(ctx: SuiteContext, pools: EventRecorder, name: str, template: str, replicas: int, strategy: str) -> list[Obj]:
    body = ctx.sandboxes.warm_pool(name, template, replicas)
    body["spec"]["updateStrategy"] = {"type": strategy}
    ctx.sandboxes.create(ctx.namespace, body)
    pools.wait_for(is_named(name, lambda o: (o.get("status") or {}).get("readyReplicas") == replicas),
                   timeout=ctx.config.timeout("pool_ready"), what=f"pool {name} readyReplicas={replicas}", diagnose=ctx.diagnose)
    return _members(ctx, name)


def _fresh(pool: str, revision: str, not_names: set[str]) -> Callable[[Event], bool]:
    def check(ev: Event) -> bool:
        labels = ev.obj["metadata"].get("labels") or {}
        return (ev.type != "DELETED" and labels.get(WARM_POOL_SANDBOX) == name_hash(pool) and ev.name not in not_names
                and _revision(ev.obj) == revision and ready(ev.obj))

    return check


def _barrier(ctx: SuiteContext, boxes: EventRecorder, pool: str, replicas: int, revision: str, since: int, known: set[str]) -> Event:
    """Scale ``pool`` to ``replicas`` and wait for a Ready Sandbox of ``revision`` not in ``known``."""
    ctx.sandboxes.patch("SandboxWarmPool", ctx.namespace, pool, {"spec": {"replicas": replicas}})
    return boxes.wait_for(_fresh(pool, revision, known), since=since, timeout=ctx.config.timeout("pool_ready"),
                          what=f"a new Ready Sandbox of pool {pool} from template revision {revision}", diagnose=ctx.diagnose)


def _deleted_before(boxes: EventRecorder, name: str, since: int, until: int) -> bool:
    return any(ev.name == name and (ev.type == "DELETED" or deleting(ev.obj)) for ev in boxes.history[since:until])


def warm_pool_rollout(ctx: SuiteContext) -> None:
    require_fields(ctx, "WarmPoolRollout", {"SandboxWarmPool": ["spec.updateStrategy.type"]})
    pools, boxes, claims, sb = ctx.recorder("SandboxWarmPool"), ctx.recorder("Sandbox"), ctx.recorder("SandboxClaim"), ctx.sandboxes
    with ctx.step("pools: recreate (2, one of them claimed), on-replenish (1), other (1, another template), switch (1)"):
        for name in ("tpl-a", "tpl-b", "tpl-c"):
            sb.create(ctx.namespace, _template(ctx, name, "1"))
        recreate = _pool(ctx, pools, "recreate", "tpl-a", 2, "Recreate")
        replenish = _pool(ctx, pools, "replenish", "tpl-a", 1, "OnReplenish")
        other = _pool(ctx, pools, "other", "tpl-b", 1, "Recreate")
        switch = _pool(ctx, pools, "switch", "tpl-b", 1, "Recreate")
        sb.create(ctx.namespace, sb.claim("holder", template="tpl-a", pool="recreate"))
        held = claims.wait_for(is_named("holder", ready), timeout=ctx.config.timeout("claim_ready"), what="claim holder Ready",
                               diagnose=ctx.diagnose).obj["status"]["sandbox"]["name"]
        assert held in {b["metadata"]["name"] for b in recreate}, f"claim holder was not served from pool recreate: {held}"
        pools.wait_for(is_named("recreate", lambda o: (o.get("status") or {}).get("readyReplicas") == 2), since=0,
                       timeout=ctx.config.timeout("pool_ready"), what="pool recreate replenished", diagnose=ctx.diagnose)
        unclaimed = {b["metadata"]["name"] for b in _members(ctx, "recreate")}
    with ctx.step("a metadata-only change of template tpl-b rolls nothing"):
        mark = boxes.mark()
        sb.patch("SandboxTemplate", ctx.namespace, "tpl-b", {"spec": {"podTemplate": {"metadata": {"labels": {"rollout-meta": "2"}}}}})
        other_names = {b["metadata"]["name"] for b in other}
        barrier = _barrier(ctx, boxes, "other", 2, "1", mark, other_names)
        rolled = [n for n in other_names if _deleted_before(boxes, n, mark, barrier.seq)]
        assert not rolled, f"a metadata-only template change rolled pool other's Sandboxes {rolled}"
    with ctx.step("a spec change of template tpl-a: Recreate rolls the unclaimed Sandboxes, not the claimed one"):
        mark = boxes.mark()
        sb.patch("SandboxTemplate", ctx.namespace, "tpl-a", {"spec": _template(ctx, "tpl-a", "2")["spec"]})
        for name in unclaimed:
            boxes.wait_for(is_named(name, deleted=True), since=mark, timeout=ctx.config.timeout("pool_ready"),
                           what=f"stale Sandbox {name} of pool recreate deleted", diagnose=ctx.diagnose)
        made: set[str] = set()
        for _ in unclaimed:  # as many replacements, Ready, from the new revision
            made.add(boxes.wait_for(_fresh("recreate", "2", made), since=mark, timeout=ctx.config.timeout("pool_ready"),
                                    what="a Ready replacement in pool recreate from revision 2", diagnose=ctx.diagnose).name)
        claimed = sb.get("Sandbox", ctx.namespace, held)
        assert not deleting(claimed) and _revision(claimed) == "1", "the claimed Sandbox was rolled with the pool"
        assert not _deleted_before(boxes, held, mark, len(boxes.history)), f"the claimed Sandbox {held} was deleted"
    with ctx.step("OnReplenish keeps its stale Sandbox; its replacement is made from the new template"):
        old = replenish[0]["metadata"]["name"]
        barrier = _barrier(ctx, boxes, "replenish", 2, "2", mark, {old})
        assert not _deleted_before(boxes, old, mark, barrier.seq), "OnReplenish deleted its stale Sandbox"
        gone = boxes.mark()
        sb.delete("Sandbox", ctx.namespace, old)
        boxes.wait_for(_fresh("replenish", "2", {old, barrier.name}), since=gone, timeout=ctx.config.timeout("pool_ready"),
                       what=f"a Ready replacement of the deleted stale Sandbox {old} from revision 2", diagnose=ctx.diagnose)
    with ctx.step("switching pool switch to template tpl-c (same spec) rolls it; pool other, on tpl-b, is undisturbed"):
        mark = boxes.mark()
        before = switch[0]["metadata"]["name"]
        others = {b["metadata"]["name"] for b in _members(ctx, "other")}
        sb.patch("SandboxWarmPool", ctx.namespace, "switch", {"spec": {"sandboxTemplateRef": {"name": "tpl-c"}}})
        boxes.wait_for(is_named(before, deleted=True), since=mark, timeout=ctx.config.timeout("pool_ready"),
                       what=f"Sandbox {before} of the switched pool deleted", diagnose=ctx.diagnose)
        barrier = _barrier(ctx, boxes, "other", 3, "1", mark, others)
        disturbed = [n for n in others if _deleted_before(boxes, n, mark, barrier.seq)]
        assert not disturbed, f"rolling pool switch deleted pool other's Sandboxes {disturbed}"


TESTS = [
    ConformanceTest("WarmPoolRollout", "a template change rolls a Recreate pool's unclaimed Sandboxes (claimed ones kept), not an "
                    "OnReplenish pool's; a template switch rolls; a metadata change does not; pools of other templates are left alone",
                    PROFILE, ("WarmPoolRollout",), warm_pool_rollout, serial=True),  # its claim would land in the metrics test
]
