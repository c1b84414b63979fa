"""Profile agent-sandbox-lifecycle, storage: a Sandbox's volumeClaimTemplates.

Needs a default StorageClass that provisions dynamically (the embedded cluster has one); a cluster
without one reports SandboxStorage unsupported.
"""

from __future__ import annotations

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from conformance.agent_sandbox.checks import controller_of, ms, now, pod_ready, uid
from conformance.agent_sandbox.support import RUNNING_CONTAINER, pod_spec, require_fields
from pytest_openshell.agentsandbox import name_hash
from pytest_openshell.agentsandbox.labels import NAME_HASH
from pytest_openshell.kube.recorder import EventRecorder, is_named
from pytest_openshell.kube.waits import Obj
from pytest_openshell.results.model import Measurement
from pytest_openshell.suite import ConformanceTest
from pytest_openshell.suite.context import SuiteContext

PROFILE = "agent-sandbox-lifecycle"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


def vct(name: str, size: str = "1Gi") -> Obj:
    return {"metadata": {"name": name}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}}


def mounting(*volumes: str) -> Obj:
    return pod_spec(dict(RUNNING_CONTAINER, volumeMounts=[{"name": v, "mountPath": f"/{v}"} for v in volumes]))


def require_default_storage(ctx: SuiteContext) -> str:
    classes = ctx.api.sanitize_for_serialization(k8s.StorageV1Api(ctx.api).list_storage_class())["items"]
    default = [c["metadata"]["name"] for c in classes if (c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS) == "true"]
    if not default:
        ctx.unsupported(["SandboxStorage"], "the cluster has no default StorageClass to provision volumeClaimTemplates")
    return str(default[0])


def _pvcs(ctx: SuiteContext) -> EventRecorder:
    rec = EventRecorder(lambda **kw: ctx.core.list_namespaced_persistent_volume_claim(ctx.namespace, **kw),
                        f"PersistentVolumeClaim in {ctx.namespace}")
    ctx.defer(rec.stop)
    return rec


def _bound(pvc: Obj) -> bool:
    return (pvc.get("status") or {}).get("phase") == "Bound" and bool(pvc["spec"].get("volumeName"))


def sandbox_storage(ctx: SuiteContext) -> None:
    require_fields(ctx, "SandboxStorage", {"Sandbox": ["spec.volumeClaimTemplates"]})
    storage_class = require_default_storage(ctx)
    pvcs, pods, sb = _pvcs(ctx), ctx.pods, ctx.sandboxes
    body = sb.sandbox("vol", mounting("data"))
    body["spec"]["volumeClaimTemplates"] = [vct("data")]
    box = sb.create(ctx.namespace, body)
    with ctx.step(f"the Sandbox's PVC data-vol is created, owned by it, and bound (StorageClass {storage_class})"):
        pvc = pvcs.wait_for(is_named("data-vol", _bound), timeout=ctx.config.timeout("sandbox_ready"), what="PVC data-vol Bound",
                            diagnose=ctx.diagnose).obj
        assert controller_of(pvc) == [("Sandbox", "vol", uid(box))], f"PVC data-vol's controller: {controller_of(pvc)}"
        assert (pvc["metadata"].get("labels") or {}).get(NAME_HASH) == name_hash("vol"), "the PVC lacks the Sandbox's name-hash label"
        pod = pods.wait_for(is_named("vol", pod_ready), timeout=ctx.config.timeout("sandbox_ready"), what="pod vol Ready",
                            diagnose=ctx.diagnose).obj
        claims = {v["name"]: (v.get("persistentVolumeClaim") or {}).get("claimName") for v in pod["spec"].get("volumes") or []}
        assert claims.get("data") == "data-vol", f"the pod's volume data is {claims.get('data')!r}, not PVC data-vol"
    with ctx.step("the pod is deleted: its replacement mounts the same PVC, bound to the same volume"):
        mark_p, mark_v = pods.mark(), pvcs.mark()
        t0 = now()
        ctx.core.delete_namespaced_pod("vol", ctx.namespace)
        back = pods.wait_for(is_named("vol", lambda p: pod_ready(p) and uid(p) != uid(pod)), since=mark_p,
                             timeout=ctx.config.timeout("pod_recreate"), what="a new pod vol Ready", diagnose=ctx.diagnose)
        again = ctx.api.sanitize_for_serialization(ctx.core.read_namespaced_persistent_volume_claim("data-vol", ctx.namespace))
        assert uid(again) == uid(pvc) and again["spec"]["volumeName"] == pvc["spec"]["volumeName"] and _bound(again), \
            f"PVC data-vol changed across pod recreation: {pvc['spec'].get('volumeName')} -> {again['spec'].get('volumeName')}"
        unbound = [ev for ev in pvcs.history[mark_v:] if ev.name == "data-vol" and (ev.type == "DELETED" or not _bound(ev.obj))]
        assert not unbound, f"PVC data-vol was unbound or deleted while the pod was replaced: {[ev.type for ev in unbound]}"
    # Beside the Service's stability (ServiceStableAcrossPodRecreation): the volume stays bound throughout, the
    # workload is away only while the pod is replaced. Measured before the last check, so a lane failing it still reports.
    ctx.measure(Measurement("storage_pod_recreate_to_ready_ms", [ms(t0, back.at)]))
    with ctx.step("spec.volumeClaimTemplates is immutable after create"):
        try:
            sb.patch("Sandbox", ctx.namespace, "vol", {"spec": {"volumeClaimTemplates": [vct("data"), vct("more")]}})
        except ApiException as exc:
            assert exc.status == 422 and "immutable" in str(exc.body), f"refused, but not as immutable: {exc.status} {exc.body}"
        else:
            raise AssertionError("the API accepted a change of the Sandbox's volumeClaimTemplates (it must be immutable)")


TESTS = [
    ConformanceTest("SandboxStorage", "volumeClaimTemplates: a PVC per Sandbox, owned by it, immutable, bound to the same volume "
                    "across pod recreation", PROFILE, ("SandboxStorage",), sandbox_storage, latency=True),
]
