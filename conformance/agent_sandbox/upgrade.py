"""Profile agent-sandbox-upgrade: an in-place upgrade of CRDs and controller keeps the live state.

Runs only when the cluster came up at an older lane to be upgraded (--agent-sandbox-upgrade-from);
on any other run every test is skipped and reported unsupported. The scenario (upgrade_scenario)
runs once and each test judges one promise from the same observation, so a lossy upgrade fails
each promise it breaks, not only the first.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.agent_sandbox.upgrade_scenario import (
    CLAIMS,
    KINDS,
    POOL,
    PROBE_CLAIM,
    RUNNING,
    SUSPENDED,
    TEMPLATE,
    claim_uid_label,
    observation,
)
from pytest_openshell.results.model import Measurement
from pytest_openshell.suite import ConformanceTest
from pytest_openshell.suite.context import SuiteContext

PROFILE = "agent-sandbox-upgrade"
MIGRATED_AT = "agents.x-k8s.io/storage-migrated-at"
SHADOW = "agents.x-k8s.io/migration-shadow"


def observed(ctx: SuiteContext, feature: str, *needs: str) -> dict[str, Any]:
    """The shared observation; fails the test with the reason the scenario stopped at, if it stopped
    before what this test judges (``needs``: later stages it reads)."""
    if ctx.cluster.upgrade is None:
        ctx.unsupported([feature], "not an upgrade run: use --agent-sandbox-upgrade-from=<older lane> "
                                   f"--openshell-profile={PROFILE}")
    obs = observation(ctx, ctx.upgrade_crd_mode)
    errors = obs["errors"]
    if "before" in errors:
        pytest.fail(f"creating the live state on agent-sandbox {obs['from']} failed:\n{errors['before']}", pytrace=False)
    if "upgrade" in errors:
        pytest.fail(f"the in-place upgrade {obs['from']} -> {obs['to']} failed: {errors['upgrade']}", pytrace=False)
    report = obs["upgrade"]
    ctx.note(f"upgraded {obs['from']} -> {obs['to']} in {report['seconds']:.1f}s (CRDs: {report['crd_mode']}); "
             f"{report['bootstrap']['summary']}; {report['migrate']['summary']}")
    for phase in ("bootstrap", "migrate"):
        for failure in report[phase].get("failed_attempts") or ():
            ctx.note(f"migrate.sh --phase={phase} failed once and was re-run (upstream's guide: it is idempotent): {failure}")
    for stage in needs:
        if stage in errors:
            pytest.fail(f"after the upgrade, {stage} failed:\n{errors[stage]}", pytrace=False)
    return obs


def churned(obs: dict[str, Any]) -> set[str]:
    """Unclaimed warm Sandboxes the upgrade replaced while their pool stayed (same UID): pool inventory
    nobody held. v0.5.6's pool controller, first seeing a v0.4.6 pool, creates one member too many and
    then deletes its excess, unready and newest first -- at times a member made before the upgrade."""
    before, after = obs["before"], obs["after"]
    gone = set()
    for name, was in before["Sandbox"].items():
        pools = [(n, u) for k, n, u in was["owners"] if k == "SandboxWarmPool"]
        if name not in after["Sandbox"] and pools and all(after["SandboxWarmPool"].get(n, {}).get("uid") == u for n, u in pools):
            gone.add(name)
    return gone


def _churn_note(ctx: SuiteContext, obs: dict[str, Any], gone: set[str]) -> None:
    if gone:
        warm = sum(1 for b in obs["before"]["Sandbox"].values() if any(k == "SandboxWarmPool" for k, _, _ in b["owners"]))
        ctx.note(f"the new controller replaced {len(gone)} of {warm} unclaimed warm Sandboxes (pool inventory; their pools kept): "
                 f"{sorted(gone)}")


def keeps_objects(ctx: SuiteContext) -> None:
    obs = observed(ctx, "UpgradeKeepsObjects", "settle")
    before, after = obs["before"], obs["after"]
    gone = churned(obs)
    lost, replaced, inventory = [], [], 0
    for kind in (*KINDS, "Service"):
        for name, was in before[kind].items():
            now = after[kind].get(name)
            if now is None and kind in ("Sandbox", "Service") and name in gone:
                inventory += 1  # a Service is named after its Sandbox and goes with it
                continue
            if now is None:
                lost.append(f"{kind} {name}")
            elif now["uid"] != was["uid"]:
                replaced.append(f"{kind} {name} (uid {was['uid']} -> {now['uid']})")
            elif any((after.get(k) or {}).get(n, {}).get("uid") != u for k, n, u in now["owners"]):
                lost.append(f"{kind} {name} (orphaned: its owner is gone, the garbage collector takes it)")
    for crd, seen in obs["upgrade"]["crds"].items():
        if seen["uid_before"] != seen["uid_after"]:
            replaced.append(f"CRD {crd} (uid {seen['uid_before']} -> {seen['uid_after']})")
    total = sum(len(before[k]) for k in (*KINDS, "Service"))
    assert not lost and not replaced, (f"the upgrade lost {len(lost)} and replaced {len(replaced)} of {total} objects: "
                                       f"lost {lost}; replaced {replaced}")
    _churn_note(ctx, obs, gone)
    ctx.note(f"all {total - inventory} other objects (and the 4 CRDs) kept with their UIDs")


def keeps_pods(ctx: SuiteContext) -> None:
    obs = observed(ctx, "UpgradeKeepsPods", "settle")
    before, after = obs["before"], obs["after"]
    missing, recreated, orphaned = [], [], []
    gone = churned(obs)
    _churn_note(ctx, obs, gone)
    for name, was in before["Pod"].items():
        if name in gone:
            continue  # the pod of a replaced unclaimed warm Sandbox (pod name = Sandbox name)
        now = after["Pod"].get(name)
        if now is None or not now["ready"]:
            missing.append(name)
            continue
        if now["uid"] != was["uid"]:
            recreated.append(name)
        # Still a pod of the kept Sandbox: its controller is there, with the UID the pod names.
        for kind, owner, owner_uid in now["owners"]:
            if (after.get(kind) or {}).get(owner, {}).get("uid") != owner_uid:
                orphaned.append(f"{name} (its {kind} {owner} {owner_uid} is gone)")
    assert not orphaned, f"pods whose Sandbox did not survive the upgrade (the garbage collector takes them): {orphaned}"
    assert not missing, f"pods gone or not Ready after the upgrade: {missing} (seen since it began: " \
                        f"{ {n: obs['pods_seen'].get(n) for n in missing} })"
    gaps = obs["endpoint_gaps_ms"]
    ctx.measure(Measurement("upgrade_endpoint_gap_ms", [gaps[s] for s in sorted(gaps)]))
    if not recreated:
        ctx.note(f"all {len(before['Pod'])} pods kept (same UIDs); longest endpoint gap {max(gaps.values(), default=0.0):.0f} ms")
        return
    # The new controller recreated some: their Services must be the same objects with the same selector.
    unstable = [s for s in recreated if s in before["Service"] and (
        after["Service"].get(s, {}).get("uid") != before["Service"][s]["uid"]
        or after["Service"].get(s, {}).get("selector") != before["Service"][s]["selector"])]
    assert not unstable, f"pods {recreated} were recreated and the Services {unstable} did not stay the same (UID, selector)"
    ctx.note(f"the new controller recreated pods {recreated}; their Services kept UID and selector; "
             f"endpoint gaps (ms): { {s: gaps.get(s) for s in recreated} }")


def keeps_claims(ctx: SuiteContext) -> None:
    obs = observed(ctx, "UpgradeKeepsClaims")
    before, after = obs["before"], obs["after"]
    problems = []
    for name in CLAIMS:
        was, now = before["SandboxClaim"][name], after["SandboxClaim"].get(name)
        if now is None:
            problems.append(f"claim {name} is gone")
            continue
        bound_before = (was["status"] or {}).get("sandbox", {}).get("name")
        bound_now = ((now["status"] or {}).get("sandbox") or {}).get("name")
        if bound_now != bound_before:
            problems.append(f"claim {name} was bound to {bound_before}, now to {bound_now!r}")
            continue
        box = after["Sandbox"].get(bound_now)
        if box is None:
            problems.append(f"Sandbox {bound_now} of claim {name} is gone")
            continue
        if claim_uid_label(box) != now["uid"]:
            problems.append(f"Sandbox {bound_now}: claim-uid label {claim_uid_label(box)!r}, claim uid {now['uid']}")
        if ["SandboxClaim", name, now["uid"]] not in [list(o) for o in box["owners"]]:
            problems.append(f"Sandbox {bound_now} is not controlled by claim {name}: {box['owners']}")
    assert not problems, "; ".join(problems)


def warm_pool_serves(ctx: SuiteContext) -> None:
    obs = observed(ctx, "UpgradeWarmPoolServes", "probe")
    probe = obs["probe"]
    assert probe["sandbox"] != PROBE_CLAIM and probe["sandbox"].startswith(f"{POOL}-"), (
        f"claim {PROBE_CLAIM} after the upgrade got Sandbox {probe['sandbox']}, not a warm one of pool {POOL}")
    assert probe["labels"].get("agents.x-k8s.io/claim-uid") == probe["claim_uid"]


def keeps_identity(ctx: SuiteContext) -> None:
    obs = observed(ctx, "UpgradeKeepsIdentity", "identity")
    earlier, now = obs.get("identity_before") or {}, obs.get("identity_after") or {}
    if "unsupported" in earlier:
        ctx.unsupported(["UpgradeKeepsIdentity"], earlier["unsupported"])
    problems = []
    for sandbox_id, was in earlier["sandboxes"].items():
        if was["identity"] != sandbox_id:
            problems.append(f"control: before the upgrade pod {was['pod']} got {was['identity']!r} ({was['code']}), not {sandbox_id}")
        got = now["sandboxes"].get(sandbox_id, {})
        if got.get("identity") != sandbox_id:
            problems.append(f"after the upgrade pod {got.get('pod')} of {sandbox_id} got {got.get('identity')!r} "
                            f"({got.get('code')} {got.get('reason')})")
    assert not problems, "; ".join(problems)
    claimed = [s for s, w in earlier["sandboxes"].items() if w["claimed"]]
    ctx.note(f"{len(earlier['sandboxes'])} gateway identities resolve after the upgrade ({len(claimed)} through a warm claim)")


def storage_migration(ctx: SuiteContext) -> None:
    """What upstream's own migration test (dev/tools/test-migration.py) checks after migrate.sh."""
    obs = observed(ctx, "UpgradeStorageMigration", "v1alpha1")
    beta, alpha = obs["after"], obs["after_v1alpha1"]
    problems = []

    def expect(what: str, got: Any, want: Any) -> None:
        if got != want:
            problems.append(f"{what}: {got!r}, want {want!r}")

    for name, mode, replicas in ((SUSPENDED, "Suspended", 0), (RUNNING, "Running", 1)):
        expect(f"v1beta1 Sandbox {name} operatingMode", (beta["Sandbox"].get(name, {}).get("spec") or {}).get("operatingMode"), mode)
        expect(f"v1alpha1 Sandbox {name} replicas", (alpha["Sandbox"].get(name, {}).get("spec") or {}).get("replicas"), replicas)
    pools = {"upg-claim-pool": POOL, "upg-claim-default": POOL, "upg-claim-cold": f"shadow-pool-{TEMPLATE}"}
    for name, policy in CLAIMS.items():
        spec = beta["SandboxClaim"].get(name, {}).get("spec") or {}
        expect(f"v1beta1 claim {name} warmPoolRef", (spec.get("warmPoolRef") or {}).get("name"), pools[name])
        expect(f"v1alpha1 claim {name} warmpool", (alpha["SandboxClaim"].get(name, {}).get("spec") or {}).get("warmpool"),
               policy if policy is not None else "none")
    shadow = beta["SandboxWarmPool"].get(f"shadow-pool-{TEMPLATE}")
    expect("shadow pool annotation", (shadow or {}).get("annotations", {}).get(SHADOW), "true")
    unmigrated = [f"{k} {n}" for k in KINDS for n, o in obs["before"][k].items()
                  if n in beta[k] and MIGRATED_AT not in beta[k][n]["annotations"]]
    if unmigrated:
        problems.append(f"not rewritten by migrate.sh --phase=migrate (no {MIGRATED_AT}): {unmigrated}")
    for crd, seen in obs["upgrade"]["crds"].items():
        if "v1beta1" not in (seen["stored_versions"] or []):
            problems.append(f"CRD {crd} storedVersions {seen['stored_versions']} lacks v1beta1")
    assert not problems, "; ".join(problems)


def _test(name: str, description: str, feature: str, run: Any) -> ConformanceTest:
    # serial: the tests share one upgrade of the cluster, so they run on one worker, in turn.
    return ConformanceTest(name, description, PROFILE, (feature,), run, serial=True)


TESTS = [
    _test("UpgradeKeepsObjects", "every Sandbox, template, pool, claim and Service (and every CRD) keeps its UID; none is lost",
          "UpgradeKeepsObjects", keeps_objects),
    _test("UpgradeKeepsPods", "running pods are not recreated (if they are: Service UID and selector stable, endpoint gap measured)",
          "UpgradeKeepsPods", keeps_pods),
    _test("UpgradeKeepsClaims", "claims stay bound to the same Sandboxes, with their claim-uid labels and ownership",
          "UpgradeKeepsClaims", keeps_claims),
    _test("UpgradeWarmPoolServes", "the warm pool created before the upgrade serves a new claim after it",
          "UpgradeWarmPoolServes", warm_pool_serves),
    _test("UpgradeKeepsIdentity", "every claimed pod's identity chain (reference gateway) resolves to the same sandbox id after it",
          "UpgradeKeepsIdentity", keeps_identity),
    _test("UpgradeStorageMigration", "objects are converted and rewritten in v1beta1 storage as upstream's migration test checks",
          "UpgradeStorageMigration", storage_migration),
]
