"""The embedded cluster is a real control plane: agent-sandbox works on it, on both lanes."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from pytest_openshell.agentsandbox import SandboxAPI, name_hash
from pytest_openshell.agentsandbox.labels import CLAIM_UID, NAME_HASH
from pytest_openshell.kube.waits import has_condition, named, watch_until
from pytest_openshell.providers import AgentSandbox, Cluster

pytestmark = pytest.mark.cluster
TIMEOUT = 30.0


def test_cluster_reports_real_versions(cluster: Cluster, agent_sandbox: AgentSandbox, lane: str) -> None:
    assert cluster.server_version == "v1.34.4"
    assert cluster.node_mode == "simulated"
    assert agent_sandbox.version == lane
    expected = ["v1alpha1"] if lane.startswith("v0.4") else ["v1beta1", "v1alpha1"]
    assert sorted(agent_sandbox.served("Sandbox")) == sorted(expected)
    assert sorted(agent_sandbox.served("SandboxClaim")) == sorted(expected)


def test_sandbox_gets_ready_pod(k8s_api: k8s.ApiClient, agent_sandbox: AgentSandbox, namespace: str) -> None:
    api = SandboxAPI(k8s_api, agent_sandbox)
    api.create(namespace, api.sandbox("box"))
    core = k8s.CoreV1Api(k8s_api)
    pod = watch_until(core.list_namespaced_pod, has_condition("Ready"), timeout=TIMEOUT, what="sandbox pod Ready",
                      namespace=namespace, **named("box")).obj
    assert pod["status"]["podIP"].startswith("10.244.")
    assert pod["metadata"]["labels"][NAME_HASH] == name_hash("box")
    owner = pod["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Sandbox", "box", True)
    watch_until(api.lister("Sandbox", namespace), has_condition("Ready"), timeout=TIMEOUT, what="Sandbox Ready", **named("box"))


def test_warm_pool_fills_and_claim_binds_warm(k8s_api: k8s.ApiClient, agent_sandbox: AgentSandbox, namespace: str) -> None:
    api = SandboxAPI(k8s_api, agent_sandbox)
    api.create(namespace, api.template("tpl"))
    api.create(namespace, api.warm_pool("pool", "tpl", 3))
    watch_until(api.lister("SandboxWarmPool", namespace), lambda o: o.get("status", {}).get("readyReplicas") == 3,
                timeout=TIMEOUT, what="warm pool readyReplicas=3", **named("pool"))
    claim = api.create(namespace, api.claim("c1", template="tpl", pool="pool"))
    bound = watch_until(api.lister("SandboxClaim", namespace), has_condition("Ready"), timeout=TIMEOUT,
                        what="claim Ready", **named("c1")).obj
    sandbox_name = bound["status"]["sandbox"]["name"]
    assert sandbox_name.startswith("pool-"), "a warm claim adopts a pool sandbox rather than creating its own"
    sandbox = api.get("Sandbox", namespace, sandbox_name)
    assert sandbox["metadata"]["labels"][CLAIM_UID] == claim["metadata"]["uid"]
    controller = [o for o in sandbox["metadata"]["ownerReferences"] if o.get("controller")]
    assert [(o["kind"], o["uid"]) for o in controller] == [("SandboxClaim", claim["metadata"]["uid"])]


def test_v1alpha1_is_served_through_conversion(k8s_api: k8s.ApiClient, agent_sandbox: AgentSandbox, namespace: str) -> None:
    if "v1beta1" not in agent_sandbox.served():
        pytest.skip("this lane has only v1alpha1: there is nothing to convert")
    beta = SandboxAPI(k8s_api, agent_sandbox, "v1beta1")
    alpha = SandboxAPI(k8s_api, agent_sandbox, "v1alpha1")
    beta.create(namespace, beta.sandbox("conv"))
    alpha.suspend(namespace, "conv")  # written as v1alpha1 replicas=0 ...
    stored = beta.get("Sandbox", namespace, "conv")
    assert stored["spec"]["operatingMode"] == "Suspended"  # ... read back as v1beta1
    assert alpha.get("Sandbox", namespace, "conv")["spec"]["replicas"] == 0


def test_token_request_and_review_round_trip(k8s_api: k8s.ApiClient, agent_sandbox: AgentSandbox, namespace: str) -> None:
    api = SandboxAPI(k8s_api, agent_sandbox)
    api.create(namespace, api.sandbox("tok"))
    core = k8s.CoreV1Api(k8s_api)
    pod = watch_until(core.list_namespaced_pod, has_condition("Ready"), timeout=TIMEOUT, what="pod Ready",
                      namespace=namespace, **named("tok")).obj
    request = k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(
        audiences=["openshell-gateway"], expiration_seconds=600,
        bound_object_ref=k8s.V1BoundObjectReference(kind="Pod", api_version="v1", name="tok", uid=pod["metadata"]["uid"])))
    token = core.create_namespaced_service_account_token("default", namespace, request).status.token
    review = k8s.AuthenticationV1Api(k8s_api).create_token_review(
        k8s.V1TokenReview(spec=k8s.V1TokenReviewSpec(token=token, audiences=["openshell-gateway"])))
    assert review.status.authenticated is True
    assert review.status.audiences == ["openshell-gateway"]
    assert review.status.user.username == f"system:serviceaccount:{namespace}:default"
    extra = review.status.user.extra
    assert extra["authentication.kubernetes.io/pod-name"] == ["tok"]
    assert extra["authentication.kubernetes.io/pod-uid"] == [pod["metadata"]["uid"]]
    wrong = k8s.AuthenticationV1Api(k8s_api).create_token_review(
        k8s.V1TokenReview(spec=k8s.V1TokenReviewSpec(token=token, audiences=["someone-else"])))
    assert wrong.status.authenticated is not True
