"""The live state an in-place upgrade must keep, and what is left of it afterwards: observed once.

Before the upgrade, in one namespace, through the old lane's API: a template with a Service, a warm
pool, a running and a suspended Sandbox (both with Services), claims bound to warm Sandboxes (one
naming the pool, one ``default``) and a cold claim (``warmpool: none``, which upstream's bootstrap
phase gives a shadow pool), and sandboxes created through the reference gateway with the
identities it minted (``upgrade_identity``). Then the provider upgrades CRDs and controller in
place (:class:`pytest_openshell.providers.Upgrade`), and the same objects are read back through the
new lane's API once the new controller has reconciled every Sandbox (it writes a ``Suspended``
condition on each, which the old lane never does) and served a new claim from the pool.

Pods and EndpointSlices are watched across the upgrade, so a pod the new controller recreated is
seen even if it came back under its old name, and the gap in its Service's endpoints is measured.
The observation is plain data (JSON): the upgrade tests share it (one upgrade per cluster; a file
lock beside the cluster's state makes other processes read it instead of upgrading again).
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any

from filelock import FileLock

from conformance.agent_sandbox import upgrade_identity
from conformance.agent_sandbox.checks import SERVICE_NAME_LABEL, pod_ready, ready, ready_endpoint_uids
from conformance.agent_sandbox.support import RUNNING_CONTAINER, pod_spec
from pytest_openshell.agentsandbox import SandboxAPI
from pytest_openshell.agentsandbox.labels import CLAIM_UID
from pytest_openshell.kube.recorder import EventRecorder, is_named, wait_state
from pytest_openshell.kube.waits import Obj, as_dict, condition
from pytest_openshell.suite.context import SuiteContext

TEMPLATE, POOL, POOL_SIZE = "upg-tpl", "upg-pool", 2
RUNNING, SUSPENDED = "upg-running", "upg-suspended"
# claim name -> the v1alpha1 warmpool policy it is made with (None: "none", a cold start)
CLAIMS: dict[str, str | None] = {"upg-claim-pool": POOL, "upg-claim-default": "default", "upg-claim-cold": None}
PROBE_CLAIM = "upg-claim-after"
KINDS = ("SandboxTemplate", "SandboxWarmPool", "Sandbox", "SandboxClaim")
OBSERVATION_FILE = "upgrade-observation.json"
# The supervisor's upgrade itself; the harness's own negative test overrides the fixture that picks it.
DEFAULT_CRD_MODE = "apply"

_cache: dict[str, dict[str, Any]] = {}


def observation(ctx: SuiteContext, crd_mode: str) -> dict[str, Any]:
    """The one observation of this cluster's upgrade (made by whichever test asks first)."""
    run_dir = Path(str(ctx.cluster.details.get("run_dir")))
    key = str(run_dir)
    if key not in _cache:
        path = run_dir / OBSERVATION_FILE
        with FileLock(str(path) + ".lock"):
            if path.exists():
                _cache[key] = json.loads(path.read_text())
            else:
                _cache[key] = observe(ctx, crd_mode)
                path.write_text(json.dumps(_cache[key], indent=2))
    return _cache[key]


def observe(ctx: SuiteContext, crd_mode: str) -> dict[str, Any]:
    """Run the scenario; a step that cannot go on ends it with its reason recorded, for the tests to report."""
    assert ctx.cluster.upgrade is not None
    old = SandboxAPI(ctx.api, ctx.cluster.upgrade.from_lane)
    new = SandboxAPI(ctx.api, ctx.agent_sandbox)
    obs: dict[str, Any] = {"namespace": ctx.namespace, "from": old.installed.version, "to": new.installed.version,
                           "crd_mode": crd_mode, "errors": {}}
    pods, slices = ctx.recorder("Pod"), ctx.recorder("EndpointSlice")
    try:
        with ctx.step(f"create live state through agent-sandbox {old.installed.version} ({old.version})"):
            create_state(ctx, old, pods)
            obs["identity_before"] = upgrade_identity.before(ctx, old)
            quiesce(ctx, old, pods)
            obs["before"] = snapshot(ctx, old)
    except Exception:
        obs["errors"]["before"] = traceback.format_exc()
        return obs
    mark = pods.mark(), slices.mark()
    try:
        with ctx.step(f"upgrade in place to {new.installed.version} (CRDs: {crd_mode})"):
            obs["upgrade"] = ctx.cluster.upgrade.run(crd_mode)
    except Exception as exc:
        obs["errors"]["upgrade"] = str(exc)
        return obs
    with ctx.step("wait for the new controller to reconcile every Sandbox, then probe the pool with a new claim"):
        obs["settled"] = _guarded(obs, "settle", lambda: settle(ctx, new, obs["before"]))
        obs["probe"] = _guarded(obs, "probe", lambda: probe_pool(ctx, new))
    with ctx.step(f"read the state back through {new.installed.version} ({new.version}) and the v1alpha1 view"):
        obs["after"] = snapshot(ctx, new)
        obs["after_v1alpha1"] = _guarded(obs, "v1alpha1", lambda: snapshot(ctx, SandboxAPI(ctx.api, new.installed, "v1alpha1")))
        obs["pods_seen"] = pod_history(pods, mark[0])
        obs["endpoint_gaps_ms"] = endpoint_gaps(slices, mark[1], obs["before"])
        obs["identity_after"] = _guarded(obs, "identity", lambda: upgrade_identity.after(ctx, obs.get("identity_before")))
    return obs


def _guarded(obs: dict[str, Any], what: str, fn: Any) -> Any:
    try:
        return fn()
    except Exception:
        obs["errors"][what] = traceback.format_exc()
        return None


# -- before ---------------------------------------------------------------------------------------
def create_state(ctx: SuiteContext, api: SandboxAPI, pods: EventRecorder) -> None:
    ns, t = ctx.namespace, ctx.config.timeout
    boxes, pools, claims = (EventRecorder(api.lister(k, ns), f"{k} in {ns}") for k in ("Sandbox", "SandboxWarmPool", "SandboxClaim"))
    try:
        api.create(ns, api.template(TEMPLATE, pod_spec(RUNNING_CONTAINER), service=True))
        api.create(ns, api.warm_pool(POOL, TEMPLATE, POOL_SIZE))
        for name in (RUNNING, SUSPENDED):
            api.create(ns, api.sandbox(name, pod_spec(RUNNING_CONTAINER), service=True))
        for name in (RUNNING, SUSPENDED):
            boxes.wait_for(is_named(name, ready), timeout=t("sandbox_ready"), what=f"Sandbox {name} Ready", diagnose=ctx.diagnose)
        pool_full(ctx, pools)
        api.suspend(ns, SUSPENDED)
        for name, policy in CLAIMS.items():
            api.create(ns, api.claim(name, template=TEMPLATE, pool=policy))
            bound = claims.wait_for(is_named(name, bound_claim), timeout=t("claim_ready"), what=f"claim {name} bound",
                                    diagnose=ctx.diagnose).obj
            boxes.wait_for(is_named(bound["status"]["sandbox"]["name"], ready), timeout=t("sandbox_ready"),
                           what=f"the Sandbox of claim {name} Ready", diagnose=ctx.diagnose)
        pods.wait_for(is_named(SUSPENDED, deleted=True), timeout=t("suspend"), what=f"pod {SUSPENDED} gone (suspended)",
                          diagnose=ctx.diagnose)
        pool_full(ctx, pools)  # replenished after the warm claims: nothing left in flight
    finally:
        for rec in (boxes, pools, claims):
            rec.stop()


def bound_claim(claim: Obj) -> bool:
    return bool(((claim.get("status") or {}).get("sandbox") or {}).get("name")) and ready(claim)


def pool_full(ctx: SuiteContext, pools: EventRecorder, since: int = 0) -> None:
    pools.wait_for(is_named(POOL, lambda p: (p.get("status") or {}).get("readyReplicas") == POOL_SIZE), since=since,
                   timeout=ctx.config.timeout("pool_ready"), what=f"pool {POOL} with {POOL_SIZE} ready", diagnose=ctx.diagnose)


def quiesce(ctx: SuiteContext, api: SandboxAPI, pods: EventRecorder) -> None:
    """Nothing in flight before the snapshot: no Sandbox being deleted, every pool holding exactly its
    replicas, and no pod or Service left whose Sandbox is gone (the old pool controller trims the
    excess it made while replenishing; the garbage collector takes what those owned a moment later)."""
    ns = ctx.namespace
    boxes = EventRecorder(api.lister("Sandbox", ns), f"Sandbox in {ns}")
    services = EventRecorder(lambda **kw: ctx.core.list_namespaced_service(ns, **kw), f"Service in {ns}")
    replicas = {p["metadata"]["name"]: p["spec"]["replicas"] for p in as_dict(api.lister("SandboxWarmPool", ns)())["items"]}

    def quiet() -> bool:
        live = boxes.latest()
        if any(b["metadata"].get("deletionTimestamp") for b in live.values()):
            return False
        members: dict[str, int] = {}
        for b in live.values():
            for ref in b["metadata"].get("ownerReferences") or []:
                if ref.get("controller") and ref["kind"] == "SandboxWarmPool":
                    members[ref["name"]] = members.get(ref["name"], 0) + 1
        if any(members.get(pool, 0) != n for pool, n in replicas.items()):
            return False
        uids = {b["metadata"]["uid"] for b in live.values()}
        return all(ref["uid"] in uids for rec in (pods, services) for o in rec.latest().values()
                   for ref in o["metadata"].get("ownerReferences") or [] if ref.get("controller") and ref["kind"] == "Sandbox")

    try:
        wait_state([boxes, pods, services], quiet, timeout=ctx.config.timeout("pool_ready"),
                   what="the namespace to settle (pools at their replicas, nothing being deleted, no orphans)",
                   diagnose=ctx.diagnose)
    finally:
        boxes.stop()
        services.stop()


def snapshot(ctx: SuiteContext, api: SandboxAPI) -> dict[str, Any]:
    """Every object of the namespace as the API version of ``api`` shows it (uids, the fields the tests read)."""
    ns = ctx.namespace
    out: dict[str, Any] = {"version": api.version}
    for kind in KINDS:
        out[kind] = {o["metadata"]["name"]: _brief(o) for o in as_dict(api.lister(kind, ns)())["items"]}
    out["Pod"] = {p["metadata"]["name"]: _brief(p) | {"ready": pod_ready(p)} for p in as_dict(ctx.core.list_namespaced_pod(ns))["items"]}
    out["Service"] = {s["metadata"]["name"]: _brief(s) | {"selector": s["spec"].get("selector")}
                      for s in as_dict(ctx.core.list_namespaced_service(ns))["items"]}
    return out


def _brief(obj: Obj) -> dict[str, Any]:
    meta = obj["metadata"]
    return {"uid": meta["uid"], "labels": meta.get("labels") or {}, "annotations": meta.get("annotations") or {},
            "owners": [(r["kind"], r["name"], r["uid"]) for r in meta.get("ownerReferences") or [] if r.get("controller")],
            "spec": obj.get("spec") if obj.get("kind") not in ("Pod", "Service") else None,
            "status": obj.get("status") if obj.get("kind") not in ("Pod", "Service") else None}


# -- after ----------------------------------------------------------------------------------------
def settle(ctx: SuiteContext, api: SandboxAPI, before: dict[str, Any]) -> dict[str, Any]:
    """Every Sandbox that was there is reconciled by the new controller (its Suspended condition) and
    the running ones are Ready again; the pool is full."""
    ns, t = ctx.namespace, ctx.config.timeout
    boxes = EventRecorder(api.lister("Sandbox", ns), f"Sandbox in {ns}")
    pools = EventRecorder(api.lister("SandboxWarmPool", ns), f"SandboxWarmPool in {ns}")
    # Only what is still there is waited for: what an upgrade lost is UpgradeKeepsObjects' verdict, not a wait.
    present = {o["metadata"]["name"] for o in as_dict(api.lister("Sandbox", ns)())["items"]}
    try:
        for name in sorted(set(before["Sandbox"]) & present):
            want = (lambda b: condition(b, "Suspended") is not None) if name == SUSPENDED else \
                (lambda b: condition(b, "Suspended") is not None and ready(b))
            boxes.wait_for(is_named(name, want), timeout=t("sandbox_ready"), what=f"Sandbox {name} reconciled by the new controller",
                           diagnose=ctx.diagnose)
        if api.exists("SandboxWarmPool", ns, POOL):
            pool_full(ctx, pools)
    finally:
        boxes.stop()
        pools.stop()
    return {"sandboxes": sorted(set(before["Sandbox"]) & present), "lost": sorted(set(before["Sandbox"]) - present)}


def probe_pool(ctx: SuiteContext, api: SandboxAPI) -> dict[str, Any]:
    """A new claim after the upgrade, through the new API: served warm from the pool that was there."""
    ns = ctx.namespace
    if not api.exists("SandboxWarmPool", ns, POOL):
        raise AssertionError(f"pool {POOL} is gone after the upgrade: nothing to claim from")
    claims = EventRecorder(api.lister("SandboxClaim", ns), f"SandboxClaim in {ns}")
    try:
        created = api.create(ns, api.claim(PROBE_CLAIM, template=TEMPLATE, pool=POOL))
        bound = claims.wait_for(is_named(PROBE_CLAIM, bound_claim), timeout=ctx.config.timeout("claim_ready"),
                                what=f"claim {PROBE_CLAIM} bound after the upgrade", diagnose=ctx.diagnose).obj
    finally:
        claims.stop()
    box = api.get("Sandbox", ns, bound["status"]["sandbox"]["name"])
    return {"claim_uid": created["metadata"]["uid"], "sandbox": box["metadata"]["name"], "labels": box["metadata"].get("labels") or {}}


def pod_history(pods: EventRecorder, since: int) -> dict[str, list[list[str]]]:
    """Per pod name, the (event, uid) seen from the upgrade on."""
    seen: dict[str, list[list[str]]] = {}
    for ev in pods.history[since:]:
        seen.setdefault(ev.name, []).append([ev.type, str(ev.obj["metadata"]["uid"])])
    return seen


def endpoint_gaps(slices: EventRecorder, since: int, before: dict[str, Any]) -> dict[str, float]:
    """Per Service that was there: the longest time (ms) after the upgrade began with no ready endpoint
    while its pod should serve (suspended ones have none by design)."""
    gaps: dict[str, float] = {}
    for service in before["Service"]:
        if service == SUSPENDED or service not in before["Pod"]:
            continue
        empty_since, longest = None, 0.0
        for ev in slices.history[since:]:
            if (ev.obj["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) != service:
                continue
            empty = ev.type == "DELETED" or not ready_endpoint_uids(ev.obj)
            if empty and empty_since is None:
                empty_since = ev.at
            elif not empty and empty_since is not None:
                longest, empty_since = max(longest, (ev.at - empty_since) * 1000.0), None
        if empty_since is not None:
            longest = max(longest, (slices.history[-1].at - empty_since) * 1000.0)
        gaps[service] = round(longest, 3)
    return gaps


def claim_uid_label(box: dict[str, Any]) -> str | None:
    return box["labels"].get(CLAIM_UID)
