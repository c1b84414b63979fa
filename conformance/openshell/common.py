"""Shared steps of the OpenShell suites: create through the gateway, mint pod tokens, present them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import grpc
import jwt
from kubernetes import client as k8s

from conformance.agent_sandbox.checks import pod_ready
from conformance.agent_sandbox.support import HOLD  # one finalizer of ours, whichever suite holds an object
from conformance.openshell.platform import wait_pod
from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell._proto.openshell.v1 import openshell_pb2 as opb
from pytest_openshell.contract.clients import bearer
from pytest_openshell.contract.labels import POD_SANDBOX_ID, SANDBOX_ID, TOKEN_AUDIENCE, WARM_POOL
from pytest_openshell.kindimage.workloads import SANDBOX_IMAGE as IMAGE
from pytest_openshell.kube.podexec import exec_in_pod
from pytest_openshell.kube.recorder import is_named
from pytest_openshell.kube.waits import Obj
from pytest_openshell.openshell.services import RPC_TIMEOUT_S
from pytest_openshell.suite.context import SuiteContext

# The codes the harness recommends for a denial (feature StrictDenialCodes). The contract itself
# asks less: upstream answers NOT_FOUND for a sandbox id it never issued, by design and unit-tested.
DENIALS = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


@dataclass(frozen=True)
class Outcome:
    """What presenting a credential bought: an identity, or a denial (code and reason)."""

    sandbox_id: str | None
    code: grpc.StatusCode | None = None
    reason: str = ""
    token: str | None = None

    @property
    def denied(self) -> bool:
        """A denial as the contract has it: a non-OK status, no credential minted, no identity disclosed."""
        return self.code is not None and self.code != grpc.StatusCode.OK and self.token is None and not self.sandbox_id


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:5]}"


def create_sandbox(ctx: SuiteContext, name: str) -> str:
    """CreateSandbox through the gateway; the id it assigned."""
    spec = opb.SandboxSpec(template=opb.SandboxTemplate(image=IMAGE))
    with ctx.step(f"CreateSandbox {name} through the gateway"):
        reply = ctx.services.gateway().CreateSandbox(opb.CreateSandboxRequest(name=name, spec=spec), timeout=RPC_TIMEOUT_S)
    return str(reply.sandbox.metadata.id)


def pod_token(ctx: SuiteContext, pod: Obj, *, audience: str = TOKEN_AUDIENCE, service_account: str | None = None,
              bound: bool = True) -> str:
    """The pod's token for ``audience``, as the in-pod supervisor would present it.

    On real nodes, a pod that mounts a projected token for ``audience`` has it read from inside,
    so the token under test is the kubelet's own. Otherwise (simulated nodes run no containers), and
    for tokens no pod carries (another audience, unbound, another service account), it is what the
    kubelet would mount: a TokenRequest bound to the pod.
    """
    meta = pod["metadata"]
    sa = service_account or pod["spec"].get("serviceAccountName") or "default"
    mounted = projected_token(pod, audience) if ctx.cluster.node_mode == "real" and bound else None
    if mounted is not None and sa == (pod["spec"].get("serviceAccountName") or "default"):
        container, path = mounted
        ctx.note(f"token of pod {meta['name']} read from its projected volume at {path} (exec)")
        return exec_in_pod(ctx.api, meta["namespace"], meta["name"], ["cat", path], container=container).strip()
    ref = k8s.V1BoundObjectReference(kind="Pod", api_version="v1", name=meta["name"], uid=meta["uid"]) if bound else None
    request = k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=[audience], expiration_seconds=600,
                                                                            bound_object_ref=ref))
    status = ctx.core.create_namespaced_service_account_token(sa, meta["namespace"], request).status
    assert status is not None, "TokenRequest returned no status"
    return str(status.token)


def projected_token(pod: Obj, audience: str) -> tuple[str, str] | None:
    """(container, file) of a projected service-account token for ``audience`` the pod mounts."""
    volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
    for container in pod["spec"]["containers"]:
        for mount in container.get("volumeMounts") or []:
            for source in ((volumes.get(mount["name"]) or {}).get("projected") or {}).get("sources") or []:
                token = source.get("serviceAccountToken") or {}
                if token.get("audience") == audience:
                    return str(container["name"]), f"{mount['mountPath'].rstrip('/')}/{token['path']}"
    return None


def present_to_gateway(ctx: SuiteContext, token: str) -> Outcome:
    try:
        issued = ctx.services.gateway().IssueSandboxToken(opb.IssueSandboxTokenRequest(), metadata=bearer(token), timeout=RPC_TIMEOUT_S)
    except grpc.RpcError as exc:
        return Outcome(None, exc.code(), str(exc.details()))  # type: ignore[attr-defined]
    ctx.services.gateway_answered(issued)  # which contract generation the gateway speaks, for the report
    claims = jwt.decode(issued.token, options={"verify_signature": False})
    return Outcome(str(claims.get("sandbox_id")), token=issued.token)


def present_to_driver(ctx: SuiteContext, token: str) -> Outcome:
    try:
        reply = ctx.services.driver().AuthenticateSandbox(cpb.AuthenticateSandboxRequest(credential=token), timeout=RPC_TIMEOUT_S)
    except grpc.RpcError as exc:
        return Outcome(None, exc.code(), str(exc.details()))  # type: ignore[attr-defined]
    return Outcome(str(reply.sandbox_id))


def assert_denied(ctx: SuiteContext, outcome: Outcome, why: str) -> None:
    assert outcome.denied, f"expected a denial ({why}), got identity {outcome.sandbox_id!r} / {outcome.code}"
    ctx.note(f"denied ({why}): {outcome.code.name if outcome.code else '?'} {outcome.reason}")
    if outcome.code not in DENIALS:
        ctx.recommendation("StrictDenialCodes", f"denied ({why}) with {outcome.code.name if outcome.code else '?'}, "
                           "not UNAUTHENTICATED or PERMISSION_DENIED")




def craft_pod(ctx: SuiteContext, name: str, *, sandbox_id: str | None, owners: list[dict[str, Any]],
              namespace: str | None = None, service_account: str = "default", hold: bool = False) -> Obj:
    """A pod made by the test (as an attacker with pod-create rights would), scheduled and run by the cluster.

    ``hold`` puts a finalizer on it, so the pod outlives the garbage collector's delete (as a pod
    does while its kubelet is still stopping it); it is released when the test ends.
    """
    ns = namespace or ctx.namespace
    annotations = {POD_SANDBOX_ID: sandbox_id} if sandbox_id else {}
    meta: dict[str, Any] = {"name": name, "namespace": ns, "annotations": annotations, "ownerReferences": owners}
    if hold:
        meta["finalizers"] = [HOLD]
        ctx.defer(lambda: ctx.core.patch_namespaced_pod(name, ns, {"metadata": {"finalizers": None}}))
    body: Any = {"apiVersion": "v1", "kind": "Pod",
            "metadata": meta,
            "spec": {"serviceAccountName": service_account, "automountServiceAccountToken": False,
                     "containers": [{"name": "agent", "image": IMAGE}]}}
    ctx.core.create_namespaced_pod(ns, body)
    if ns == ctx.namespace:
        return wait_pod(ctx, name)
    from pytest_openshell.kube.waits import named, watch_until

    return watch_until(ctx.core.list_namespaced_pod, pod_ready, timeout=ctx.config.timeout("sandbox_ready"),
                       what=f"pod {ns}/{name} Ready", namespace=ns, field_selector=named(name)["field_selector"]).obj


def owner(obj: Obj, *, uid: str | None = None, controller: bool = True) -> dict[str, Any]:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": uid or obj["metadata"]["uid"], "controller": controller, "blockOwnerDeletion": False}


def sandbox_object(ctx: SuiteContext, name: str) -> Obj:
    """The Sandbox object of that platform name, as it is now."""
    return ctx.sandboxes.get("Sandbox", ctx.namespace, name)


def openshell_pool(ctx: SuiteContext, pool: str = "osh-pool", replicas: int = 2, template_annotations: dict[str, str] | None = None,
                   opt_in: bool = True) -> str:
    """A SandboxTemplate running the driver's image and a pool of it (opted in to the driver's warm path)."""
    spec: dict[str, Any] = {"containers": [{"name": "agent", "image": IMAGE}], "automountServiceAccountToken": False}
    template = ctx.sandboxes.template(f"{pool}-tpl", spec)
    if template_annotations:
        template["spec"]["podTemplate"]["metadata"] = {"annotations": template_annotations}
    ctx.sandboxes.create(ctx.namespace, template)
    body = ctx.sandboxes.warm_pool(pool, f"{pool}-tpl", replicas)
    if opt_in:
        body["metadata"]["labels"] = {WARM_POOL: "true"}
    ctx.sandboxes.create(ctx.namespace, body)
    ctx.recorder("SandboxWarmPool").wait_for(is_named(pool, lambda o: (o.get("status") or {}).get("readyReplicas") == replicas),
                                             timeout=ctx.config.timeout("pool_ready"), what=f"pool {pool} ready",
                                             diagnose=ctx.diagnose)
    return f"{pool}-tpl"


__all__ = ["SANDBOX_ID", "Outcome", "assert_denied", "craft_pod", "create_sandbox", "new_name", "owner", "pod_token",
           "present_to_driver", "present_to_gateway", "sandbox_object", "wait_pod"]
