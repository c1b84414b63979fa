"""The warm path: which requests may take a pre-warmed pod, and from which pool.

A warm pod was built from a shared SandboxTemplate before anyone asked for it, so only requests
that want exactly that pod qualify: same image, and nothing per-sandbox baked into the pod
(environment, log level, labels, platform settings, resources, policy). A request with its own
policy or environment always starts cold. Pools opt in with the label ``openshell.ai/warm-pool=true``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as pb
from pytest_openshell.contract.labels import WARM_POOL, WARM_POOL_VALUE
from pytest_openshell.reference.driver.config import DriverConfig
from pytest_openshell.reference.kube import AgentSandboxResources, Obj, meta


@dataclass(frozen=True)
class WarmPool:
    pool: str
    template: str


def warm_eligible(sandbox: pb.DriverSandbox) -> bool:
    spec = sandbox.spec
    template = spec.template
    return not (
        spec.HasField("policy") or spec.environment or spec.log_level or spec.command or spec.tty
        or spec.HasField("resource_requirements")
        or template.environment or template.labels or template.agent_socket_path
        or template.HasField("resources") or template.HasField("platform_config") or template.HasField("driver_config")
        or template.HasField("user_namespaces")
    )


def template_image(template: Obj) -> str | None:
    containers = (((template.get("spec") or {}).get("podTemplate") or {}).get("spec") or {}).get("containers") or []
    return str(containers[0].get("image")) if len(containers) == 1 else None


def find_pool(config: DriverConfig, resources: AgentSandboxResources, sandbox: pb.DriverSandbox) -> WarmPool | None:
    """The first opted-in pool (by name) whose template runs the requested image, if the request may go warm."""
    if resources.pool is None or resources.template is None or not warm_eligible(sandbox):
        return None
    image = sandbox.spec.template.image or config.default_image
    pools = resources.list(resources.pool, config.namespace, f"{WARM_POOL}={WARM_POOL_VALUE}")
    for pool in sorted(pools, key=lambda p: str(meta(p).get("name"))):
        template_name = str(((pool.get("spec") or {}).get("sandboxTemplateRef") or {}).get("name") or "")
        if not template_name:
            continue
        template = resources.get(resources.template, config.namespace, template_name)
        if template is not None and template_image(template) == image:
            return WarmPool(str(meta(pool)["name"]), template_name)
    return None
