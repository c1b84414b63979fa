"""Profile compute-driver: every ComputeDriver RPC against the real cluster, with the Kubernetes
objects it must produce checked through the Kubernetes API.

Only what the contract promises (proto comments, upstream's behaviour) is asserted: objects are
found by the ``openshell.ai/sandbox-id`` label and ``DriverSandboxStatus.sandbox_name``, never by
an assumed name (upstream's default shared workspace mode names them ``{workspace}--{name}``).
Stricter checks worth having are their own extended features, marked as the harness's
recommendations in ``features.yaml``.
"""

from __future__ import annotations

import queue
import uuid

import grpc

from conformance.agent_sandbox.checks import ms, now, ready
from conformance.openshell.common import new_name, openshell_pool
from conformance.openshell.platform import (
    claim_of,
    pod_name_of,
    pod_of,
    reported_name_matches,
    sandbox_of,
    sandboxes_labelled,
    wait_pod,
)
from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell.contract.clients import WatchStream, driver_channel
from pytest_openshell.contract.labels import (
    GATEWAY_ID,
    MANAGED_BY,
    POD_SANDBOX_ID,
    SANDBOX_ID,
    SANDBOX_NAME,
    SANDBOX_WORKSPACE,
    TOKEN_AUDIENCE,
)
from pytest_openshell.kindimage.workloads import SANDBOX_IMAGE as IMAGE
from pytest_openshell.kube.recorder import EventRecorder, is_labelled
from pytest_openshell.kube.waits import condition as condition_of
from pytest_openshell.openshell.services import RPC_TIMEOUT_S
from pytest_openshell.results.model import Measurement
from pytest_openshell.suite import ConformanceTest
from pytest_openshell.suite.context import SuiteContext

PROFILE = "compute-driver"
T = RPC_TIMEOUT_S


def request(ctx: SuiteContext, name: str, sandbox_id: str | None = None) -> cpb.DriverSandbox:
    """A create request as the upstream gateway sends one: id, name, namespace and workspace."""
    return cpb.DriverSandbox(id=sandbox_id or str(uuid.uuid4()), name=name, namespace=ctx.services.sandbox_namespace,
                             workspace=ctx.services.workspace,
                             spec=cpb.DriverSandboxSpec(template=cpb.DriverSandboxTemplate(image=IMAGE)))


def condition(sandbox: cpb.DriverSandbox, ctype: str) -> str | None:
    return next((c.status for c in sandbox.status.conditions if c.type == ctype), None)


def capabilities(ctx: SuiteContext) -> None:
    caps = ctx.services.capabilities()
    assert caps.driver_name, "GetCapabilities names no driver"
    ctx.note(f"driver {caps.driver_name} {caps.driver_version}: sandbox authentication="
             f"{caps.supports_sandbox_authentication}, reports runtime readiness={caps.driver_reports_runtime_readiness}")
    ctx.services.driver().GetGatewayListenerRequirements(cpb.GetGatewayListenerRequirementsRequest(), timeout=T)


def _refused(call: object, *args: object) -> grpc.RpcError | None:
    try:
        call(*args, timeout=T)  # type: ignore[operator]
    except grpc.RpcError as exc:
        return exc
    return None


def validate(ctx: SuiteContext) -> None:
    """A valid request validates; a name no platform object can carry is refused before anything exists.

    The contract does not say which of ValidateSandboxCreate and CreateSandbox refuses it (upstream's
    shared mode checks only the name's length at Validate, the DNS-1123 rule at Create): either may,
    with INVALID_ARGUMENT, and nothing may be created.
    """
    drv = ctx.services.driver()
    drv.ValidateSandboxCreate(cpb.ValidateSandboxCreateRequest(sandbox=request(ctx, new_name("fine"))), timeout=T)
    bad = request(ctx, "Not_A_DNS_Name!")
    err = _refused(drv.ValidateSandboxCreate, cpb.ValidateSandboxCreateRequest(sandbox=bad))
    if err is None:
        ctx.note("ValidateSandboxCreate accepted a name that is not a DNS-1123 label; CreateSandbox must refuse it")
        err = _refused(drv.CreateSandbox, cpb.CreateSandboxRequest(sandbox=bad))
    assert err is not None, "a sandbox name that is not a DNS-1123 label was accepted by both Validate and Create"
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, f"invalid name: {err.code()} {err.details()}"  # type: ignore[attr-defined]
    leaked = [o["metadata"]["name"] for o in sandboxes_labelled(ctx, bad.id)]
    assert not leaked, f"a refused request left platform objects: {leaked}"


def validate_strict(ctx: SuiteContext) -> None:
    """The harness's recommendation: Validate itself refuses what Create would, so a gateway learns before provisioning."""
    drv = ctx.services.driver()
    forged = request(ctx, new_name("forged"))
    forged.spec.template.labels[SANDBOX_ID] = "not-yours"
    no_id = request(ctx, new_name("noid"))
    no_id.id = ""
    misses = []
    for bad, why in ((request(ctx, "Not_A_DNS_Name!"), "a name that is not a DNS-1123 label"),
                     (forged, f"a template label under the reserved prefix of {SANDBOX_ID}"), (no_id, "an empty id")):
        err = _refused(drv.ValidateSandboxCreate, cpb.ValidateSandboxCreateRequest(sandbox=bad))
        if err is None or err.code() != grpc.StatusCode.INVALID_ARGUMENT:  # type: ignore[attr-defined]
            misses.append(f"{why}: {'accepted' if err is None else err.code()}")  # type: ignore[attr-defined]
    assert not misses, "ValidateSandboxCreate did not refuse (harness recommendation DriverStrictValidation): " + "; ".join(misses)


HOLD_READY = "pytest-openshell.io/hold-ready"  # the simulated node keeps such a pod un-ready (clusters/kwok/stages.yaml)


def _no_early_ready(ctx: SuiteContext, stream: WatchStream, sandbox: cpb.DriverSandbox, boxes: EventRecorder) -> None:
    """With the pod held un-ready, the Sandbox cannot be Ready: a Ready from the driver now is early.

    Once the controller has made the pod and written the Sandbox's (not Ready) status, the driver has
    long seen the object appear; whatever it reported by then is in our stream.
    """
    box = sandbox_of(ctx, sandbox.id)
    with ctx.step("hold the pod un-ready; the driver must not report Ready"):
        pod = wait_pod(ctx, pod_name_of(box), predicate=lambda p: True)
        if HOLD_READY not in (pod["metadata"].get("labels") or {}):
            ctx.note("the driver does not put the request's labels on the pod, so it cannot be held un-ready: "
                     "Ready is checked against the Sandbox only after the driver reports it")
            return
        boxes.wait_for(is_labelled(SANDBOX_ID, sandbox.id,
                                   lambda o: (cond := condition_of(o, "Ready")) is not None and cond.get("status") != "True"),
                       timeout=T, what=f"Sandbox {box['metadata']['name']} status written, not Ready", diagnose=ctx.diagnose)
        early = [e for e in stream.received(sandbox.id) if condition(e, "Ready") == "True"]
        if early:
            now_pod = ctx.core.read_namespaced_pod(pod["metadata"]["name"], pod["metadata"]["namespace"])
            phase = now_pod.status.phase if now_pod.status else None
            labels = now_pod.metadata.labels if now_pod.metadata else None
            raise AssertionError(f"the driver reported Ready while the Sandbox's pod was not ready: {early[0].status}\n"
                                 f"pod phase {phase}, labels {labels}\n"
                                 + ctx.diagnose())
    with ctx.step("release the pod"):
        # From the Sandbox's pod template too: the controller propagates template labels to the pod and
        # puts a label removed from the pod alone back, before the node's readiness delay has passed.
        ctx.sandboxes.patch("Sandbox", ctx.namespace, box["metadata"]["name"],
                            {"spec": {"podTemplate": {"metadata": {"labels": {HOLD_READY: None}}}}})
        ctx.core.patch_namespaced_pod(pod["metadata"]["name"], pod["metadata"]["namespace"], {"metadata": {"labels": {HOLD_READY: None}}})


def create_and_ready(ctx: SuiteContext) -> None:
    drv, name = ctx.services.driver(), new_name("life")
    sandbox = request(ctx, name)
    held = ctx.cluster.node_mode == "simulated"  # a real kubelet ignores the label: its container start is the wait
    if held:
        sandbox.spec.template.labels[HOLD_READY] = "true"
    boxes = ctx.watched("Sandbox")
    with WatchStream(drv) as stream:
        drv.CreateSandbox(cpb.CreateSandboxRequest(sandbox=sandbox), timeout=T)
        obj = sandbox_of(ctx, sandbox.id, timeout=T)
        ctx.note(f"the driver named the Sandbox {obj['metadata']['name']!r} for sandbox {name!r} in workspace {sandbox.workspace!r}")
        labels = obj["metadata"].get("labels") or {}
        assert labels.get(SANDBOX_NAME) == name, f"{SANDBOX_NAME}: {labels.get(SANDBOX_NAME)!r}, want {name!r}"
        assert labels.get(SANDBOX_WORKSPACE) == sandbox.workspace, f"{SANDBOX_WORKSPACE}: {labels.get(SANDBOX_WORKSPACE)!r}"
        assert labels.get(MANAGED_BY) == "openshell" and labels.get(GATEWAY_ID), labels
        assert obj["apiVersion"].endswith(ctx.agent_sandbox.preferred()), "the driver must prefer v1beta1 where it is served"
        template = obj["spec"]["podTemplate"]
        assert template["metadata"]["annotations"][POD_SANDBOX_ID] == sandbox.id
        assert template["spec"].get("automountServiceAccountToken") is False
        audiences = [s["serviceAccountToken"].get("audience") for v in template["spec"].get("volumes", [])
                     for s in (v.get("projected") or {}).get("sources", []) if "serviceAccountToken" in s]
        assert TOKEN_AUDIENCE in audiences, f"no projected token for audience {TOKEN_AUDIENCE}: {audiences}"
        if held:
            _no_early_ready(ctx, stream, sandbox, boxes)
        with ctx.step("wait for the driver to report Ready"):
            deadline, last = now() + ctx.config.timeout("sandbox_ready"), None
            while True:
                try:
                    event = stream.next("sandbox", sandbox.id, max(0.0, deadline - now())).sandbox.sandbox
                except queue.Empty:
                    raise AssertionError(f"WatchSandboxes reported no Ready=True for {sandbox.id} within "
                                         f"{ctx.config.timeout('sandbox_ready')}s; last reported conditions: "
                                         f"{[(c.type, c.status, c.reason) for c in last.status.conditions] if last else 'none'}\n"
                                         + ctx.diagnose()) from None
                last = event
                if condition(event, "Ready") == "True":
                    break
        # Ready from the driver means the platform is healthy now, not soon.
        now_box = ctx.sandboxes.get("Sandbox", ctx.namespace, obj["metadata"]["name"])
        assert ready(now_box), f"driver reported Ready before the Sandbox was Ready: {(now_box.get('status') or {}).get('conditions')}"
        assert reported_name_matches(event.status.sandbox_name, now_box), \
            f"DriverSandboxStatus.sandbox_name {event.status.sandbox_name!r} does not name the Sandbox {now_box['metadata']['name']!r}"
        pod = wait_pod(ctx, pod_name_of(now_box))
        assert pod["metadata"]["annotations"][POD_SANDBOX_ID] == sandbox.id
    got = drv.GetSandbox(cpb.GetSandboxRequest(sandbox_id=sandbox.id, sandbox_name=name), timeout=T).sandbox
    assert (got.id, got.name) == (sandbox.id, name), f"GetSandbox answered {got.id!r}/{got.name!r}"
    assert sandbox.id in {s.id for s in drv.ListSandboxes(cpb.ListSandboxesRequest(), timeout=T).sandboxes}


def _idempotent(rpc: str, call: object, req: object) -> None:
    """The contract: Stop and Start are idempotent. Any error, on the first call or the second, breaks it."""
    for attempt in (1, 2):
        try:
            call(req, timeout=T)  # type: ignore[operator]
        except grpc.RpcError as exc:
            raise AssertionError(f"{rpc} call {attempt} of 2 failed: {exc.code()} {exc.details()!r} "  # type: ignore[attr-defined]
                                 f"(the contract: {rpc} is idempotent; a conflict with a controller write must be retried, not returned)") from None


def stop_start(ctx: SuiteContext) -> None:
    drv, name = ctx.services.driver(), new_name("pause")
    sandbox = request(ctx, name)
    drv.CreateSandbox(cpb.CreateSandboxRequest(sandbox=sandbox), timeout=T)
    pod = pod_of(ctx, sandbox.id)
    platform = pod["metadata"]["name"]
    ids = {"sandbox_id": sandbox.id, "sandbox_name": name}
    mark = ctx.pods.mark()
    with ctx.step("StopSandbox twice, right after Ready"):
        _idempotent("StopSandbox", drv.StopSandbox, cpb.StopSandboxRequest(**ids))
    ctx.pods.wait_for(lambda ev: ev.name == platform and ev.type == "DELETED", since=mark, timeout=ctx.config.timeout("suspend"),
                      what="pod gone after Stop", diagnose=ctx.diagnose)
    spec = ctx.sandboxes.get("Sandbox", ctx.namespace, sandbox_of(ctx, sandbox.id)["metadata"]["name"])["spec"]
    assert spec.get("operatingMode") == "Suspended" or spec.get("replicas") == 0, spec
    mark = ctx.pods.mark()
    with ctx.step("StartSandbox twice"):
        _idempotent("StartSandbox", drv.StartSandbox, cpb.StartSandboxRequest(**ids))
    wait_pod(ctx, platform, since=mark, predicate=lambda p: p["metadata"]["uid"] != pod["metadata"]["uid"] and ready(p))


def delete(ctx: SuiteContext) -> None:
    drv, name = ctx.services.driver(), new_name("gone")
    sandbox = request(ctx, name)
    drv.CreateSandbox(cpb.CreateSandboxRequest(sandbox=sandbox), timeout=T)
    pod_of(ctx, sandbox.id)
    ids = {"sandbox_id": sandbox.id, "sandbox_name": name}
    with WatchStream(drv) as stream:
        # A watch opened now first replays what exists; deleting before that has arrived races the
        # stream's own start (upstream then never reports the delete), which no client does.
        try:
            stream.next("sandbox", sandbox.id, T)
        except queue.Empty:
            raise AssertionError("WatchSandboxes did not report an existing sandbox when the stream opened") from None
        if drv.DeleteSandbox(cpb.DeleteSandboxRequest(**ids), timeout=T).deleted is not True:
            still = [o["metadata"]["name"] for o in sandboxes_labelled(ctx, sandbox.id) if not o["metadata"].get("deletionTimestamp")]
            raise AssertionError(f"DeleteSandbox answered deleted=false for a sandbox that existed; still there, not being deleted: {still} "
                                 "(a conflict on the resourceVersion it read, e.g. the controller's status write, must be "
                                 "retried, not reported as already deleted)")
        try:
            stream.next("deleted", sandbox.id, ctx.config.timeout("sandbox_ready"))
        except queue.Empty:
            raise AssertionError("WatchSandboxes sent no deleted event for a deleted sandbox") from None
    ctx.watched("Sandbox").wait_for(is_labelled(SANDBOX_ID, sandbox.id, deleted=True), timeout=T, what="Sandbox object deleted",
                                    diagnose=ctx.diagnose)
    assert drv.DeleteSandbox(cpb.DeleteSandboxRequest(**ids), timeout=T).deleted is False, "deleting an absent sandbox"


def delete_preconditions(ctx: SuiteContext) -> None:
    drv, name = ctx.services.driver(), new_name("swap")
    sandbox = request(ctx, name)
    drv.CreateSandbox(cpb.CreateSandboxRequest(sandbox=sandbox), timeout=T)
    original = sandbox_of(ctx, sandbox.id, timeout=T)
    platform = original["metadata"]["name"]
    # The object is replaced out of band by another sandbox's under the same name: the driver must
    # delete only what it created (identity checked, uid/resourceVersion preconditions), never this.
    ctx.sandboxes.delete("Sandbox", ctx.namespace, platform)
    ctx.watched("Sandbox").wait_for(is_labelled(SANDBOX_ID, sandbox.id, deleted=True), timeout=T, what="original deleted",
                                    diagnose=ctx.diagnose)
    labels = {**(original["metadata"].get("labels") or {}), SANDBOX_ID: str(uuid.uuid4())}
    annotations = {k: v for k, v in (original["metadata"].get("annotations") or {}).items() if k != SANDBOX_ID}
    replacement = {"apiVersion": original["apiVersion"], "kind": "Sandbox", "spec": original["spec"],
                   "metadata": {"name": platform, "labels": labels, "annotations": annotations}}
    new_uid = ctx.sandboxes.create(ctx.namespace, replacement)["metadata"]["uid"]
    try:
        deleted = drv.DeleteSandbox(cpb.DeleteSandboxRequest(sandbox_id=sandbox.id, sandbox_name=name), timeout=T).deleted
    except grpc.RpcError:
        deleted = False  # refusing is fine; deleting the replacement is not
    still = ctx.sandboxes.get("Sandbox", ctx.namespace, platform)
    assert still["metadata"]["uid"] == new_uid and not still["metadata"].get("deletionTimestamp"), \
        "DeleteSandbox removed another sandbox's object that merely took the name"
    assert deleted is False, "DeleteSandbox reported deleting a sandbox that no longer exists"


def watch(ctx: SuiteContext) -> None:
    """Create, an update (the platform turning Ready) and delete, each seen on one stream.

    The update is the one every sandbox goes through; Stop is not used here, so this verdict
    does not depend on StopSandbox (DriverStopStartIdempotent judges that).
    """
    drv, name = ctx.services.driver(), new_name("seen")
    sandbox = request(ctx, name)
    ids = {"sandbox_id": sandbox.id, "sandbox_name": name}
    with WatchStream(drv) as stream:
        drv.CreateSandbox(cpb.CreateSandboxRequest(sandbox=sandbox), timeout=T)
        try:
            first = stream.next("sandbox", sandbox.id, T).sandbox.sandbox
            while condition(first, "Ready") != "True":
                first = stream.next("sandbox", sandbox.id, ctx.config.timeout("sandbox_ready")).sandbox.sandbox
        except queue.Empty:
            raise AssertionError("WatchSandboxes did not report the new sandbox and its turning Ready") from None
        drv.DeleteSandbox(cpb.DeleteSandboxRequest(**ids), timeout=T)
        try:
            stream.next("deleted", sandbox.id, T)
        except queue.Empty:
            raise AssertionError("no deleted event on WatchSandboxes") from None
        platform = [e for e in list(stream.events.queue) if e.WhichOneof("payload") == "platform_event"]
        ctx.note(f"{len(platform)} platform events seen besides the lifecycle events")


def unknown_fields(ctx: SuiteContext) -> None:
    socket = ctx.services.driver_socket()
    name = new_name("future")
    sandbox = request(ctx, name)
    # Field 1999 (varint 1) is unknown to every revision: a driver must skip it, not fail.
    future = b"\xf8\x7c\x01"
    with driver_channel(socket) as channel:
        create = channel.unary_unary("/openshell.compute.v1.ComputeDriver/CreateSandbox",
                                     request_serializer=lambda m: m.SerializeToString() + future,
                                     response_deserializer=cpb.CreateSandboxResponse.FromString)
        create(cpb.CreateSandboxRequest(sandbox=sandbox), timeout=T)
        caps = channel.unary_unary("/openshell.compute.v1.ComputeDriver/GetCapabilities",
                                   request_serializer=lambda m: m.SerializeToString() + future,
                                   response_deserializer=cpb.GetCapabilitiesResponse.FromString)
        assert caps(cpb.GetCapabilitiesRequest(), timeout=T).driver_name
    pod_of(ctx, sandbox.id)


def warm_path(ctx: SuiteContext) -> None:
    openshell_pool(ctx, replicas=2)
    drv, name = ctx.services.driver(), new_name("warm")
    sandbox = request(ctx, name)
    t0 = now()
    drv.CreateSandbox(cpb.CreateSandboxRequest(sandbox=sandbox), timeout=T)
    claim = claim_of(ctx, sandbox.id, timeout=T)
    assert claim["spec"]["additionalPodMetadata"]["annotations"][POD_SANDBOX_ID] == sandbox.id
    done = ctx.watched("SandboxClaim").wait_for(is_labelled(SANDBOX_ID, sandbox.id, ready), timeout=ctx.config.timeout("claim_ready"),
                                                what="claim Ready", diagnose=ctx.diagnose)
    adopted = done.obj["status"]["sandbox"]["name"]
    assert adopted != claim["metadata"]["name"], "the claim was served cold although a matching warm pool was ready"
    budget = {"p95": ctx.config.budgets["warm_ready_p95_ms"]}
    m = ctx.measure(Measurement("driver_warm_ready_ms", [ms(t0, done.at)], budget=budget))
    assert m.verdict == "pass", f"warm bind through the driver took {m.stats['max']} ms (budget {budget['p95']} ms)"


TESTS = [
    ConformanceTest("DriverCapabilities", "GetCapabilities and listener requirements answer", PROFILE, ("DriverCore",), capabilities),
    ConformanceTest("DriverValidateRejectsBadName", "a valid request validates; a non-DNS-1123 name is refused (Validate or Create)",
                    PROFILE, ("DriverCore",), validate),
    ConformanceTest("DriverValidateStrict", "ValidateSandboxCreate refuses invalid names, reserved labels, no id (recommendation)",
                    PROFILE, ("DriverCore", "DriverStrictValidation"), validate_strict),
    ConformanceTest("DriverCreateReportsReady", "CreateSandbox makes a labelled Sandbox; Ready only when it is", PROFILE,
                    ("DriverCore",), create_and_ready),
    ConformanceTest("DriverStopStartIdempotent", "Stop and Start twice each; the pod goes and comes back", PROFILE,
                    ("DriverCore",), stop_start),
    ConformanceTest("DriverDelete", "DeleteSandbox deletes, reports deleted=false when absent, and is watched", PROFILE,
                    ("DriverCore", "DriverWatch"), delete),
    ConformanceTest("DriverDeletePreconditions", "DeleteSandbox never removes a replacement it did not observe", PROFILE,
                    ("DriverCore",), delete_preconditions),
    ConformanceTest("DriverWatchLifecycle", "WatchSandboxes reports create, the update to Ready, and delete", PROFILE,
                    ("DriverCore", "DriverWatch"), watch),
    ConformanceTest("DriverIgnoresUnknownFields", "requests carrying fields from a newer contract still work", PROFILE,
                    ("DriverCore",), unknown_fields),
    ConformanceTest("DriverWarmPath", "a request matching an opted-in pool becomes a claim that binds warm within budget", PROFILE,
                    ("DriverCore", "DriverWarmPath"), warm_path, latency=True, serial=True),
]
