"""Profile agent-sandbox-extensions: warm pools, warm and cold claims, their latency."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from conformance.agent_sandbox.checks import assert_selects_sandbox, controller_of, ms, now, ready, uid, wait_serving_pod
from pytest_openshell.agentsandbox import name_hash
from pytest_openshell.agentsandbox.labels import CLAIM_UID, FIRST_OBSERVED_ANNOTATION, LAUNCH_TYPE, WARM_POOL_SANDBOX
from pytest_openshell.agentsandbox.metrics import CLAIM_CONTROLLER_STARTUP, CLAIM_STARTUP, Histogram, histogram, scrape
from pytest_openshell.kube.recorder import EventRecorder, is_named
from pytest_openshell.kube.waits import Obj
from pytest_openshell.results.model import Measurement
from pytest_openshell.suite import ConformanceTest
from pytest_openshell.suite.context import SuiteContext
from pytest_openshell.suite.manifests import render

PROFILE = "agent-sandbox-extensions"
TEMPLATE, SERVICE_TEMPLATE, POOL = "tpl", "tpl-svc", "pool"
CLAIM_ANNOTATION = "pytest-openshell.io/claim"
METRICS_POLL_S = 0.05


def _pool_ready(n: int) -> Any:
    return lambda o: (o.get("status") or {}).get("readyReplicas") == n


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_pool(ctx: SuiteContext, replicas: int, template: str = TEMPLATE, manifest: str = "agent-sandbox/template.yaml") -> EventRecorder:
    pools = ctx.recorder("SandboxWarmPool")
    ctx.apply(manifest)
    with ctx.step(f"create warm pool of {replicas}"):
        ctx.sandboxes.create(ctx.namespace, ctx.sandboxes.warm_pool(POOL, template, replicas))
        if replicas:
            pools.wait_for(is_named(POOL, _pool_ready(replicas)), timeout=ctx.config.timeout("pool_ready"),
                           what=f"warm pool readyReplicas={replicas}", diagnose=ctx.diagnose)
    return pools


class ClaimTimer:
    """Creates claims and times them from watch receipts: bound, Ready, pod metadata applied."""

    def __init__(self, ctx: SuiteContext, template: str = TEMPLATE) -> None:
        self.ctx, self.template = ctx, template
        self.claims, self.pods = ctx.recorder("SandboxClaim"), ctx.recorder("Pod")
        self.boxes = ctx.recorder("Sandbox")

    def create(self, name: str, pool: str | None) -> tuple[Obj, float, int, int]:
        marks = (self.claims.mark(), self.pods.mark())
        body = self.ctx.sandboxes.claim(name, template=self.template, pool=pool, annotations={FIRST_OBSERVED_ANNOTATION: _stamp()},
                                        pod_annotations={CLAIM_ANNOTATION: name})
        t0 = now()
        return self.ctx.sandboxes.create(self.ctx.namespace, body), t0, *marks

    def await_claim(self, name: str, t0: float, mark_c: int, mark_p: int) -> tuple[Obj, dict[str, float]]:
        t = self.ctx.config.timeout("claim_ready")
        bound = self.claims.wait_for(is_named(name, lambda c: bool((c.get("status") or {}).get("sandbox", {}).get("name"))),
                                     since=mark_c, timeout=t, what=f"claim {name} bound", diagnose=self.ctx.diagnose)
        done = self.claims.wait_for(is_named(name, ready), since=mark_c, timeout=t, what=f"claim {name} Ready", diagnose=self.ctx.diagnose)
        sandbox = done.obj["status"]["sandbox"]["name"]
        pod = self.pods.wait_for(is_named(sandbox, lambda p: (p["metadata"].get("annotations") or {}).get(CLAIM_ANNOTATION) == name),
                                 since=mark_p, timeout=t, what=f"pod {sandbox} carrying the claim's pod metadata", diagnose=self.ctx.diagnose)
        return done.obj, {"bound": ms(t0, bound.at), "ready": ms(t0, done.at), "pod_metadata": ms(t0, pod.at)}

    def launch(self, claim: Obj) -> str:
        """warm or cold, from the launch-type label where the lane writes it, else from the name."""
        sandbox = self.ctx.sandboxes.get("Sandbox", self.ctx.namespace, claim["status"]["sandbox"]["name"])
        label = (sandbox["metadata"].get("labels") or {}).get(LAUNCH_TYPE)
        by_name = "cold" if sandbox["metadata"]["name"] == claim["metadata"]["name"] else "warm"
        if label is not None:
            assert label == by_name, f"launch-type label {label!r} but the Sandbox name says {by_name}"
        return label or by_name

    def assert_adopted(self, claim: Obj) -> Obj:
        sandbox = self.ctx.sandboxes.get("Sandbox", self.ctx.namespace, claim["status"]["sandbox"]["name"])
        labels = sandbox["metadata"].get("labels") or {}
        assert labels.get(CLAIM_UID) == uid(claim), f"{CLAIM_UID} is {labels.get(CLAIM_UID)!r}, the claim's uid is {uid(claim)}"
        assert controller_of(sandbox) == [("SandboxClaim", claim["metadata"]["name"], uid(claim))], controller_of(sandbox)
        return sandbox


def _controller_histograms(ctx: SuiteContext) -> dict[str, Histogram | None] | None:
    url = ctx.agent_sandbox.controller_metrics
    if not url:
        return None
    text = scrape(url, api=ctx.api)
    return {m: histogram(text, m, launch_type="warm") for m in (CLAIM_STARTUP, CLAIM_CONTROLLER_STARTUP)}


def _await_observations(ctx: SuiteContext, before: dict[str, Histogram | None], expected: int) -> dict[str, Histogram | None]:
    """The controller observes a claim just after writing its Ready status, so a scrape right
    after our watch saw Ready can precede it: wait (bounded) until every histogram has them all."""
    deadline = time.monotonic() + ctx.config.timeout("claim_ready")
    while True:
        after = _controller_histograms(ctx) or {}
        counts = [(h.minus(before.get(m)).count if h else 0) for m, h in after.items()]
        if all(c >= expected for c in counts) or time.monotonic() > deadline:
            return after
        time.sleep(METRICS_POLL_S)  # a metrics endpoint cannot be watched


def _beside(ctx: SuiteContext, before: dict[str, Histogram | None] | None, ours_p50: float, expected: int) -> dict[str, Any] | None:
    if before is None:
        return None
    after = _await_observations(ctx, before, expected)
    out: dict[str, Any] = {}
    for metric, hist in after.items():
        if hist is None:
            out[metric] = {"count": 0}
            continue
        delta = hist.minus(before.get(metric))
        p50 = delta.quantile_upper_bound(0.5)
        out[metric] = {"count": delta.count, "mean_ms": delta.mean, "p50_bucket_le_ms": p50,
                       "ours_p50_minus_mean_ms": None if delta.mean is None else round(ours_p50 - delta.mean, 3)}
    return out


def warm_pool_ready(ctx: SuiteContext) -> None:
    n = ctx.config.sizes["warm_pool"]
    t0 = now()
    pools = make_pool(ctx, n)
    filled = pools.find(is_named(POOL, _pool_ready(n)))
    assert filled is not None
    members = ctx.sandboxes.lister("Sandbox", ctx.namespace)(label_selector=f"{WARM_POOL_SANDBOX}={name_hash(POOL)}")["items"]
    assert len(members) == n, f"{len(members)} Sandboxes carry the pool's label, expected {n}"
    pool_uid = uid(ctx.sandboxes.get("SandboxWarmPool", ctx.namespace, POOL))
    for box in members:
        assert box["metadata"]["name"].startswith(f"{POOL}-"), box["metadata"]["name"]
        assert controller_of(box) == [("SandboxWarmPool", POOL, pool_uid)], controller_of(box)
    ctx.measure(Measurement("pool_fill_ms", [ms(t0, filled.at)]))


def warm_claim_latency(ctx: SuiteContext) -> None:
    n, m = ctx.config.sizes["warm_pool"], ctx.config.sizes["claims"]
    pools = make_pool(ctx, n)
    timer = ClaimTimer(ctx)
    before = _controller_histograms(ctx)
    bound, readies, metadata, replenish = [], [], [], []
    launch_labels = set()
    for i in range(m):
        name = f"warm-{i}"
        mark_pool = pools.mark()
        _claim, t0, mc, mp = timer.create(name, POOL)
        with ctx.step(f"claim {name}"):
            done, times = timer.await_claim(name, t0, mc, mp)
        sandbox = timer.assert_adopted(done)
        assert sandbox["metadata"]["name"] != name and sandbox["metadata"]["name"].startswith(f"{POOL}-"), \
            f"claim {name} got Sandbox {sandbox['metadata']['name']}: not one of the pool's"
        launch_labels.add((sandbox["metadata"].get("labels") or {}).get(LAUNCH_TYPE))
        bound.append(times["bound"])
        readies.append(times["ready"])
        metadata.append(times["pod_metadata"])
        drop = pools.wait_for(is_named(POOL, lambda p: (p.get("status") or {}).get("readyReplicas", 0) < n), since=mark_pool,
                              timeout=ctx.config.timeout("pool_ready"), what=f"pool below {n} ready after a claim", diagnose=ctx.diagnose)
        full = pools.wait_for(is_named(POOL, _pool_ready(n)), since=drop.after, timeout=ctx.config.timeout("pool_ready"),
                              what=f"pool back to {n} ready", diagnose=ctx.diagnose)
        replenish.append(ms(drop.at, full.at))
    if launch_labels == {None}:
        ctx.note(f"the installed controller writes no {LAUNCH_TYPE} label; warm was told from the Sandbox name")
    else:
        assert launch_labels == {"warm"}, f"launch types seen: {launch_labels}"
    budget = {"p95": ctx.config.budgets["warm_ready_p95_ms"]}
    ready_m = Measurement("warm_ready_ms", readies, budget=budget)
    from pytest_openshell.results.stats import percentile

    ready_m.controller = _beside(ctx, before, percentile(readies, 50), m)
    ctx.measure(Measurement("warm_bound_ms", bound))
    ctx.measure(ready_m)
    ctx.measure(Measurement("warm_pod_metadata_ms", metadata))
    ctx.measure(Measurement("pool_replenish_ms", replenish))
    assert ready_m.verdict == "pass", f"warm claim Ready p95 {ready_m.stats['p95']} ms exceeds the budget of {budget['p95']} ms"


def cold_claim(ctx: SuiteContext) -> None:
    count = ctx.config.sizes["cold_claims"]
    if ctx.sandboxes.beta:
        make_pool(ctx, 0)  # v1beta1 claims must name a pool: an empty one leaves no warm candidate
        pool: str | None = POOL
    else:
        ctx.apply("agent-sandbox/template.yaml")
        pool = None  # spec.warmpool: none
    timer = ClaimTimer(ctx)
    readies = []
    for i in range(count):
        name = f"cold-{i}"
        _, t0, mc, mp = timer.create(name, pool)
        done, times = timer.await_claim(name, t0, mc, mp)
        timer.assert_adopted(done)
        assert done["status"]["sandbox"]["name"] == name, "a cold claim's Sandbox is named after the claim"
        assert timer.launch(done) == "cold"
        readies.append(times["ready"])
    ctx.measure(Measurement("cold_ready_ms", readies))


def claim_burst(ctx: SuiteContext) -> None:
    n, k = ctx.config.sizes["warm_pool"], ctx.config.sizes["burst"]
    if k <= n:
        pytest.skip(f"burst size {k} must exceed the pool size {n}")
    make_pool(ctx, n)
    timer = ClaimTimer(ctx)
    with ctx.step(f"create {k} claims at once"):
        created = [timer.create(f"burst-{i}", POOL) for i in range(k)]
    launches, readies = [], []
    for claim, t0, mc, mp in created:
        done, times = timer.await_claim(claim["metadata"]["name"], t0, mc, mp)
        timer.assert_adopted(done)
        launches.append(timer.launch(done))
        readies.append(times["ready"])
    warm = launches.count("warm")
    ctx.note(f"burst of {k} over a pool of {n}: {warm} warm, {k - warm} cold")
    assert warm >= n, f"only {warm} of {k} simultaneous claims were served warm from a ready pool of {n}"
    ctx.measure(Measurement("burst_ready_ms", readies))


def claim_service(ctx: SuiteContext) -> None:
    make_pool(ctx, 1, SERVICE_TEMPLATE, "agent-sandbox/template-service.yaml")
    timer = ClaimTimer(ctx, SERVICE_TEMPLATE)
    slices, services = ctx.recorder("EndpointSlice"), ctx.recorder("Service")
    _, t0, mc, mp = timer.create("svc-claim", POOL)
    done, _ = timer.await_claim("svc-claim", t0, mc, mp)
    sandbox = done["status"]["sandbox"]["name"]
    svc = services.wait_for(is_named(sandbox), timeout=ctx.config.timeout("endpoints"), what=f"Service {sandbox}", diagnose=ctx.diagnose).obj
    assert_selects_sandbox(svc, sandbox)
    pod, _ = wait_serving_pod(ctx, timer.pods, slices, sandbox, sandbox)
    mark_p, mark_s = timer.pods.mark(), slices.mark()
    ctx.core.delete_namespaced_pod(sandbox, ctx.namespace)
    wait_serving_pod(ctx, timer.pods, slices, sandbox, sandbox, since_pods=mark_p, since_slices=mark_s, not_uid=uid(pod))
    again = ctx.core.read_namespaced_service(sandbox, ctx.namespace).metadata
    assert again is not None and again.uid == svc["metadata"]["uid"], "the claimed Sandbox's Service was replaced"


def pool_namespace_isolation(ctx: SuiteContext) -> None:
    """Deleting a namesake SandboxTemplate in another namespace must not cost this pool its warm Sandboxes
    (v0.4.6 keeps warm candidates per template name across namespaces and drops them all)."""
    n = 3
    make_pool(ctx, n)
    other = ctx.extra_namespace("neighbour")
    neighbour = ctx.recorder("SandboxTemplate", other)
    with ctx.step(f"create, then delete, a SandboxTemplate {TEMPLATE} in namespace {other}"):
        for doc in render("agent-sandbox/template.yaml", ctx.sandboxes.version):
            ctx.sandboxes.create(other, doc)
        ctx.sandboxes.delete("SandboxTemplate", other, TEMPLATE)
        neighbour.wait_for(is_named(TEMPLATE, deleted=True), timeout=ctx.config.timeout("pool_ready"),
                           what=f"SandboxTemplate {other}/{TEMPLATE} deleted", diagnose=ctx.diagnose)
    timer = ClaimTimer(ctx)
    launches = []
    for i in range(n):  # as many claims as the pool holds: each one must find a warm Sandbox
        _claim, t0, mc, mp = timer.create(f"iso-{i}", POOL)
        with ctx.step(f"claim iso-{i}"):
            done, _ = timer.await_claim(f"iso-{i}", t0, mc, mp)
        launches.append(timer.launch(done))
    assert launches == ["warm"] * n, (f"after a SandboxTemplate named {TEMPLATE} was deleted in {other}, this namespace's "
                                      f"claims were served {launches} from a pool of {n} ready Sandboxes")


def controller_metrics(ctx: SuiteContext) -> None:
    if not ctx.agent_sandbox.controller_metrics:
        pytest.skip("the controller's metrics endpoint is not known for this cluster")
    make_pool(ctx, 3)
    before = _controller_histograms(ctx)
    timer = ClaimTimer(ctx)
    for i in range(3):
        _, t0, mc, mp = timer.create(f"metric-{i}", POOL)
        timer.await_claim(f"metric-{i}", t0, mc, mp)
    beside = _beside(ctx, before, 0.0, 3) or {}
    for metric in (CLAIM_STARTUP, CLAIM_CONTROLLER_STARTUP):
        assert beside.get(metric, {}).get("count") == 3, f"{metric}: {beside.get(metric)} (expected 3 new warm observations)"


TESTS = [
    ConformanceTest("WarmPoolReady", "a warm pool keeps N ready Sandboxes it owns", PROFILE, ("WarmPool",), warm_pool_ready),
    ConformanceTest("WarmClaimLatency", "sequential claims adopt warm Sandboxes within budget", PROFILE, ("WarmPool", "WarmClaim"),
                    warm_claim_latency, latency=True, serial=True),
    ConformanceTest("ColdClaim", "claims without a warm candidate get Sandboxes of their own", PROFILE, ("ColdClaim",), cold_claim, latency=True),
    ConformanceTest("ClaimBurst", "more simultaneous claims than warm Sandboxes all become Ready", PROFILE,
                    ("WarmPool", "WarmClaim", "ColdClaim", "ClaimBurst"), claim_burst, latency=True, serial=True),
    ConformanceTest("ClaimService", "a claimed Sandbox keeps its Service across pod recreation", PROFILE,
                    ("WarmClaim", "SandboxService", "ClaimService"), claim_service,
                    serial=True),  # its warm claim would land in ClaimControllerMetrics' histograms
    ConformanceTest("WarmPoolNamespaceIsolation", "a namesake template deleted in another namespace leaves this pool warm",
                    PROFILE, ("WarmPool", "WarmClaim", "WarmPoolNamespaceIsolation"), pool_namespace_isolation,
                    serial=True),  # its warm claims would land in the metrics test's histograms
    ConformanceTest("ClaimControllerMetrics", "the controller records claim startup latency histograms", PROFILE,
                    ("WarmClaim", "ClaimLatencyMetrics"), controller_metrics, serial=True),
]
