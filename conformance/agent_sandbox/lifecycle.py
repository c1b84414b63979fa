"""Profile agent-sandbox-lifecycle: Sandboxes expire at their shutdownTime; finished claims go after their TTL.

Expiry times are a few seconds ahead (whole seconds: the API keeps no more), and every wait is a
watch with a deadline. "Retained" is checked against a control the same controller expired in the
same window, never by sitting out a timer.
"""

from __future__ import annotations

from conformance.agent_sandbox.support import (
    RUNNING_CONTAINER,
    Clock,
    cold_source,
    conditions_of,
    deleting,
    finishing_pod,
    hold_pod,
    parse_time,
    pod_spec,
    reason_is,
    release_pod,
    require_fields,
)
from pytest_openshell.kube.recorder import EventRecorder, is_named
from pytest_openshell.kube.waits import Obj, condition
from pytest_openshell.results.model import Measurement
from pytest_openshell.suite import ConformanceTest
from pytest_openshell.suite.context import SuiteContext

PROFILE = "agent-sandbox-lifecycle"
EXPIRE_IN_S = 4.0  # far enough ahead for the Sandbox to turn Ready first, short enough to keep the suite fast
EXPIRY_SLACK_S = 30.0  # how late past its time an expiry may be and still count (it is measured, not budgeted)


def _wait_gone(ctx: SuiteContext, rec: EventRecorder, name: str, what: str, since: int = 0) -> float:
    ev = rec.wait_for(is_named(name, deleted=True), since=since, timeout=EXPIRE_IN_S + EXPIRY_SLACK_S,
                      what=f"{what} {name} deleted", diagnose=ctx.diagnose)
    return ev.at


def _deletion_started(rec: EventRecorder, name: str) -> float | None:
    """The deletionTimestamp the API server stamped on ``name`` (epoch seconds), if it was seen."""
    ev = rec.find(is_named(name, deleting)) or rec.find(is_named(name, deleted=True))
    stamp = ev.obj["metadata"].get("deletionTimestamp") if ev else None
    return parse_time(stamp) if stamp else None


def _assert_not_early(rec: EventRecorder, name: str, what: str, due: float) -> None:
    started = _deletion_started(rec, name)
    if started is not None:
        assert started >= due, f"{what} {name} was deleted at {started:.0f}, before its time {due:.0f}"


def _no_service(box: Obj) -> bool:
    status = box.get("status") or {}
    return not status.get("serviceFQDN") and not status.get("service")


def sandbox_expiry(ctx: SuiteContext) -> None:
    require_fields(ctx, "SandboxExpiry", {"Sandbox": ["spec.shutdownTime", "spec.shutdownPolicy"]})
    clock = Clock()
    pods, services, boxes = ctx.recorder("Pod"), ctx.recorder("Service"), ctx.recorder("Sandbox")
    sb = ctx.sandboxes
    with ctx.step("create a Sandbox that expires with policy Delete, and one whose pod finishes (Retain)"):
        delete_at, delete_due = clock.at(EXPIRE_IN_S)
        doomed = sb.sandbox("doomed", pod_spec(RUNNING_CONTAINER), service=True)
        doomed["spec"].update(shutdownTime=delete_at, shutdownPolicy="Delete")
        sb.create(ctx.namespace, doomed)
        finished = sb.sandbox("finished", finishing_pod())
        finished_at, finished_due = clock.at(EXPIRE_IN_S)
        finished["spec"].update(shutdownTime=finished_at, shutdownPolicy="Retain")
        sb.create(ctx.namespace, finished)
    with ctx.step("a running Sandbox is Ready, then gets a shutdownTime (default policy Retain)"):
        sb.create(ctx.namespace, sb.sandbox("kept", pod_spec(RUNNING_CONTAINER), service=True))
        boxes.wait_for(is_named("kept", lambda b: (condition(b, "Ready") or {}).get("status") == "True"),
                       timeout=ctx.config.timeout("sandbox_ready"), what="Sandbox kept Ready", diagnose=ctx.diagnose)
        kept_at, kept_due = clock.at(EXPIRE_IN_S)
        mark_b = boxes.mark()
        sb.patch("Sandbox", ctx.namespace, "kept", {"spec": {"shutdownTime": kept_at}})
    lateness = []
    with ctx.step("at its shutdownTime the retained Sandbox loses Pod and Service and reports SandboxExpired"):
        gone = min(_wait_gone(ctx, pods, "kept", "pod"), _wait_gone(ctx, services, "kept", "Service"))
        lateness.append(round((clock.wall(gone) - kept_due) * 1000.0, 3))
        boxes.wait_for(is_named("kept", lambda b: reason_is("Ready", "SandboxExpired", "False")(b) and _no_service(b)), since=mark_b,
                       timeout=EXPIRY_SLACK_S, what="Sandbox kept Ready=False reason SandboxExpired, its status naming no Service",
                       diagnose=ctx.diagnose)
        _assert_not_early(pods, "kept", "pod", kept_due)
        assert not deleting(sb.get("Sandbox", ctx.namespace, "kept")), "policy Retain: the Sandbox object itself must stay"
    with ctx.step("policy Delete removes the Sandbox with its Pod and Service"):
        gone = _wait_gone(ctx, boxes, "doomed", "Sandbox")
        _wait_gone(ctx, pods, "doomed", "pod")
        _wait_gone(ctx, services, "doomed", "Service")
        _assert_not_early(pods, "doomed", "pod", delete_due)
        lateness.append(round((clock.wall(gone) - delete_due) * 1000.0, 3))
    with ctx.step("a finished Sandbox expires retained, and keeps its Finished condition"):
        pods.wait_for(is_named("finished", lambda p: (p.get("status") or {}).get("phase") == "Succeeded"),
                      timeout=ctx.config.timeout("sandbox_ready"), what="pod finished Succeeded", diagnose=ctx.diagnose)
        both = boxes.wait_for(is_named("finished", lambda b: reason_is("Ready", "SandboxExpired")(b) and
                                       reason_is("Finished", "PodSucceeded", "True")(b)),
                              timeout=EXPIRE_IN_S + EXPIRY_SLACK_S, what="Sandbox finished: Ready reason SandboxExpired and "
                              "Finished=True reason PodSucceeded at once", diagnose=ctx.diagnose)
        lateness.append(round((clock.wall(both.at) - finished_due) * 1000.0, 3))
        _wait_gone(ctx, pods, "finished", "pod")
    ctx.measure(Measurement("expiry_lateness_ms", lateness))


# -- claims -----------------------------------------------------------------------------------------
TTL_S = 2


def _claim(ctx: SuiteContext, name: str, template: str, pool: str | None, lifecycle: Obj) -> Obj:
    body = ctx.sandboxes.claim(name, template=template, pool=pool)
    body["spec"]["lifecycle"] = lifecycle
    return ctx.sandboxes.create(ctx.namespace, body)


def _succeeded(pods: EventRecorder, ctx: SuiteContext, name: str) -> float:
    """When the pod's containers finished, as its status says (whole seconds, what the controller reads)."""
    pod = pods.wait_for(is_named(name, lambda p: (p.get("status") or {}).get("phase") == "Succeeded"),
                        timeout=ctx.config.timeout("claim_ready"), what=f"pod {name} Succeeded", diagnose=ctx.diagnose).obj
    ends = [parse_time(s["state"]["terminated"]["finishedAt"]) for s in pod["status"].get("containerStatuses") or []
            if (s.get("state") or {}).get("terminated", {}).get("finishedAt")]
    assert ends, f"pod {name} Succeeded with no container's finishedAt: {pod['status']}"
    return max(ends)


def claim_ttl(ctx: SuiteContext) -> None:
    require_fields(ctx, "ClaimTTL", {"SandboxClaim": ["spec.lifecycle.ttlSecondsAfterFinished", "spec.lifecycle.shutdownTime",
                                                      "spec.lifecycle.shutdownPolicy"]})
    clock = Clock()
    pods, claims, boxes = ctx.recorder("Pod"), ctx.recorder("SandboxClaim"), ctx.recorder("Sandbox")
    finish = cold_source(ctx, "tpl-finish", finishing_pod(), "pool-finish")
    run = cold_source(ctx, "tpl-run", pod_spec(RUNNING_CONTAINER), "pool-run")
    with ctx.step("claims whose pods finish: TTL before a far shutdownTime, shutdownTime before a long TTL, no TTL"):
        far, _ = clock.at(300)
        _claim(ctx, "ttl", "tpl-finish", finish, {"shutdownPolicy": "Delete", "ttlSecondsAfterFinished": TTL_S, "shutdownTime": far})
        soon, soon_due = clock.at(EXPIRE_IN_S + 2)
        _claim(ctx, "deadline", "tpl-finish", finish, {"shutdownPolicy": "Delete", "ttlSecondsAfterFinished": 600, "shutdownTime": soon})
        _claim(ctx, "kept", "tpl-finish", finish, {"shutdownPolicy": "Delete"})
    with ctx.step("a claim with policy DeleteForeground and a shutdownTime; its pod is held by a finalizer"):
        fg_at, fg_due = clock.at(EXPIRE_IN_S + 1)
        _claim(ctx, "fg", "tpl-run", run, {"shutdownPolicy": "DeleteForeground", "shutdownTime": fg_at})
        pods.wait_for(is_named("fg"), timeout=ctx.config.timeout("claim_ready"), what="pod fg", diagnose=ctx.diagnose)
        hold_pod(ctx, "fg")
    with ctx.step(f"the finished claim with ttlSecondsAfterFinished={TTL_S} is deleted with its Sandbox and pod"):
        done = _succeeded(pods, ctx, "ttl")
        gone = _wait_gone(ctx, claims, "ttl", "SandboxClaim")
        _wait_gone(ctx, boxes, "ttl", "Sandbox")
        _wait_gone(ctx, pods, "ttl", "pod")
        _assert_not_early(claims, "ttl", "SandboxClaim", done + TTL_S)
        ttl_late = round((clock.wall(gone) - done - TTL_S) * 1000.0, 3)
    with ctx.step("the earlier shutdownTime wins over a long TTL"):
        gone_d = _wait_gone(ctx, claims, "deadline", "SandboxClaim")
        _wait_gone(ctx, boxes, "deadline", "Sandbox")
        _assert_not_early(claims, "deadline", "SandboxClaim", soon_due)
    with ctx.step("DeleteForeground: the claim is deleted with foreground propagation; its held pod goes in the cascade"):
        marked = claims.wait_for(is_named("fg", deleting), timeout=EXPIRE_IN_S + EXPIRY_SLACK_S, what="claim fg being deleted",
                                 diagnose=ctx.diagnose).obj
        assert "foregroundDeletion" in (marked["metadata"].get("finalizers") or []), \
            f"claim fg is being deleted without foreground propagation: finalizers {marked['metadata'].get('finalizers')}"
        pods.wait_for(is_named("fg", deleting), timeout=EXPIRY_SLACK_S, what="pod fg being deleted (the cascade)", diagnose=ctx.diagnose)
        # Whether the claim outlives its held grandchild depends on the garbage collector deleting the Sandbox in
        # foreground too; seen to differ under load (-n 2), so it is reported, not judged.
        outlived = claims.find(is_named("fg", deleted=True)) is None
        ctx.note(f"DeleteForeground: claim fg {'still there' if outlived else 'already gone'} while its pod was held")
        release_pod(ctx, "fg")
        _wait_gone(ctx, pods, "fg", "pod")
        _wait_gone(ctx, boxes, "fg", "Sandbox")
        _wait_gone(ctx, claims, "fg", "SandboxClaim")
        _assert_not_early(claims, "fg", "SandboxClaim", fg_due)
    with ctx.step("the finished claim without a TTL is retained (the others expired meanwhile)"):
        _succeeded(pods, ctx, "kept")
        seen = claims.find(is_named("kept", deleting)) or claims.find(is_named("kept", deleted=True))
        assert seen is None, f"claim kept (finished, no TTL, no shutdownTime) was deleted: {seen and seen.obj['metadata']}"
        box = ctx.sandboxes.get("Sandbox", ctx.namespace, "kept")
        assert not deleting(box), "the retained claim's Sandbox is being deleted"
        ctx.note(f"claim conditions at the end: kept {conditions_of(ctx.sandboxes.get('SandboxClaim', ctx.namespace, 'kept'))}")
    ctx.measure(Measurement("claim_ttl_lateness_ms", [ttl_late]))
    ctx.measure(Measurement("claim_shutdown_lateness_ms", [round((clock.wall(gone_d) - soon_due) * 1000.0, 3)]))



SLOW_FINISH: Obj = dict(RUNNING_CONTAINER, command=["sh", "-c", "sleep 2; exit 0"])  # time to hold its Sandbox first


def claim_ttl_cleanup(ctx: SuiteContext) -> None:
    require_fields(ctx, "ClaimTTL", {"SandboxClaim": ["spec.lifecycle.ttlSecondsAfterFinished", "spec.lifecycle.shutdownPolicy"]})
    pods, claims, boxes = ctx.recorder("Pod"), ctx.recorder("SandboxClaim"), ctx.recorder("Sandbox")
    t = ctx.config.timeout
    fast = cold_source(ctx, "tpl-done", finishing_pod(), "pool-done")
    slow = cold_source(ctx, "tpl-slow", pod_spec(SLOW_FINISH, restartPolicy="Never"), "pool-slow")
    with ctx.step(f"a DeleteForeground claim with ttlSecondsAfterFinished={TTL_S}, its pod held; a Retain claim with TTL 0, "
                  "its Sandbox held"):
        _claim(ctx, "fg-ttl", "tpl-done", fast, {"shutdownPolicy": "DeleteForeground", "ttlSecondsAfterFinished": TTL_S})
        _claim(ctx, "retain-0", "tpl-slow", slow, {"shutdownPolicy": "Retain", "ttlSecondsAfterFinished": 0})
        pods.wait_for(is_named("fg-ttl"), timeout=t("claim_ready"), what="pod fg-ttl", diagnose=ctx.diagnose)
        hold_pod(ctx, "fg-ttl")
        boxes.wait_for(is_named("retain-0"), timeout=t("claim_ready"), what="Sandbox retain-0", diagnose=ctx.diagnose)
        hold_pod(ctx, "retain-0", kind="Sandbox")
    with ctx.step("after its TTL the finished DeleteForeground claim is deleted in the foreground: claim, Sandbox and pod Terminating"):
        _succeeded(pods, ctx, "fg-ttl")
        marked = claims.wait_for(is_named("fg-ttl", deleting), timeout=TTL_S + EXPIRY_SLACK_S, what="claim fg-ttl being deleted",
                                 diagnose=ctx.diagnose).obj
        assert "foregroundDeletion" in (marked["metadata"].get("finalizers") or []), \
            f"claim fg-ttl is being deleted without foreground propagation: finalizers {marked['metadata'].get('finalizers')}"
        boxes.wait_for(is_named("fg-ttl", deleting), timeout=EXPIRY_SLACK_S, what="Sandbox fg-ttl being deleted", diagnose=ctx.diagnose)
        pods.wait_for(is_named("fg-ttl", deleting), timeout=EXPIRY_SLACK_S, what="pod fg-ttl being deleted", diagnose=ctx.diagnose)
        release_pod(ctx, "fg-ttl")
        for rec, what in ((pods, "pod"), (boxes, "Sandbox"), (claims, "SandboxClaim")):
            _wait_gone(ctx, rec, "fg-ttl", what)
    expired = reason_is("Ready", "ClaimExpired")
    finished = reason_is("Finished", "PodSucceeded", "True")
    with ctx.step("the Retain claim with TTL 0 expires at once when finished: ClaimExpired and Finished, its Sandbox deleted"):
        claims.wait_for(is_named("retain-0", lambda c: expired(c) and finished(c)), timeout=t("claim_ready") + EXPIRY_SLACK_S,
                        what="claim retain-0 Ready reason ClaimExpired and Finished=True reason PodSucceeded", diagnose=ctx.diagnose)
        boxes.wait_for(is_named("retain-0", deleting), timeout=EXPIRY_SLACK_S, what="Sandbox retain-0 being deleted", diagnose=ctx.diagnose)
    with ctx.step("once its Sandbox is gone the retained claim keeps ClaimExpired and Finished, and is not deleted"):
        release_pod(ctx, "retain-0", kind="Sandbox")
        gone = boxes.wait_for(is_named("retain-0", deleted=True), timeout=EXPIRY_SLACK_S, what="Sandbox retain-0 deleted",
                              diagnose=ctx.diagnose)
        _wait_gone(ctx, pods, "retain-0", "pod")
        claim = ctx.sandboxes.get("SandboxClaim", ctx.namespace, "retain-0")
        assert expired(claim) and finished(claim), f"after cleanup the claim's conditions are {conditions_of(claim)}"
        seen = claims.find(is_named("retain-0", deleting)) or claims.find(is_named("retain-0", deleted=True))
        assert seen is None and not deleting(claim), "policy Retain: the expired claim itself was deleted"
        ctx.note(f"Sandbox retain-0 gone {gone.at:.3f} (monotonic); the Retain claim kept its conditions {conditions_of(claim)}")

TESTS = [
    ConformanceTest("SandboxExpiry", "at shutdownTime Pod and Service go; Retain keeps the Sandbox (SandboxExpired, Finished kept), "
                    "Delete removes it", PROFILE, ("SandboxExpiry",), sandbox_expiry, latency=True),
    ConformanceTest("ClaimTTL", "a finished claim goes after ttlSecondsAfterFinished; the earlier of shutdownTime and TTL wins; "
                    "no TTL keeps it; DeleteForeground waits for the pod", PROFILE, ("ClaimTTL",), claim_ttl, latency=True),
    ConformanceTest("ClaimTTLCleanup", "a finished DeleteForeground claim goes in the foreground after its TTL; a Retain claim with "
                    "TTL 0 keeps ClaimExpired and Finished while and after its Sandbox is cleaned up", PROFILE, ("ClaimTTL",),
                    claim_ttl_cleanup),
]
