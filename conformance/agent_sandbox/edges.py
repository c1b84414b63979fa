"""Profile agent-sandbox-lifecycle, the edges: suspension corner cases, many claims at once, what a
Sandbox and a claim carry by the time they are first seen Ready."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from conformance.agent_sandbox.checks import controller_of, ready, uid
from conformance.agent_sandbox.support import (
    RUNNING_CONTAINER,
    conditions_of,
    deleting,
    hold_pod,
    parse_time,
    pod_spec,
    reason_is,
    release_pod,
    require_fields,
)
from pytest_openshell.agentsandbox.labels import CLAIM_UID, POD_NAME_ANNOTATION
from pytest_openshell.kube.recorder import is_named
from pytest_openshell.kube.waits import Obj
from pytest_openshell.suite import ConformanceTest
from pytest_openshell.suite.context import SuiteContext

PROFILE = "agent-sandbox-lifecycle"
OBSERVED_ANNOTATION = "agents.x-k8s.io/controller-first-observed-at"  # the claim controller stamps it on first sight


def suspend_edges(ctx: SuiteContext) -> None:
    # The Suspended condition came with operatingMode: a lane without it has no such condition to check.
    require_fields(ctx, "SuspendEdges", {"Sandbox": ["spec.operatingMode"]})
    t = ctx.config.timeout
    pods, boxes, sb = ctx.pods, ctx.recorder("Sandbox"), ctx.sandboxes
    with ctx.step("a pod named like the Sandbox, owned by nobody, exists before a suspended Sandbox is created"):
        squatter_body: Obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "squatter"}, "spec": pod_spec(RUNNING_CONTAINER)}
        ctx.core.create_namespaced_pod(ctx.namespace, squatter_body)  # type: ignore[arg-type]  # the client takes a dict body too
        squatter = pods.wait_for(is_named("squatter", ready_pod), timeout=t("sandbox_ready"), what="pod squatter Ready",
                                 diagnose=ctx.diagnose).obj
        body = sb.sandbox("squatter", pod_spec(RUNNING_CONTAINER), service=True)
        body["spec"]["operatingMode"] = "Suspended"
        sb.create(ctx.namespace, body)
    for name in ("running", "suspending"):
        sb.create(ctx.namespace, sb.sandbox(name, pod_spec(RUNNING_CONTAINER), service=True))
    with ctx.step("the unowned pod is reported (Suspended=False reason PodNotOwned) and left alone"):
        boxes.wait_for(is_named("squatter", reason_is("Suspended", "PodNotOwned", "False")), timeout=t("suspend"),
                       what="Sandbox squatter Suspended=False reason PodNotOwned", diagnose=ctx.diagnose)
        live = ctx.api.sanitize_for_serialization(ctx.core.read_namespaced_pod("squatter", ctx.namespace))
        assert uid(live) == uid(squatter) and not deleting(live), "the controller deleted a pod it does not own"
        assert not controller_of(live), f"the controller took over a pod it did not create: {controller_of(live)}"
    for name in ("running", "suspending"):
        boxes.wait_for(is_named(name, ready), timeout=t("sandbox_ready"), what=f"Sandbox {name} Ready", diagnose=ctx.diagnose)
    with ctx.step("deleting a running Sandbox's pod: a new pod, and Suspended never turns True"):
        old = uid(ctx.api.sanitize_for_serialization(ctx.core.read_namespaced_pod("running", ctx.namespace)))
        mark_b, mark_p = boxes.mark(), pods.mark()
        ctx.core.delete_namespaced_pod("running", ctx.namespace)
        pods.wait_for(is_named("running", lambda p: uid(p) != old and ready_pod(p)), since=mark_p, timeout=t("pod_recreate"),
                      what="a new Ready pod running", diagnose=ctx.diagnose)
        back = boxes.wait_for(is_named("running", ready), since=mark_b, timeout=t("pod_recreate"), what="Sandbox running Ready again",
                              diagnose=ctx.diagnose)
        flips = [conditions_of(ev.obj).get("Suspended") for ev in boxes.history[mark_b:back.after] if ev.name == "running"]
        assert all(c in (None, ("False", "NotSuspended")) for c in flips), f"a pod restart moved Suspended: {flips}"
    with ctx.step("suspending while the pod is held terminating: PodTerminating, then PodTerminated once it is gone"):
        hold_pod(ctx, "suspending")
        mark_b = boxes.mark()
        sb.suspend(ctx.namespace, "suspending")
        waiting = boxes.wait_for(is_named("suspending", reason_is("Suspended", "PodTerminating", "False")), since=mark_b,
                                 timeout=t("suspend"), what="Sandbox suspending Suspended=False reason PodTerminating",
                                 diagnose=ctx.diagnose).obj
        assert reason_is("Ready", "SandboxSuspended", "False")(waiting), f"Ready while suspending: {conditions_of(waiting)}"
        assert deleting(ctx.api.sanitize_for_serialization(ctx.core.read_namespaced_pod("suspending", ctx.namespace)))
        release_pod(ctx, "suspending")
        pods.wait_for(is_named("suspending", deleted=True), timeout=t("suspend"), what="pod suspending gone", diagnose=ctx.diagnose)
        boxes.wait_for(is_named("suspending", reason_is("Suspended", "PodTerminated", "True")), since=mark_b, timeout=t("suspend"),
                       what="Sandbox suspending Suspended=True reason PodTerminated", diagnose=ctx.diagnose)


def ready_pod(p: Obj) -> bool:
    from conformance.agent_sandbox.checks import pod_ready

    return pod_ready(p)


# -- many claims at once ------------------------------------------------------------------------------
def parallel_claims(ctx: SuiteContext) -> None:
    n = ctx.config.sizes["burst"]
    pools, claims, boxes, sb = ctx.recorder("SandboxWarmPool"), ctx.recorder("SandboxClaim"), ctx.recorder("Sandbox"), ctx.sandboxes
    sizes = {"small": max(1, n // 3), "large": n + 2}
    with ctx.step(f"two warm pools, of {sizes['small']} and {sizes['large']}, for {n} claims each"):
        for pool, size in sizes.items():
            sb.create(ctx.namespace, sb.template(f"tpl-{pool}", pod_spec(RUNNING_CONTAINER)))
            sb.create(ctx.namespace, sb.warm_pool(pool, f"tpl-{pool}", size))
        for pool, size in sizes.items():
            pools.wait_for(is_named(pool, _ready_replicas(size)),
                           timeout=ctx.config.timeout("pool_ready"), what=f"pool {pool} readyReplicas={size}", diagnose=ctx.diagnose)
    names = [f"{pool}-claim-{i}" for pool in sizes for i in range(n)]
    with ctx.step(f"create {len(names)} claims at once"), ThreadPoolExecutor(max_workers=8) as workers:
        list(workers.map(lambda c: _claim_from(ctx, c), names))
    bound: dict[str, str] = {}
    with ctx.step("every claim turns Ready with a Sandbox of its own"):
        for name in names:
            done = claims.wait_for(is_named(name, lambda c: ready(c) and bool((c.get("status") or {}).get("sandbox", {}).get("name"))),
                                   timeout=ctx.config.timeout("claim_ready") * 2, what=f"claim {name} Ready", diagnose=ctx.diagnose).obj
            bound[name] = done["status"]["sandbox"]["name"]
    twice = {box: [c for c, b in bound.items() if b == box] for box in set(bound.values())}
    assert all(len(c) == 1 for c in twice.values()), f"Sandboxes serving several claims: { {b: c for b, c in twice.items() if len(c) > 1} }"
    for name, box_name in bound.items():
        box = sb.get("Sandbox", ctx.namespace, box_name)
        claim = sb.get("SandboxClaim", ctx.namespace, name)
        assert controller_of(box) == [("SandboxClaim", name, uid(claim))], f"Sandbox {box_name} of claim {name}: {controller_of(box)}"
    # Over the whole history, no Sandbox carried two claims' uids (one taken from a claim and given to another).
    seen: dict[str, set[str]] = {}
    for ev in boxes.history:
        claim_uid = ((ev.obj["metadata"].get("labels") or {}).get(CLAIM_UID))
        if claim_uid:
            seen.setdefault(ev.name, set()).add(claim_uid)
    shared = {b: u for b, u in seen.items() if len(u) > 1}
    assert not shared, f"Sandboxes that carried the uids of several claims: {shared}"
    warm = sum(1 for c, b in bound.items() if b != c)
    ctx.note(f"{len(names)} claims over pools of {sizes}: {warm} served warm")


def _ready_replicas(n: int) -> Callable[[Obj], bool]:
    return lambda o: (o.get("status") or {}).get("readyReplicas") == n


def _claim_from(ctx: SuiteContext, name: str) -> Obj:
    pool = name.split("-")[0]
    return ctx.sandboxes.create(ctx.namespace, ctx.sandboxes.claim(name, template=f"tpl-{pool}", pool=pool))


# -- metadata in place before Ready -----------------------------------------------------------------
def pod_metadata_early(ctx: SuiteContext) -> None:
    pools, claims, boxes, sb = ctx.recorder("SandboxWarmPool"), ctx.recorder("SandboxClaim"), ctx.recorder("Sandbox"), ctx.sandboxes
    sb.create(ctx.namespace, sb.template("tpl", pod_spec(RUNNING_CONTAINER)))
    sb.create(ctx.namespace, sb.warm_pool("pool", "tpl", 2))
    pools.wait_for(is_named("pool", lambda o: (o.get("status") or {}).get("readyReplicas") == 2), timeout=ctx.config.timeout("pool_ready"),
                   what="pool readyReplicas=2", diagnose=ctx.diagnose)
    started = time.time()
    mark_b, mark_c = boxes.mark(), claims.mark()
    with ctx.step("two claims adopt warm Sandboxes"):
        for name in ("early-0", "early-1"):
            sb.create(ctx.namespace, sb.claim(name, template="tpl", pool="pool"))
        for name in ("early-0", "early-1"):
            claims.wait_for(is_named(name, ready), since=mark_c, timeout=ctx.config.timeout("claim_ready"), what=f"claim {name} Ready",
                            diagnose=ctx.diagnose)
    with ctx.step(f"no adopted Sandbox was seen Ready without {POD_NAME_ANNOTATION}"):
        adopted = [ev for ev in boxes.history[mark_b:] if ev.type != "DELETED" and ready(ev.obj)
                   and any(k == "SandboxClaim" for k, _, _ in controller_of(ev.obj))]
        assert adopted, "no Ready event of an adopted Sandbox was seen"
        early = [ev.name for ev in adopted if not (ev.obj["metadata"].get("annotations") or {}).get(POD_NAME_ANNOTATION)]
        assert not early, f"adopted Sandboxes seen Ready without {POD_NAME_ANNOTATION}: {sorted(set(early))}"
    with ctx.step(f"no claim was seen Ready without {OBSERVED_ANNOTATION}, a sub-second RFC 3339 time"):
        for ev in claims.history[mark_c:]:
            if ev.type == "DELETED" or not ready(ev.obj):
                continue
            value = (ev.obj["metadata"].get("annotations") or {}).get(OBSERVED_ANNOTATION)
            assert value, f"claim {ev.name} seen Ready without {OBSERVED_ANNOTATION}"
            assert "." in value, f"{OBSERVED_ANNOTATION}={value!r} has no fractional seconds"
            assert parse_time(value) >= started - 1.0, f"{OBSERVED_ANNOTATION}={value!r} is before the claim was created"


TESTS = [
    ConformanceTest("SuspendEdges", "suspend while the pod terminates; a pod restart never flips Suspended; an unowned namesake pod "
                    "is left alone and reported", PROFILE, ("SuspendEdges",), suspend_edges),
    ConformanceTest("ParallelClaims", "claims created at once against a small and a large pool each get one Sandbox of their own",
                    PROFILE, ("ParallelClaims",), parallel_claims, serial=True),  # its warm claims would land in the metrics test
    ConformanceTest("PodMetadataEarly", "adopted Sandboxes carry the pod-name annotation, claims the first-observed annotation, "
                    "when first seen Ready", PROFILE, ("PodMetadataEarly",), pod_metadata_early, serial=True),
]
