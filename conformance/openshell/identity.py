"""Profile gateway-identity: the sandbox identity chain, with adversarial cases that must be denied.

Each case runs against the gateway (IssueSandboxToken) and, when the driver advertises
supports_sandbox_authentication, against the driver's AuthenticateSandbox too; at a level the
implementation does not offer, the case is skipped and reported unsupported.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import jwt
import pytest

from conformance.openshell.common import (
    HOLD,
    Outcome,
    assert_denied,
    craft_pod,
    create_sandbox,
    new_name,
    openshell_pool,
    owner,
    pod_token,
    present_to_driver,
    present_to_gateway,
    sandbox_object,
)
from conformance.openshell.platform import claim_of, pod_of, sandbox_of, wait_pod
from conformance.openshell.tokens import expired_pod_token
from pytest_openshell._proto.openshell.v1 import openshell_pb2 as opb
from pytest_openshell.contract.clients import bearer
from pytest_openshell.contract.labels import POD_SANDBOX_ID, SANDBOX_ID
from pytest_openshell.kindimage.workloads import SANDBOX_IMAGE as IMAGE
from pytest_openshell.kube.recorder import is_named
from pytest_openshell.openshell.services import RPC_TIMEOUT_S
from pytest_openshell.suite import ConformanceTest
from pytest_openshell.suite.context import SuiteContext

PROFILE = "gateway-identity"
Present = Callable[[SuiteContext, str], Outcome]


def _sandbox_with_pod(ctx: SuiteContext, prefix: str = "box", control: Present | None = None) -> tuple[str, str, dict]:
    """A sandbox created through the gateway: (its Sandbox's platform name, its id, its Ready pod).

    The platform name is what the driver chose (found by the id label), not the requested name.
    ``control``: first present the pod's own token there and require its identity -- an
    implementation that authenticates nothing would otherwise pass every denial case.
    """
    sandbox_id = create_sandbox(ctx, new_name(prefix))
    pod = pod_of(ctx, sandbox_id)
    if control is not None:
        with ctx.step("control: the sandbox's own pod token buys its identity"):
            outcome = control(ctx, pod_token(ctx, pod))
        assert outcome.sandbox_id == sandbox_id, (
            f"control failed: the sandbox's own pod token got {outcome.sandbox_id!r} ({outcome.code} {outcome.reason}); "
            "a denial below would prove nothing")
    return str(sandbox_of(ctx, sandbox_id)["metadata"]["name"]), sandbox_id, pod


def valid_token(ctx: SuiteContext, present: Present) -> None:
    _, sandbox_id, pod = _sandbox_with_pod(ctx)
    assert pod["metadata"]["annotations"][POD_SANDBOX_ID] == sandbox_id
    outcome = present(ctx, pod_token(ctx, pod))
    assert outcome.sandbox_id == sandbox_id, f"identity {outcome.sandbox_id!r} ({outcome.code} {outcome.reason})"
    if outcome.token is None:
        return  # the driver level answers with the id only
    key, issuer = ctx.services.gateway_public_key, ctx.services.gateway_issuer
    claims = jwt.decode(outcome.token, key, algorithms=["EdDSA"], audience=issuer, issuer=issuer) if key else \
        jwt.decode(outcome.token, options={"verify_signature": False})
    assert jwt.get_unverified_header(outcome.token)["alg"] == "EdDSA"
    assert claims["sub"] == f"spiffe://openshell/sandbox/{sandbox_id}" and claims["sandbox_id"] == sandbox_id
    assert claims["iss"] == claims["aud"] and str(claims["iss"]).startswith("openshell-gateway:")
    assert claims["iat"] <= time.time() + 5 < claims["exp"]


def refresh(ctx: SuiteContext, present: Present) -> None:
    _, sandbox_id, pod = _sandbox_with_pod(ctx)
    sa_token = pod_token(ctx, pod)
    issued = present(ctx, sa_token)
    assert issued.token and issued.sandbox_id == sandbox_id, \
        f"the pod's token bought {issued.sandbox_id!r} ({issued.code} {issued.reason}), not a token for {sandbox_id}"
    gw = ctx.services.gateway()
    again = gw.RefreshSandboxToken(opb.RefreshSandboxTokenRequest(), metadata=bearer(issued.token), timeout=RPC_TIMEOUT_S)
    assert jwt.decode(again.token, options={"verify_signature": False})["sandbox_id"] == sandbox_id
    with pytest.raises(grpc.RpcError) as refused:
        gw.RefreshSandboxToken(opb.RefreshSandboxTokenRequest(), metadata=bearer(sa_token), timeout=RPC_TIMEOUT_S)
    assert refused.value.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)  # type: ignore[attr-defined]


def wrong_audience(ctx: SuiteContext, present: Present) -> None:
    *_, pod = _sandbox_with_pod(ctx, control=present)
    assert_denied(ctx, present(ctx, pod_token(ctx, pod, audience="someone-else")), "audience is not openshell-gateway")


def not_pod_bound(ctx: SuiteContext, present: Present) -> None:
    *_, pod = _sandbox_with_pod(ctx, control=present)
    assert_denied(ctx, present(ctx, pod_token(ctx, pod, bound=False)), "token not bound to a pod")


def recreated_pod(ctx: SuiteContext, present: Present) -> None:
    _, _, pod = _sandbox_with_pod(ctx, control=present)
    token = pod_token(ctx, pod)
    mark = ctx.pods.mark()
    ctx.core.delete_namespaced_pod(pod["metadata"]["name"], ctx.namespace, grace_period_seconds=0)
    wait_pod(ctx, pod["metadata"]["name"], since=mark, predicate=lambda p: p["metadata"]["uid"] != pod["metadata"]["uid"] and
             (p.get("status") or {}).get("phase") == "Running")
    assert_denied(ctx, present(ctx, token), "token of the pod's deleted predecessor")


def service_account_not_allowed(ctx: SuiteContext, present: Present) -> None:
    name, sandbox_id, _ = _sandbox_with_pod(ctx, control=present)
    intruder: Any = {"metadata": {"name": "intruder"}}
    ctx.core.create_namespaced_service_account(ctx.namespace, intruder)
    forged = craft_pod(ctx, f"{name}-sa", sandbox_id=sandbox_id, owners=[owner(sandbox_object(ctx, name))], service_account="intruder")
    assert_denied(ctx, present(ctx, pod_token(ctx, forged, service_account="intruder")), "service account not the sandbox's")


def namespace_not_allowed(ctx: SuiteContext, present: Present) -> None:
    name, sandbox_id, _ = _sandbox_with_pod(ctx, control=present)
    other = ctx.extra_namespace("elsewhere")
    body = ctx.sandboxes.sandbox(name)
    body["metadata"]["labels"] = {SANDBOX_ID: sandbox_id}
    body["spec"]["podTemplate"]["metadata"] = {"annotations": {POD_SANDBOX_ID: sandbox_id}}
    created = ctx.sandboxes.create(other, body)
    forged = craft_pod(ctx, f"{name}-ns", sandbox_id=sandbox_id, owners=[owner(created)], namespace=other)
    assert_denied(ctx, present(ctx, pod_token(ctx, forged)), "namespace not allowed")


def owner_uid_mismatch(ctx: SuiteContext, present: Present) -> None:
    name, sandbox_id, _ = _sandbox_with_pod(ctx, control=present)
    live = sandbox_object(ctx, name)
    forged = craft_pod(ctx, f"{name}-stale", sandbox_id=sandbox_id, owners=[owner(live)], hold=True)
    token = pod_token(ctx, forged)
    # Now the pod's owner is a Sandbox of the same name that no longer exists (deleted and
    # recreated): the garbage collector starts deleting the pod, the finalizer keeps it for now.
    stale = owner(live, uid=str(uuid.uuid4()))
    ctx.core.patch_namespaced_pod(forged["metadata"]["name"], ctx.namespace,
                                  [{"op": "replace", "path": "/metadata/ownerReferences", "value": [stale]}])
    assert_denied(ctx, present(ctx, token), "owner UID is not the live Sandbox's")


def label_id_mismatch(ctx: SuiteContext, present: Present) -> None:
    name_a, _, _ = _sandbox_with_pod(ctx, "a", control=present)
    _, id_b, _ = _sandbox_with_pod(ctx, "b")
    forged = craft_pod(ctx, f"{name_a}-x", sandbox_id=id_b, owners=[owner(sandbox_object(ctx, name_a))])
    assert_denied(ctx, present(ctx, pod_token(ctx, forged)), "pod annotation names another sandbox than its owner's label")


def bad_owners(ctx: SuiteContext, present: Present) -> None:
    name_a, id_a, _ = _sandbox_with_pod(ctx, "a", control=present)
    name_b, _, _ = _sandbox_with_pod(ctx, "b")
    a, b = sandbox_object(ctx, name_a), sandbox_object(ctx, name_b)
    weak = craft_pod(ctx, f"{name_a}-weak", sandbox_id=id_a, owners=[owner(a, controller=False)])
    assert_denied(ctx, present(ctx, pod_token(ctx, weak)), "Sandbox owner is not the controller")
    two = craft_pod(ctx, f"{name_a}-two", sandbox_id=id_a, owners=[owner(a), owner(b, controller=False)])
    assert_denied(ctx, present(ctx, pod_token(ctx, two)), "two Sandbox owners")


def unknown_sandbox(ctx: SuiteContext, present: Present) -> None:
    _sandbox_with_pod(ctx, "ctl", control=present)
    made_up = str(uuid.uuid4())
    body = ctx.sandboxes.sandbox("rogue")
    body["metadata"]["labels"] = {SANDBOX_ID: made_up}
    body["spec"]["podTemplate"]["metadata"] = {"annotations": {POD_SANDBOX_ID: made_up}}
    body["spec"]["podTemplate"]["spec"]["containers"][0]["image"] = IMAGE
    ctx.sandboxes.create(ctx.namespace, body)
    assert_denied(ctx, present(ctx, pod_token(ctx, wait_pod(ctx, "rogue"))), "sandbox id unknown to the gateway")


def unclaimed_warm_pod(ctx: SuiteContext, present: Present) -> None:
    _sandbox_with_pod(ctx, "ctl", control=present)
    openshell_pool(ctx, replicas=1)
    idle = next(p for p in (e.obj for e in ctx.pods.history) if p["metadata"]["name"].startswith("osh-pool-"))
    assert_denied(ctx, present(ctx, pod_token(ctx, wait_pod(ctx, idle["metadata"]["name"]))), "warm pod nobody claimed")


def _bound_claim(ctx: SuiteContext, sandbox_id: str) -> dict:
    """The SandboxClaim of a warm-path sandbox (found by the id label), once it names its Sandbox."""
    return claim_of(ctx, sandbox_id, predicate=lambda c: bool((c.get("status") or {}).get("sandbox", {}).get("name")))


def stale_claim(ctx: SuiteContext, present: Present) -> None:
    openshell_pool(ctx, replicas=2)
    sandbox_id = create_sandbox(ctx, new_name("warm"))
    claim = _bound_claim(ctx, sandbox_id)
    name, adopted = claim["metadata"]["name"], claim["status"]["sandbox"]["name"]
    pod = wait_pod(ctx, adopted, predicate=lambda p: POD_SANDBOX_ID in (p["metadata"].get("annotations") or {}))
    token = pod_token(ctx, pod)
    # Hold the claimed Sandbox and its pod (finalizers: they linger while being deleted, as they
    # would behind a slow kubelet), delete the claim, and recreate a claim of the same name: the
    # Sandbox's claim-uid now names a claim that no longer exists.
    hold(ctx, "Sandbox", adopted)
    hold(ctx, "Pod", adopted)
    ctx.sandboxes.delete("SandboxClaim", ctx.namespace, name)
    ctx.watched("SandboxClaim").wait_for(is_named(name, deleted=True), timeout=ctx.config.timeout("claim_ready"), what="claim deleted",
                                         diagnose=ctx.diagnose)
    ctx.sandboxes.create(ctx.namespace, ctx.sandboxes.claim(name, template="osh-pool-tpl", pool="osh-pool"))
    assert_denied(ctx, present(ctx, token), "claim deleted and recreated under the same name")


def hold(ctx: SuiteContext, kind: str, name: str) -> None:
    """A finalizer that keeps the object while it is being deleted, released when the test ends."""
    patch = [{"op": "add", "path": "/metadata/finalizers", "value": [HOLD]}]
    release = [{"op": "remove", "path": "/metadata/finalizers"}]
    if kind == "Pod":
        ctx.core.patch_namespaced_pod(name, ctx.namespace, patch)
        ctx.defer(lambda: ctx.core.patch_namespaced_pod(name, ctx.namespace, release))
    else:  # custom objects take merge patches, which replace the list
        ctx.sandboxes.patch(kind, ctx.namespace, name, {"metadata": {"finalizers": [HOLD]}})
        ctx.defer(lambda: ctx.sandboxes.patch(kind, ctx.namespace, name, {"metadata": {"finalizers": None}}))


def template_annotation(ctx: SuiteContext, present: Present) -> None:
    _, victim_id, _ = _sandbox_with_pod(ctx, "victim", control=present)
    openshell_pool(ctx, "forged-pool", 1, template_annotations={POD_SANDBOX_ID: victim_id}, opt_in=False)
    claim = ctx.sandboxes.create(ctx.namespace, ctx.sandboxes.claim("direct", template="forged-pool-tpl", pool="forged-pool"))
    bound = ctx.recorder("SandboxClaim").wait_for(
        is_named("direct", lambda c: bool((c.get("status") or {}).get("sandbox", {}).get("name"))),
        timeout=ctx.config.timeout("claim_ready"), what="direct claim bound", diagnose=ctx.diagnose).obj
    assert bound["metadata"]["uid"] == claim["metadata"]["uid"]
    pod = wait_pod(ctx, bound["status"]["sandbox"]["name"])
    assert pod["metadata"]["annotations"].get(POD_SANDBOX_ID) == victim_id
    assert_denied(ctx, present(ctx, pod_token(ctx, pod)), "identity annotation baked into a template, not set by the gateway")


def expired(ctx: SuiteContext, present: Present) -> None:
    _, sandbox_id, pod = _sandbox_with_pod(ctx)
    fresh, stale = expired_pod_token(ctx, pod)
    assert present(ctx, fresh).sandbox_id == sandbox_id, "control: the same token, unexpired, must be accepted"
    assert_denied(ctx, present(ctx, stale), "token expired")


def claimed_warm_identity(ctx: SuiteContext, present: Present) -> None:
    openshell_pool(ctx, replicas=2)
    sandbox_id = create_sandbox(ctx, new_name("warm"))
    claim = _bound_claim(ctx, sandbox_id)
    adopted = claim["status"]["sandbox"]["name"]
    assert adopted != claim["metadata"]["name"], "a request matching an opted-in pool is served warm"
    pod = wait_pod(ctx, adopted, predicate=lambda p: (p["metadata"].get("annotations") or {}).get(POD_SANDBOX_ID) == sandbox_id)
    outcome = present(ctx, pod_token(ctx, pod))
    assert outcome.sandbox_id == sandbox_id, f"the claimed warm pod got {outcome.sandbox_id!r} ({outcome.reason}), not the claim's id"


CASES: list[tuple[str, str, tuple[str, ...], Callable[[SuiteContext, Present], None], bool]] = [
    # short name, description, features, function, also at the driver level
    ("ValidPodTokenGetsIdentity", "a pod-bound token of a gateway-created sandbox buys its identity", (), valid_token, True),
    ("RefreshAcceptsOnlyGatewayJWT", "RefreshSandboxToken renews a gateway JWT and refuses an SA token", ("GatewayRefresh",), refresh, False),
    ("WrongAudienceDenied", "a token for another audience is denied", (), wrong_audience, True),
    ("UnboundTokenDenied", "a token not bound to a pod is denied", (), not_pod_bound, True),
    ("RecreatedPodTokenDenied", "the token of a deleted pod is denied to its same-named successor", (), recreated_pod, True),
    ("ServiceAccountNotAllowed", "a token of another service account is denied", (), service_account_not_allowed, True),
    ("NamespaceNotAllowed", "a pod in a namespace the gateway does not serve is denied", (), namespace_not_allowed, True),
    ("OwnerUIDMismatchDenied", "a pod owned by a deleted-and-recreated Sandbox is denied", (), owner_uid_mismatch, True),
    ("LabelIDMismatchDenied", "a pod claiming another sandbox's id than its owner's label is denied", (), label_id_mismatch, True),
    ("NonControllerOrTwoOwnersDenied", "a pod without exactly one controlling Sandbox owner is denied", (), bad_owners, True),
    ("UnknownSandboxDenied", "a sandbox id the gateway never issued is denied", (), unknown_sandbox, False),
    ("UnclaimedWarmPodDenied", "a warm pod nobody claimed has no identity", ("WarmPodIdentity",), unclaimed_warm_pod, True),
    ("StaleClaimDenied", "a claim deleted and recreated under the same name breaks the chain", ("WarmClaimIdentity",), stale_claim, True),
    ("TemplateInjectedIDDenied", "an id baked into a template, not set by the gateway, is denied", ("WarmPodIdentity",),
     template_annotation, True),
    ("ExpiredTokenDenied", "an expired token is denied (its unexpired twin is accepted)", ("ExpiredTokens",), expired, True),
    ("ClaimedWarmPodGetsClaimIdentity", "a claimed warm pod gets the claim's identity, never the pool's", ("WarmClaimIdentity",),
     claimed_warm_identity, True),
]


def _gateway(fn: Callable[[SuiteContext, Present], None]) -> Callable[[SuiteContext], None]:
    return lambda ctx: fn(ctx, present_to_gateway)


def _driver(fn: Callable[[SuiteContext, Present], None]) -> Callable[[SuiteContext], None]:
    def run(ctx: SuiteContext) -> None:
        if not ctx.services.capabilities().supports_sandbox_authentication:
            ctx.unsupported(["DriverAuthentication"], "the driver does not advertise supports_sandbox_authentication")
        fn(ctx, present_to_driver)

    return run


TESTS = [ConformanceTest(name, desc, PROFILE, ("GatewayIdentity", *feats), _gateway(fn)) for name, desc, feats, fn, _ in CASES] + [
    ConformanceTest(f"Driver{name}", f"AuthenticateSandbox: {desc}", PROFILE, ("DriverAuthentication", *feats), _driver(fn))
    for name, desc, feats, fn, both in CASES if both
]
