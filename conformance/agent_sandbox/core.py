"""Profile agent-sandbox-core: a Sandbox, its Pod, and the Service a long-running agent relies on."""

from __future__ import annotations

from kubernetes import client as k8s

from conformance.agent_sandbox.checks import (
    assert_selects_sandbox,
    controller_of,
    ms,
    no_ready_endpoints,
    not_serving,
    now,
    pod_ready,
    ready,
    slice_of,
    uid,
    wait_serving_pod,
)
from conformance.agent_sandbox.dnsclient import DNSClient
from pytest_openshell.agentsandbox import name_hash
from pytest_openshell.agentsandbox.labels import NAME_HASH
from pytest_openshell.errors import WaitTimeout
from pytest_openshell.kube.recorder import is_named, wait_first
from pytest_openshell.kube.waits import condition, has_condition
from pytest_openshell.results.model import Measurement
from pytest_openshell.suite import ConformanceTest
from pytest_openshell.suite.context import SuiteContext

PROFILE = "agent-sandbox-core"
SERVICE_MANIFEST = "agent-sandbox/sandbox-service.yaml"
AGENT = "agent"  # the Sandbox (and Service) in SERVICE_MANIFEST
PORT = 8080  # where SERVICE_MANIFEST's container serves its pod UID


def sandbox_ready(ctx: SuiteContext) -> None:
    pods, boxes = ctx.recorder("Pod"), ctx.recorder("Sandbox")
    (box,) = ctx.apply("agent-sandbox/sandbox.yaml")
    name = box["metadata"]["name"]
    with ctx.step("wait for the pod to be Ready"):
        pod = pods.wait_for(is_named(name, pod_ready), timeout=ctx.config.timeout("sandbox_ready"),
                            what=f"pod {name} Ready", diagnose=ctx.diagnose).obj
    with ctx.step("assert pod identity and ownership"):
        assert pod["metadata"]["name"] == name
        assert controller_of(pod) == [("Sandbox", name, uid(box))]
        assert pod["metadata"]["labels"].get(NAME_HASH) == name_hash(name)
    with ctx.step("wait for the Sandbox to be Ready"):
        ready_box = boxes.wait_for(is_named(name, ready), timeout=ctx.config.timeout("sandbox_ready"),
                                   what=f"Sandbox {name} Ready", diagnose=ctx.diagnose).obj
    assert ready_box.get("status", {}).get("selector") == f"{NAME_HASH}={name_hash(name)}"


def headless_service(ctx: SuiteContext) -> None:
    pods, services, slices, boxes = (ctx.recorder(k) for k in ("Pod", "Service", "EndpointSlice", "Sandbox"))
    (box,) = ctx.apply(SERVICE_MANIFEST)
    with ctx.step("wait for the Service"):
        svc = services.wait_for(is_named(AGENT), timeout=ctx.config.timeout("endpoints"), what=f"Service {AGENT}",
                                diagnose=ctx.diagnose).obj
    with ctx.step("assert the Service selects the Sandbox"):
        assert_selects_sandbox(svc, AGENT)
        assert controller_of(svc) == [("Sandbox", AGENT, uid(box))]
    wait_serving_pod(ctx, pods, slices, AGENT, AGENT)
    ready_box = boxes.wait_for(is_named(AGENT, ready), timeout=ctx.config.timeout("sandbox_ready"), what=f"Sandbox {AGENT} Ready",
                               diagnose=ctx.diagnose).obj
    fqdn = ready_box.get("status", {}).get("serviceFQDN")
    assert fqdn and fqdn.startswith(f"{AGENT}.{ctx.namespace}.svc."), f"status.serviceFQDN is {fqdn!r}"
    ctx.note(f"service DNS name: {fqdn}")


def _service_identity(ctx: SuiteContext) -> tuple[str, dict]:
    svc = ctx.core.read_namespaced_service(AGENT, ctx.namespace)
    spec = ctx.api.sanitize_for_serialization(svc.spec)
    assert svc.metadata is not None
    return str(svc.metadata.uid), spec


def pod_recreate(ctx: SuiteContext, dns: bool = False) -> None:
    pods, slices = ctx.recorder("Pod"), ctx.recorder("EndpointSlice")
    ctx.apply(SERVICE_MANIFEST)
    pod, _ = wait_serving_pod(ctx, pods, slices, AGENT, AGENT)
    svc_before = _service_identity(ctx)
    client = DNSClient.start(ctx, _service_fqdn(ctx), PORT) if dns else None
    gaps, recreations, client_gaps = [], [], []
    for _ in range(3):
        old = uid(pod)
        mark_p, mark_s = pods.mark(), slices.mark()
        if client is not None:
            with ctx.step("the client reaches the pod through the Service's DNS name"):
                reached = client.wait_served_by(old, since=client.mark())
            assert reached.ip == pod["status"]["podIP"], f"the name led to {reached.ip}, the pod's IP is {pod['status']['podIP']}"
        with ctx.step("evict the pod"):
            t0 = now()
            ctx.core.create_namespaced_pod_eviction(AGENT, ctx.namespace, k8s.V1Eviction(
                metadata=k8s.V1ObjectMeta(name=AGENT, namespace=ctx.namespace)))
        with ctx.step("wait for a new pod behind the same Service"):
            pod, served = wait_serving_pod(ctx, pods, slices, AGENT, AGENT, since_pods=mark_p, since_slices=mark_s, not_uid=old)
            left = slices.find(slice_of(AGENT, not_serving(old)), since=mark_s)
        assert pod["metadata"]["name"] == AGENT and uid(pod) != old
        assert left is not None
        gaps.append(ms(left.at, served.at))
        recreations.append(ms(t0, served.at))
        if client is not None:
            with ctx.step("the client reaches the new pod through the same name"):
                client.wait_served_by(uid(pod), since=reached.seq)
            client_gaps.append(client.gap_ms(old, uid(pod), since=reached.seq))
        assert _service_identity(ctx) == svc_before, "the Service object changed across pod recreation"
    ctx.measure(Measurement("endpoint_gap_ms", gaps))
    ctx.measure(Measurement("pod_recreate_to_serving_ms", recreations))
    if client is not None:
        ctx.measure(Measurement("client_endpoint_gap_ms", client_gaps))


def pod_recreate_dns(ctx: SuiteContext) -> None:
    """pod_recreate, also seen from a client pod that goes through the Service's DNS name."""
    pod_recreate(ctx, dns=True)


def _service_fqdn(ctx: SuiteContext) -> str:
    box = ctx.recorder("Sandbox").wait_for(is_named(AGENT, lambda b: bool((b.get("status") or {}).get("serviceFQDN"))),
                                           timeout=ctx.config.timeout("sandbox_ready"), what=f"Sandbox {AGENT} status.serviceFQDN",
                                           diagnose=ctx.diagnose).obj
    return str(box["status"]["serviceFQDN"])


def pod_failure(ctx: SuiteContext) -> None:
    pods, slices, boxes = ctx.recorder("Pod"), ctx.recorder("EndpointSlice"), ctx.recorder("Sandbox")
    ctx.apply(SERVICE_MANIFEST)
    pod, _ = wait_serving_pod(ctx, pods, slices, AGENT, AGENT)
    svc_before = _service_identity(ctx)
    failed_uid = uid(pod)
    mark_p, mark_s, mark_b = pods.mark(), slices.mark(), boxes.mark()
    with ctx.step("make the pod's container exit 1 (simulated node)"):
        t0 = now()
        ctx.core.patch_namespaced_pod(AGENT, ctx.namespace, {"metadata": {"annotations": {"pytest-openshell.io/fail": "true"}}})
        pods.wait_for(is_named(AGENT, lambda p: p.get("status", {}).get("phase") == "Failed"), since=mark_p,
                      timeout=ctx.config.timeout("pod_recreate"), what="pod phase Failed", diagnose=ctx.diagnose)
        left = slices.wait_for(slice_of(AGENT, not_serving(failed_uid)), since=mark_s, timeout=ctx.config.timeout("endpoints"),
                               what="the failed pod to leave the ready endpoints", diagnose=ctx.diagnose)
    replacement = is_named(AGENT, lambda p: uid(p) != failed_uid)
    with ctx.step("wait for a replacement pod, or the Sandbox's Finished verdict"):
        first, ev = wait_first([(pods, replacement, mark_p), (boxes, is_named(AGENT, has_condition("Finished")), mark_b)],
                               timeout=ctx.config.timeout("pod_recreate"), what=f"a replacement for pod {AGENT} or Sandbox Finished",
                               diagnose=ctx.diagnose)
    if first == 1:
        # Finished is terminal in the API; a controller that replaces the pod has no business setting it.
        # The grace window only covers a controller that writes the verdict and then recreates anyway.
        grace = ctx.config.timeout("finished_grace")
        reason = (condition(ev.obj, "Finished") or {}).get("reason")
        with ctx.step(f"Sandbox Finished ({reason}); allow {grace:g}s for a replacement pod"):
            try:
                pods.wait_for(replacement, since=mark_p, timeout=grace, what="a replacement pod", diagnose=ctx.diagnose)
            except WaitTimeout as exc:
                raise AssertionError(f"the Sandbox reported Finished=True (reason {reason}) for the failed pod and no "
                                     f"replacement pod appeared within {grace:g}s: the Service has no ready endpoint\n"
                                     f"{exc.diagnostic}") from None
    with ctx.step("wait for a serving pod again"):
        _, served = wait_serving_pod(ctx, pods, slices, AGENT, AGENT, since_pods=mark_p, since_slices=mark_s, not_uid=failed_uid)
    assert _service_identity(ctx) == svc_before
    ctx.measure(Measurement("failure_endpoint_gap_ms", [ms(left.at, served.at)]))
    ctx.measure(Measurement("failure_to_serving_ms", [ms(t0, served.at)]))


def suspend_resume(ctx: SuiteContext) -> None:
    pods, slices = ctx.recorder("Pod"), ctx.recorder("EndpointSlice")
    ctx.apply(SERVICE_MANIFEST)
    pod, _ = wait_serving_pod(ctx, pods, slices, AGENT, AGENT)
    svc_before = _service_identity(ctx)
    mark_p, mark_s = pods.mark(), slices.mark()
    with ctx.step("suspend"):
        t0 = now()
        ctx.sandboxes.suspend(ctx.namespace, AGENT)
        pods.wait_for(is_named(AGENT, deleted=True), since=mark_p, timeout=ctx.config.timeout("suspend"),
                      what="the pod to be deleted on suspend", diagnose=ctx.diagnose)
        emptied = slices.wait_for(slice_of(AGENT, no_ready_endpoints), since=mark_s, timeout=ctx.config.timeout("endpoints"),
                                  what="no ready endpoints while suspended", diagnose=ctx.diagnose)
    assert _service_identity(ctx) == svc_before, "the Service did not survive suspend"
    mark_p, mark_s = pods.mark(), slices.mark()
    with ctx.step("resume"):
        t1 = now()
        ctx.sandboxes.resume(ctx.namespace, AGENT)
        _resumed, served = wait_serving_pod(ctx, pods, slices, AGENT, AGENT, since_pods=mark_p, since_slices=mark_s, not_uid=uid(pod))
    assert _service_identity(ctx) == svc_before, "the Service did not survive resume"
    ctx.measure(Measurement("suspend_to_no_endpoints_ms", [ms(t0, emptied.at)]))
    ctx.measure(Measurement("resume_to_serving_ms", [ms(t1, served.at)]))


TESTS = [
    ConformanceTest("SandboxReady", "a Sandbox gets its own Pod and turns Ready", PROFILE, ("SandboxCore",), sandbox_ready),
    ConformanceTest("SandboxHeadlessService", "spec.service gives a headless Service selecting the Sandbox", PROFILE,
                    ("SandboxCore", "SandboxService"), headless_service),
    ConformanceTest("ServiceStableAcrossPodRecreation", "an evicted pod is replaced; the Service stays and follows it", PROFILE,
                    ("SandboxService", "SandboxPodRecreate"), pod_recreate, latency=True),
    ConformanceTest("ServiceDNSAcrossPodRecreation", "a client resolving the Service's DNS name reaches each recreated pod",
                    PROFILE, ("SandboxService", "SandboxPodRecreate", "SandboxServiceDNS"), pod_recreate_dns, latency=True),
    ConformanceTest("ServiceSurvivesPodFailure", "a failed pod is replaced by a serving one; the Service stays", PROFILE,
                    ("SandboxService", "SandboxPodFailureRecovery"), pod_failure, latency=True),
    ConformanceTest("ServiceAcrossSuspendResume", "suspend empties the Service's endpoints, resume refills them", PROFILE,
                    ("SandboxService", "SandboxSuspend"), suspend_resume, latency=True),
]
