"""Profile compute-driver: every ComputeDriver RPC against the real cluster, with the Kubernetes
objects it must produce checked through the Kubernetes API."""

from __future__ import annotations

import queue
import uuid

import grpc
import pytest

from conformance.agent_sandbox.checks import ms, now, ready
from conformance.openshell.common import new_name, openshell_pool, wait_pod
from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as cpb
from pytest_openshell.contract.clients import WatchStream, driver_channel
from pytest_openshell.contract.labels import GATEWAY_ID, MANAGED_BY, POD_SANDBOX_ID, SANDBOX_ID, SANDBOX_NAME, TOKEN_AUDIENCE
from pytest_openshell.kube.recorder import EventRecorder, is_named
from pytest_openshell.kube.waits import condition as condition_of
from pytest_openshell.openshell.services import IMAGE, RPC_TIMEOUT_S
from pytest_openshell.results.model import Measurement
from pytest_openshell.suite import ConformanceTest
from pytest_openshell.suite.context import SuiteContext

PROFILE = "compute-driver"
T = RPC_TIMEOUT_S


def request(ctx: SuiteContext, name: str, sandbox_id: str | None = None) -> cpb.DriverSandbox:
    return cpb.DriverSandbox(id=sandbox_id or str(uuid.uuid4()), name=name, namespace=ctx.services.sandbox_namespace,
                             spec=cpb.DriverSandboxSpec(template=cpb.DriverSandboxTemplate(image=IMAGE)))


def condition(sandbox: cpb.DriverSandbox, ctype: str) -> str | None:
    return next((c.status for c in sandbox.status.conditions if c.type == ctype), None)


def capabilities(ctx: SuiteContext) -> None:
    caps = ctx.services.capabilities()
    assert caps.driver_name, "GetCapabilities names no driver"
    ctx.note(f"driver {caps.driver_name} {caps.driver_version}: sandbox authentication="
             f"{caps.supports_sandbox_authentication}, reports runtime readiness={caps.driver_reports_runtime_readiness}")
    ctx.services.driver().GetGatewayListenerRequirements(cpb.GetGatewayListenerRequirementsRequest(), timeout=T)


def validate(ctx: SuiteContext) -> None:
    drv = ctx.services.driver()
    drv.ValidateSandboxCreate(cpb.ValidateSandboxCreateRequest(sandbox=request(ctx, "fine")), timeout=T)
    forged = request(ctx, "forged")
    forged.spec.template.labels[SANDBOX_ID] = "not-yours"
    for bad, why in ((request(ctx, "Not_A_DNS_Name!"), "invalid name"), (forged, "reserved label"), (request(ctx, "noid", " "), "no id")):
        if why == "no id":
            bad.id = ""
        with pytest.raises(grpc.RpcError) as err:
            drv.ValidateSandboxCreate(cpb.ValidateSandboxCreateRequest(sandbox=bad), timeout=T)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, f"{why}: {err.value.code()}"  # type: ignore[attr-defined]


HOLD_READY = "pytest-openshell.io/hold-ready"  # the simulated node keeps such a pod un-ready (clusters/kwok/stages.yaml)


def _no_early_ready(ctx: SuiteContext, stream: WatchStream, sandbox: cpb.DriverSandbox, boxes: EventRecorder) -> None:
    """With the pod held un-ready, the Sandbox cannot be Ready: a Ready from the driver now is early.

    Once the controller has made the pod and written the Sandbox's (not Ready) status, the driver has
    long seen the object appear; whatever it reported by then is in our stream.
    """
    name = sandbox.name
    with ctx.step("hold the pod un-ready; the driver must not report Ready"):
        pod = wait_pod(ctx, name, predicate=lambda p: True)
        if HOLD_READY not in (pod["metadata"].get("labels") or {}):
            ctx.note("the driver does not put the request's labels on the pod, so it cannot be held un-ready: "
                     "Ready is checked against the Sandbox only after the driver reports it")
            return
        boxes.wait_for(is_named(name, lambda o: (cond := condition_of(o, "Ready")) is not None and cond.get("status") != "True"),
                       timeout=T, what=f"Sandbox {name} status written, not Ready", diagnose=ctx.diagnose)
        early = [e for e in stream.received(sandbox.id) if condition(e, "Ready") == "True"]
        if early:
            now_pod = ctx.core.read_namespaced_pod(name, pod["metadata"]["namespace"])
            phase = now_pod.status.phase if now_pod.status else None
            labels = now_pod.metadata.labels if now_pod.metadata else None
            raise AssertionError(f"the driver reported Ready while the Sandbox's pod was not ready: {early[0].status}\n"
                                 f"pod phase {phase}, labels {labels}\n"
                                 + ctx.diagnose())
    with ctx.step("release the pod"):
        ctx.core.patch_namespaced_pod(name, pod["metadata"]["namespace"], {"metadata": {"labels": {HOLD_READY: None}}})


def create_and_ready(ctx: SuiteContext) -> None:
    drv, name = ctx.services.driver(), new_name("life")
    sandbox = request(ctx, name)
    held = ctx.cluster.node_mode == "simulated"  # a real kubelet ignores the label: its container start is the wait
    if held:
        sandbox.spec.template.labels[HOLD_READY] = "true"
    boxes = ctx.recorder("Sandbox")
    with WatchStream(drv) as stream:
        drv.CreateSandbox(cpb.CreateSandboxRequest(sandbox=sandbox), timeout=T)
        obj = boxes.wait_for(is_named(name), timeout=T, what=f"Sandbox {name}", diagnose=ctx.diagnose).obj
        labels = obj["metadata"].get("labels") or {}
        assert labels.get(SANDBOX_ID) == sandbox.id and labels.get(SANDBOX_NAME) == name
        assert labels.get(MANAGED_BY) == "openshell" and labels.get(GATEWAY_ID)
        assert obj["apiVersion"].endswith(ctx.agent_sandbox.preferred()), "the driver must prefer v1beta1 where it is served"
        template = obj["spec"]["podTemplate"]
        assert template["metadata"]["annotations"][POD_SANDBOX_ID] == sandbox.id
        assert template["spec"].get("automountServiceAccountToken") is False
        audiences = [s["serviceAccountToken"].get("audience") for v in template["spec"].get("volumes", [])
                     for s in (v.get("projected") or {}).get("sources", []) if "serviceAccountToken" in s]
        assert audiences == [TOKEN_AUDIENCE], audiences
        if held:
            _no_early_ready(ctx, stream, sandbox, boxes)
        with ctx.step("wait for the driver to report Ready"):
            while True:
                event = stream.next("sandbox", sandbox.id, ctx.config.timeout("sandbox_ready")).sandbox.sandbox
                if condition(event, "Ready") == "True":
                    break
        # Ready from the driver means the platform is healthy now, not soon.
        now_box = ctx.sandboxes.get("Sandbox", ctx.namespace, name)
        assert ready(now_box), f"driver reported Ready before the Sandbox was Ready: {(now_box.get('status') or {}).get('conditions')}"
        pod = wait_pod(ctx, name)
        assert pod["metadata"]["annotations"][POD_SANDBOX_ID] == sandbox.id
    got = drv.GetSandbox(cpb.GetSandboxRequest(sandbox_id=sandbox.id, sandbox_name=name), timeout=T).sandbox
    assert (got.id, got.name) == (sandbox.id, name)
    assert sandbox.id in {s.id for s in drv.ListSandboxes(cpb.ListSandboxesRequest(), timeout=T).sandboxes}


def stop_start(ctx: SuiteContext) -> None:
    drv, name = ctx.services.driver(), new_name("pause")
    sandbox = request(ctx, name)
    drv.CreateSandbox(cpb.CreateSandboxRequest(sandbox=sandbox), timeout=T)
    pod = wait_pod(ctx, name)
    ids = {"sandbox_id": sandbox.id, "sandbox_name": name}
    mark = ctx.pods.mark()
    for _ in range(2):  # idempotent: stopping a stopped sandbox is not an error
        drv.StopSandbox(cpb.StopSandboxRequest(**ids), timeout=T)
    ctx.pods.wait_for(is_named(name, deleted=True), since=mark, timeout=ctx.config.timeout("suspend"), what="pod gone after Stop",
                      diagnose=ctx.diagnose)
    spec = ctx.sandboxes.get("Sandbox", ctx.namespace, name)["spec"]
    assert spec.get("operatingMode") == "Suspended" or spec.get("replicas") == 0, spec
    mark = ctx.pods.mark()
    for _ in range(2):
        drv.StartSandbox(cpb.StartSandboxRequest(**ids), timeout=T)
    wait_pod(ctx, name, since=mark, predicate=lambda p: p["metadata"]["uid"] != pod["metadata"]["uid"] and ready(p))


def delete(ctx: SuiteContext) -> None:
    drv, name = ctx.services.driver(), new_name("gone")
    sandbox = request(ctx, name)
    boxes = ctx.recorder("Sandbox")
    drv.CreateSandbox(cpb.CreateSandboxRequest(sandbox=sandbox), timeout=T)
    wait_pod(ctx, name)
    ids = {"sandbox_id": sandbox.id, "sandbox_name": name}
    with WatchStream(drv) as stream:
        assert drv.DeleteSandbox(cpb.DeleteSandboxRequest(**ids), timeout=T).deleted is True
        try:
            stream.next("deleted", sandbox.id, ctx.config.timeout("sandbox_ready"))
        except queue.Empty:
            raise AssertionError("WatchSandboxes sent no deleted event for a deleted sandbox") from None
    boxes.wait_for(is_named(name, deleted=True), timeout=T, what="Sandbox object deleted", diagnose=ctx.diagnose)
    assert drv.DeleteSandbox(cpb.DeleteSandboxRequest(**ids), timeout=T).deleted is False, "deleting an absent sandbox"


def delete_preconditions(ctx: SuiteContext) -> None:
    drv, name = ctx.services.driver(), new_name("swap")
    sandbox = request(ctx, name)
    boxes = ctx.recorder("Sandbox")
    drv.CreateSandbox(cpb.CreateSandboxRequest(sandbox=sandbox), timeout=T)
    original = boxes.wait_for(is_named(name), timeout=T, what=f"Sandbox {name}", diagnose=ctx.diagnose).obj
    # The object is replaced out of band by another sandbox's under the same name: the driver must
    # delete only what it created (identity checked, uid/resourceVersion preconditions), never this.
    ctx.sandboxes.delete("Sandbox", ctx.namespace, name)
    boxes.wait_for(is_named(name, deleted=True), timeout=T, what="original deleted", diagnose=ctx.diagnose)
    labels = {**(original["metadata"].get("labels") or {}), SANDBOX_ID: str(uuid.uuid4())}
    replacement = {"apiVersion": original["apiVersion"], "kind": "Sandbox", "spec": original["spec"],
                   "metadata": {"name": name, "labels": labels}}
    new_uid = ctx.sandboxes.create(ctx.namespace, replacement)["metadata"]["uid"]
    try:
        deleted = drv.DeleteSandbox(cpb.DeleteSandboxRequest(sandbox_id=sandbox.id, sandbox_name=name), timeout=T).deleted
    except grpc.RpcError:
        deleted = False  # refusing is fine; deleting the replacement is not
    still = ctx.sandboxes.get("Sandbox", ctx.namespace, name)
    assert still["metadata"]["uid"] == new_uid and not still["metadata"].get("deletionTimestamp"), \
        "DeleteSandbox removed another sandbox's object that merely took the name"
    assert deleted is False, "DeleteSandbox reported deleting a sandbox that no longer exists"


def watch(ctx: SuiteContext) -> None:
    drv, name = ctx.services.driver(), new_name("seen")
    sandbox = request(ctx, name)
    ids = {"sandbox_id": sandbox.id, "sandbox_name": name}
    with WatchStream(drv) as stream:
        drv.CreateSandbox(cpb.CreateSandboxRequest(sandbox=sandbox), timeout=T)
        stream.next("sandbox", sandbox.id, T)
        wait_pod(ctx, name)
        drv.StopSandbox(cpb.StopSandboxRequest(**ids), timeout=T)
        stream.next("sandbox", sandbox.id, T)  # an update for the stop
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
    wait_pod(ctx, name)


def warm_path(ctx: SuiteContext) -> None:
    openshell_pool(ctx, replicas=2)
    drv, name = ctx.services.driver(), new_name("warm")
    sandbox = request(ctx, name)
    claims = ctx.recorder("SandboxClaim")
    t0 = now()
    drv.CreateSandbox(cpb.CreateSandboxRequest(sandbox=sandbox), timeout=T)
    claim = claims.wait_for(is_named(name), timeout=T, what=f"a SandboxClaim {name} (the warm path)", diagnose=ctx.diagnose).obj
    assert claim["spec"]["additionalPodMetadata"]["annotations"][POD_SANDBOX_ID] == sandbox.id
    done = claims.wait_for(is_named(name, ready), timeout=ctx.config.timeout("claim_ready"), what="claim Ready", diagnose=ctx.diagnose)
    adopted = done.obj["status"]["sandbox"]["name"]
    assert adopted != name, "the claim was served cold although a matching warm pool was ready"
    budget = {"p95": ctx.config.budgets["warm_ready_p95_ms"]}
    m = ctx.measure(Measurement("driver_warm_ready_ms", [ms(t0, done.at)], budget=budget))
    assert m.verdict == "pass", f"warm bind through the driver took {m.stats['max']} ms (budget {budget['p95']} ms)"


TESTS = [
    ConformanceTest("DriverCapabilities", "GetCapabilities and listener requirements answer", PROFILE, ("DriverCore",), capabilities),
    ConformanceTest("DriverValidateRejectsBadSpec", "ValidateSandboxCreate refuses invalid names, reserved labels, no id", PROFILE,
                    ("DriverCore",), validate),
    ConformanceTest("DriverCreateReportsReady", "CreateSandbox makes a labelled Sandbox; Ready only when it is", PROFILE,
                    ("DriverCore",), create_and_ready),
    ConformanceTest("DriverStopStartIdempotent", "Stop and Start twice each; the pod goes and comes back", PROFILE,
                    ("DriverCore",), stop_start),
    ConformanceTest("DriverDelete", "DeleteSandbox deletes, reports deleted=false when absent, and is watched", PROFILE,
                    ("DriverCore", "DriverWatch"), delete),
    ConformanceTest("DriverDeletePreconditions", "DeleteSandbox never removes a replacement it did not observe", PROFILE,
                    ("DriverCore",), delete_preconditions),
    ConformanceTest("DriverWatchLifecycle", "WatchSandboxes reports create, update and delete", PROFILE,
                    ("DriverCore", "DriverWatch"), watch),
    ConformanceTest("DriverIgnoresUnknownFields", "requests carrying fields from a newer contract still work", PROFILE,
                    ("DriverCore",), unknown_fields),
    ConformanceTest("DriverWarmPath", "a request matching an opted-in pool becomes a claim that binds warm within budget", PROFILE,
                    ("DriverCore", "DriverWarmPath"), warm_path, latency=True, serial=True),
]
