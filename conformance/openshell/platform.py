"""Find the platform objects behind a sandbox from what the contract says, never from an assumed name.

A driver names its objects as it likes: upstream's Kubernetes driver uses ``{workspace}--{name}``
in its default (shared) workspace mode and bare names only in operator/managed mode. What the
contract does fix is the ``openshell.ai/sandbox-id`` label on the agents.x-k8s.io Sandbox (and,
for the reference's provisional warm path, on the SandboxClaim), and ``DriverSandboxStatus.sandbox_name``
where a driver fills it. The pod is then found the agent-sandbox way: named after its Sandbox
(or as the Sandbox's ``agents.x-k8s.io/pod-name`` annotation says).
"""

from __future__ import annotations

from typing import Any

from conformance.agent_sandbox.checks import pod_ready
from pytest_openshell.agentsandbox.labels import POD_NAME_ANNOTATION
from pytest_openshell.contract.labels import SANDBOX_ID
from pytest_openshell.kube.recorder import is_labelled, is_named
from pytest_openshell.kube.waits import Obj, as_dict
from pytest_openshell.suite.context import SuiteContext


def sandbox_of(ctx: SuiteContext, sandbox_id: str, *, timeout: float | None = None, **kw: Any) -> Obj:
    """The Sandbox labelled with ``sandbox_id`` (waits for it to appear; ``predicate`` narrows it)."""
    pred = kw.pop("predicate", None)
    return ctx.watched("Sandbox").wait_for(
        is_labelled(SANDBOX_ID, sandbox_id, pred), timeout=timeout or ctx.config.timeout("sandbox_ready"),
        what=f"a Sandbox labelled {SANDBOX_ID}={sandbox_id}", diagnose=ctx.diagnose).obj


def sandboxes_labelled(ctx: SuiteContext, sandbox_id: str) -> list[Obj]:
    """The Sandboxes carrying ``sandbox_id`` now (a list, not a wait: for checking what is left)."""
    listed = as_dict(ctx.sandboxes.lister("Sandbox", ctx.namespace)(label_selector=f"{SANDBOX_ID}={sandbox_id}"))
    return list(listed.get("items") or [])


def claim_of(ctx: SuiteContext, sandbox_id: str, *, timeout: float | None = None, **kw: Any) -> Obj:
    """The SandboxClaim labelled with ``sandbox_id`` (the provisional warm path)."""
    pred = kw.pop("predicate", None)
    return ctx.watched("SandboxClaim").wait_for(
        is_labelled(SANDBOX_ID, sandbox_id, pred), timeout=timeout or ctx.config.timeout("claim_ready"),
        what=f"a SandboxClaim labelled {SANDBOX_ID}={sandbox_id}", diagnose=ctx.diagnose).obj


def pod_name_of(sandbox: Obj) -> str:
    annotations = sandbox["metadata"].get("annotations") or {}
    return str(annotations.get(POD_NAME_ANNOTATION) or sandbox["metadata"]["name"])


def wait_pod(ctx: SuiteContext, name: str, since: int = 0, **kw: Any) -> Obj:
    """The pod ``name`` once ``predicate`` (default: Ready) holds."""
    pred = kw.pop("predicate", pod_ready)
    return ctx.pods.wait_for(is_named(name, pred), since=since, timeout=ctx.config.timeout("sandbox_ready"), what=f"pod {name} Ready",
                             diagnose=ctx.diagnose).obj


def pod_of(ctx: SuiteContext, sandbox_id: str, since: int = 0, **kw: Any) -> Obj:
    """The pod of the sandbox ``sandbox_id``: its Sandbox found by label, the pod by that Sandbox's name."""
    return wait_pod(ctx, pod_name_of(sandbox_of(ctx, sandbox_id)), since=since, **kw)


def reported_name_matches(reported: str, sandbox: Obj) -> bool:
    """``DriverSandboxStatus.sandbox_name``, where a driver fills it, must name the platform object."""
    return not reported or reported == sandbox["metadata"]["name"]
