"""The Kubernetes service-account identity chain: projected pod token -> stable sandbox id.

Every step fails closed with its own reason (:data:`pytest_openshell.reference.status.REASONS`):

1. TokenReview with our audience: authenticated, and the audience is among those granted.
2. The user is ``system:serviceaccount:<ns>:<sa>`` with the configured account, in an allowed namespace.
3. The token is bound to a pod (``user.extra`` carries its name and uid).
4. That pod exists now with that uid (a token of a deleted pod of the same name is refused).
5. The pod's ``openshell.io/sandbox-id`` annotation names the identity it claims.
6. The pod has exactly one ownerReference of kind Sandbox (agents.x-k8s.io), and it is the controller.
7. That Sandbox exists with the referenced uid, and vouches for the annotation: cold sandboxes through
   their ``openshell.ai/sandbox-id`` label; claimed warm sandboxes through their controlling
   SandboxClaim (its live uid equals the Sandbox's ``agents.x-k8s.io/claim-uid`` label and the
   ownerReference, its ``status.sandbox.name`` names this Sandbox) and the record the creator kept
   for (namespace, claim name, claim uid). An unclaimed warm sandbox has no identity.

Step 8 (the id is a sandbox the gateway knows) belongs to the gateway. The pod annotation cannot be
forged after the fact because the gateway may read pods but never patch them; the chain makes sure
the pod's owner, created by the driver, agrees with it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from pytest_openshell.agentsandbox.labels import CLAIM_UID, CORE_GROUP, EXT_GROUP, WARM_POOL_SANDBOX
from pytest_openshell.contract.labels import POD_NAME_EXTRA, POD_SANDBOX_ID, POD_UID_EXTRA, SANDBOX_ID
from pytest_openshell.reference.identity.policy import IdentityPolicy
from pytest_openshell.reference.identity.records import ClaimRecords
from pytest_openshell.reference.kube import AgentSandboxResources, Obj, controller_ref, labels, meta
from pytest_openshell.reference.status import Denied

SA_PREFIX = "system:serviceaccount:"
SANDBOX_API_VERSIONS = (f"{CORE_GROUP}/v1beta1", f"{CORE_GROUP}/v1alpha1")
CLAIM_API_VERSIONS = (f"{EXT_GROUP}/v1beta1", f"{EXT_GROUP}/v1alpha1")


@dataclass(frozen=True)
class VerifiedSandbox:
    """What a verified token proves."""

    sandbox_id: str
    namespace: str
    pod_name: str
    pod_uid: str
    sandbox_name: str = ""  # the agents.x-k8s.io Sandbox object owning the pod
    claim_name: str = ""  # the SandboxClaim the Sandbox was adopted by, for warm sandboxes
    claim_uid: str = ""


def unverified_audiences(token: str) -> list[str]:
    """The ``aud`` a JWT claims, read without verifying it (only the accept-any-audience fault does)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return []
    aud = claims.get("aud", [])
    return [aud] if isinstance(aud, str) else [str(a) for a in aud]


class ServiceAccountVerifier:
    """Verifies projected service-account tokens of sandbox pods; shared by gateway and driver."""

    def __init__(self, api: k8s.ApiClient, policy: IdentityPolicy, claims: ClaimRecords,
                 faults: frozenset[str] = frozenset(), resources: AgentSandboxResources | None = None) -> None:
        self.policy = policy
        self.claims = claims
        self.faults = faults
        self._auth = k8s.AuthenticationV1Api(api)
        self._core = k8s.CoreV1Api(api)
        self._resources = resources or AgentSandboxResources(api)

    def verify(self, token: str) -> VerifiedSandbox:
        """The sandbox ``token`` speaks for; raises :class:`Denied` (or UNAVAILABLE) otherwise."""
        if not token:
            raise Denied("missing bearer token")
        try:
            return self._verify(token)
        except ApiException as exc:  # the API could not answer: no identity rather than a guess
            raise Denied("identity backend unavailable") from exc

    def _verify(self, token: str) -> VerifiedSandbox:
        if "deny-every-token" in self.faults:
            raise Denied("token not authenticated")
        user = self._review(token)
        namespace = self._service_account(user)
        pod_name, pod_uid = self._pod_binding(user)
        pod = self._pod(namespace, pod_name, pod_uid)
        sandbox_id = str((meta(pod).get("annotations") or {}).get(POD_SANDBOX_ID) or "")
        if not sandbox_id:
            raise Denied("sandbox id annotation missing")
        found = VerifiedSandbox(sandbox_id, namespace, pod_name, pod_uid)
        if "trust-annotation-alone" in self.faults:
            return found
        ref = self._controlling_sandbox(pod)
        sandbox = self._owner(namespace, ref)
        return self._anchor(found, sandbox)

    # step 1
    def _review(self, token: str) -> Any:
        lax = "accept-any-audience" in self.faults
        audiences = unverified_audiences(token) if lax else [self.policy.audience]
        review = self._auth.create_token_review(
            k8s.V1TokenReview(spec=k8s.V1TokenReviewSpec(token=token, audiences=audiences or None)))
        status = review.status
        if status is None or not status.authenticated or status.user is None:
            raise Denied("token not authenticated")
        if not lax and self.policy.audience not in (status.audiences or []):
            raise Denied("audience missing")
        return status.user

    # step 2
    def _service_account(self, user: Any) -> str:
        username = str(user.username or "")
        parts = username[len(SA_PREFIX):].split(":") if username.startswith(SA_PREFIX) else []
        if len(parts) != 2 or not all(parts):
            raise Denied("not a service account token")
        namespace, account = parts
        if account != self.policy.service_account:
            raise Denied("service account not allowed")
        if not self.policy.allows_namespace(namespace):
            raise Denied("namespace not allowed")
        return namespace

    # step 3
    @staticmethod
    def _pod_binding(user: Any) -> tuple[str, str]:
        extra = user.extra or {}
        names, uids = extra.get(POD_NAME_EXTRA) or [], extra.get(POD_UID_EXTRA) or []
        if len(names) != 1 or len(uids) != 1 or not names[0] or not uids[0]:
            raise Denied("token not pod-bound")
        return str(names[0]), str(uids[0])

    # step 4
    def _pod(self, namespace: str, name: str, uid: str) -> Obj:
        try:
            raw: Any = self._core.read_namespaced_pod(name, namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                raise Denied("pod not found") from exc
            raise
        obj: Obj = json.loads(raw.data)
        if meta(obj).get("uid") != uid and "skip-pod-uid-check" not in self.faults:
            raise Denied("pod uid mismatch")
        return obj

    # step 6
    @staticmethod
    def _controlling_sandbox(pod: Obj) -> Obj:
        refs = [r for r in meta(pod).get("ownerReferences") or [] if r.get("kind") == "Sandbox"]
        if len(refs) != 1 or refs[0].get("apiVersion") not in SANDBOX_API_VERSIONS or refs[0].get("controller") is not True:
            raise Denied("no controlling Sandbox owner")
        return dict(refs[0])

    # step 7, first half
    def _owner(self, namespace: str, ref: Obj) -> Obj:
        res = self._resources
        sandbox = res.get(res.at(res.sandbox, ref["apiVersion"]), namespace, str(ref.get("name")))
        if sandbox is None:
            raise Denied("owner not found")
        if meta(sandbox).get("uid") != ref.get("uid") and "skip-owner-uid-check" not in self.faults:
            raise Denied("owner UID mismatch")
        return sandbox

    # step 7, second half: does the owner vouch for the annotation?
    def _anchor(self, found: VerifiedSandbox, sandbox: Obj) -> VerifiedSandbox:
        name = str(meta(sandbox).get("name"))
        ctrl = controller_ref(sandbox)
        if ctrl and ctrl.get("kind") == "SandboxClaim" and ctrl.get("apiVersion") in CLAIM_API_VERSIONS:
            return self._reanchor(found, sandbox, ctrl)
        if (ctrl and ctrl.get("kind") == "SandboxWarmPool") or WARM_POOL_SANDBOX in labels(sandbox):
            raise Denied("unclaimed warm sandbox")
        if labels(sandbox).get(SANDBOX_ID) != found.sandbox_id and "skip-label-id-check" not in self.faults:
            raise Denied("owner ID mismatch")
        return VerifiedSandbox(found.sandbox_id, found.namespace, found.pod_name, found.pod_uid, name)

    def _reanchor(self, found: VerifiedSandbox, sandbox: Obj, ctrl: Obj) -> VerifiedSandbox:
        name = str(meta(sandbox).get("name"))
        claim_name = str(ctrl.get("name"))
        if "skip-claim-reanchoring" in self.faults:
            return VerifiedSandbox(found.sandbox_id, found.namespace, found.pod_name, found.pod_uid, name, claim_name,
                                   str(ctrl.get("uid")))
        res = self._resources
        if res.claim is None:
            raise Denied("claim not found")
        claim = res.get(res.at(res.claim, ctrl["apiVersion"]), found.namespace, claim_name)
        if claim is None:
            raise Denied("claim not found")
        live_uid = str(meta(claim).get("uid"))
        if labels(sandbox).get(CLAIM_UID) != live_uid or ctrl.get("uid") != live_uid:
            raise Denied("claim uid mismatch")
        if ((claim.get("status") or {}).get("sandbox") or {}).get("name") != name:
            raise Denied("claim does not name this sandbox")
        recorded = self.claims.claim_sandbox_id(found.namespace, claim_name, live_uid)
        if recorded is None:
            raise Denied("no claim record")
        if recorded != found.sandbox_id:
            raise Denied("claim record mismatch")
        return VerifiedSandbox(found.sandbox_id, found.namespace, found.pod_name, found.pod_uid, name, claim_name, live_uid)
