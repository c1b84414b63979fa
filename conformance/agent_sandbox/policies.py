"""Profile agent-sandbox-lifecycle, template policies: what a claim may add to its template's Sandbox
(volumes, env), and the NetworkPolicy a template manages for its pods."""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from conformance.agent_sandbox.checks import controller_of, ready, uid
from conformance.agent_sandbox.storage import mounting, require_default_storage, vct
from conformance.agent_sandbox.support import RUNNING_CONTAINER, pod_spec, reason_is, require_fields
from pytest_openshell.kube.recorder import EventRecorder, is_named
from pytest_openshell.suite import ConformanceTest
from pytest_openshell.suite.context import SuiteContext

PROFILE = "agent-sandbox-lifecycle"


# -- what a claim may add: template policies ----------------------------------------------------------
def _policy_template(ctx: SuiteContext, name: str, **policies: Any) -> None:
    body = ctx.sandboxes.template(name, mounting("workspace"))
    body["spec"].update(volumeClaimTemplates=[vct("workspace")], **policies)
    ctx.sandboxes.create(ctx.namespace, body)
    ctx.sandboxes.create(ctx.namespace, ctx.sandboxes.warm_pool(f"pool-{name}", name, 1))


def template_policies(ctx: SuiteContext) -> None:
    require_fields(ctx, "TemplatePolicies", {"SandboxTemplate": ["spec.volumeClaimTemplatesPolicy", "spec.envVarsInjectionPolicy"],
                                             "SandboxClaim": ["spec.volumeClaimTemplates", "spec.env"]})
    require_default_storage(ctx)
    claims, pools, sb = ctx.recorder("SandboxClaim"), ctx.recorder("SandboxWarmPool"), ctx.sandboxes
    _policy_template(ctx, "strict")  # both policies default: Disallowed
    _policy_template(ctx, "open", volumeClaimTemplatesPolicy="Allowed", envVarsInjectionPolicy="Allowed")
    for name in ("strict", "open"):
        pools.wait_for(is_named(f"pool-{name}", lambda o: (o.get("status") or {}).get("readyReplicas") == 1),
                       timeout=ctx.config.timeout("pool_ready"), what=f"pool pool-{name} ready", diagnose=ctx.diagnose)

    def claim(name: str, template: str, **spec: Any) -> None:
        body = sb.claim(name, template=template, pool=f"pool-{template}")
        body["spec"].update(spec)
        sb.create(ctx.namespace, body)

    with ctx.step("Disallowed: a claim adding a volume is refused (VolumeClaimTemplatesError); one adding nothing is served warm"):
        claim("no-vol", "strict", volumeClaimTemplates=[vct("extra")])
        claim("plain", "strict")
        claims.wait_for(is_named("no-vol", reason_is("Ready", "VolumeClaimTemplatesError", "False")), timeout=ctx.config.timeout("claim_ready"),
                        what="claim no-vol Ready=False reason VolumeClaimTemplatesError", diagnose=ctx.diagnose)
        plain = claims.wait_for(is_named("plain", ready), timeout=ctx.config.timeout("claim_ready"), what="claim plain Ready",
                                diagnose=ctx.diagnose).obj
        assert plain["status"]["sandbox"]["name"] != "plain", "a claim adding nothing was not served from the warm pool"
    with ctx.step("Allowed: a claim adding a volume and an env var goes cold, its Sandbox has both"):
        claim("with-vol", "open", volumeClaimTemplates=[vct("extra", "2Gi")], env=[{"name": "FROM_CLAIM", "value": "1"}])
        done = claims.wait_for(is_named("with-vol", ready), timeout=ctx.config.timeout("claim_ready"), what="claim with-vol Ready",
                               diagnose=ctx.diagnose).obj
        assert done["status"]["sandbox"]["name"] == "with-vol", "a claim with volumeClaimTemplates was served warm (it must go cold)"
        box = sb.get("Sandbox", ctx.namespace, "with-vol")
        names = [v["metadata"]["name"] for v in box["spec"].get("volumeClaimTemplates") or []]
        assert sorted(names) == ["extra", "workspace"], f"the cold Sandbox's volumeClaimTemplates: {names}"
        envs = {e["name"] for c in box["spec"]["podTemplate"]["spec"]["containers"] for e in c.get("env") or []}
        assert "FROM_CLAIM" in envs, f"the claim's env var was not injected: {envs}"
        extra = ctx.api.sanitize_for_serialization(ctx.core.read_namespaced_persistent_volume_claim("extra-with-vol", ctx.namespace))
        size = extra["spec"]["resources"]["requests"]["storage"]
        assert size == "2Gi", f"PVC extra-with-vol requests {size}"


# -- a managed NetworkPolicy ---------------------------------------------------------------------------
INGRESS = [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}]


def managed_network_policy(ctx: SuiteContext) -> None:
    require_fields(ctx, "TemplateNetworkPolicy", {"SandboxTemplate": ["spec.networkPolicy", "spec.networkPolicyManagement"]})
    net = k8s.NetworkingV1Api(ctx.api)
    policies = EventRecorder(lambda **kw: net.list_namespaced_network_policy(ctx.namespace, **kw), f"NetworkPolicy in {ctx.namespace}")
    ctx.defer(policies.stop)
    pools, sb = ctx.recorder("SandboxWarmPool"), ctx.sandboxes
    body = sb.template("np", pod_spec(RUNNING_CONTAINER))
    body["spec"].update(networkPolicyManagement="Managed", networkPolicy={"ingress": INGRESS, "egress": []})
    template = sb.create(ctx.namespace, body)
    sb.create(ctx.namespace, sb.warm_pool("pool-np", "np", 1))
    with ctx.step("a Managed template gets its NetworkPolicy, owned by it, with the template's rules"):
        policy = policies.wait_for(is_named("np-network-policy"), timeout=ctx.config.timeout("pool_ready"),
                                   what="NetworkPolicy np-network-policy", diagnose=ctx.diagnose).obj
        assert controller_of(policy) == [("SandboxTemplate", "np", uid(template))], f"its controller: {controller_of(policy)}"
        assert policy["spec"].get("ingress") == INGRESS, f"ingress {policy['spec'].get('ingress')} is not the template's"
        assert "Egress" in (policy["spec"].get("policyTypes") or []), "an empty egress list must deny egress (policyTypes Egress)"
    with ctx.step("the policy selects the template's pods"):
        pools.wait_for(is_named("pool-np", lambda o: (o.get("status") or {}).get("readyReplicas") == 1),
                       timeout=ctx.config.timeout("pool_ready"), what="pool pool-np ready", diagnose=ctx.diagnose)
        selector = (policy["spec"].get("podSelector") or {}).get("matchLabels") or {}
        assert selector, "the managed NetworkPolicy selects every pod of the namespace"
        pods = ctx.api.sanitize_for_serialization(ctx.core.list_namespaced_pod(ctx.namespace))["items"]
        selected = [p["metadata"]["name"] for p in pods if selector.items() <= (p["metadata"].get("labels") or {}).items()]
        assert len(selected) == 1 and selected[0].startswith("pool-np-"), f"pods selected by {selector}: {selected}"
    with ctx.step("turned Unmanaged, the template's NetworkPolicy is deleted"):
        sb.patch("SandboxTemplate", ctx.namespace, "np", {"spec": {"networkPolicyManagement": "Unmanaged"}})
        policies.wait_for(is_named("np-network-policy", deleted=True), timeout=ctx.config.timeout("pool_ready"),
                          what="NetworkPolicy np-network-policy deleted", diagnose=ctx.diagnose)


TESTS = [
    ConformanceTest("TemplatePolicies", "a template's volumeClaimTemplatesPolicy / envVarsInjectionPolicy decide what a claim may "
                    "add; a claim with volumes goes cold", PROFILE, ("SandboxStorage", "TemplatePolicies"), template_policies, serial=True),
    ConformanceTest("TemplateNetworkPolicy", "a Managed template owns a NetworkPolicy with its rules selecting its pods; Unmanaged "
                    "removes it", PROFILE, ("TemplateNetworkPolicy",), managed_network_policy),
]
