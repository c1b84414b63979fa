"""Loaded into an inner run with ``-p helm_probe``: checks that need the run's own cluster while it exists.

At the first conformance test (the gateway deployed, the cluster up): SubjectAccessReviews as the
gateway's service account, and a second release that cannot roll out (its image tag does not exist),
whose one-line error is recorded. When the ``helm_gateway`` fixture has been finalized (the cluster
still up): whether the release, its namespace and the port-forward are gone. Results go to
$HELM_PROBE_OUT as JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from pytest_openshell.errors import HarnessError
from pytest_openshell.openshell.helm import HelmGateway, HelmSettings

OUT = Path(os.environ["HELM_PROBE_OUT"])
NAMESPACE = "openshell"
USER = f"system:serviceaccount:{NAMESPACE}:openshell-gateway"
results: dict[str, Any] = {}
_api: list[k8s.ApiClient] = []


def _save() -> None:
    OUT.write_text(json.dumps(results, indent=1))


def _allowed(api: k8s.ApiClient, verb: str, resource: str, group: str = "", namespace: str | None = NAMESPACE) -> bool:
    spec = k8s.V1SubjectAccessReviewSpec(
        user=USER, groups=["system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}", "system:authenticated"],
        resource_attributes=k8s.V1ResourceAttributes(namespace=namespace, verb=verb, resource=resource, group=group))
    review = k8s.AuthorizationV1Api(api).create_subject_access_review(k8s.V1SubjectAccessReview(spec=spec))
    return bool(review.status is not None and review.status.allowed)


def _port_forwards(kubeconfig: str) -> list[int]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"port-forward" in argv and kubeconfig.encode() in argv:
            found.append(int(proc.name))
    return found


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    if "sar" in results or "conformance" not in getattr(item, "funcargs", {}):
        return
    funcargs = item.funcargs  # type: ignore[attr-defined]
    api, cluster = funcargs["k8s_api"], funcargs["cluster"]
    _api.append(api)
    results["kubeconfig"] = str(cluster.kubeconfig)
    results["port_forwards_during"] = _port_forwards(str(cluster.kubeconfig))
    pod = k8s.CoreV1Api(api).list_namespaced_pod(NAMESPACE, label_selector="app.kubernetes.io/instance=openshell").items
    results["gateway_pod_service_account"] = [p.spec.service_account_name for p in pod if p.spec is not None]
    results["sar"] = {
        "pods get": _allowed(api, "get", "pods"),
        "pods patch": _allowed(api, "patch", "pods"),
        "pods update": _allowed(api, "update", "pods"),
        "secrets get": _allowed(api, "get", "secrets"),
        "sandboxes get": _allowed(api, "get", "sandboxes", "agents.x-k8s.io"),
        "tokenreviews create": _allowed(api, "create", "tokenreviews", "authentication.k8s.io", None),
        "pods get in kube-system": _allowed(api, "get", "pods", namespace="kube-system"),
    }
    _save()
    broken = HelmSettings(release="broken", namespace="openshell-broken", sets=("image.tag=no-such-tag",),
                          rollout_timeout_s=float(os.environ.get("HELM_PROBE_ROLLOUT_S", "25")))
    try:
        HelmGateway(cluster, broken, lambda m: None).deploy()
        results["rollout_timeout_error"] = None
    except HarnessError as exc:
        results["rollout_timeout_error"] = str(exc)
    try:
        k8s.CoreV1Api(api).read_namespace("openshell-broken")
        results["broken_namespace_left"] = True
    except ApiException as exc:
        results["broken_namespace_left"] = exc.status != 404
    _save()


def pytest_fixture_post_finalizer(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> None:
    if fixturedef.argname != "helm_gateway" or not _api or "after_teardown" in results:
        return
    core = k8s.CoreV1Api(_api[0])
    try:
        core.read_namespace(NAMESPACE)
        namespace_gone = False
    except ApiException as exc:
        namespace_gone = exc.status == 404
    releases = core.list_secret_for_all_namespaces(label_selector="owner=helm").items
    results["after_teardown"] = {"namespace_gone": namespace_gone,
                                 "helm_release_secrets": [s.metadata.name for s in releases if s.metadata is not None],
                                 "port_forwards": _port_forwards(results["kubeconfig"])}
    _save()
