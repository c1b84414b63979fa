"""The installed agent-sandbox as the suites, the reference and every provider speak of it: the lane,
the API versions it serves, and the names of its CRDs. Below them all, so none reaches up for it."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_openshell.agentsandbox.labels import CORE_GROUP, EXT_GROUP

# kind -> CRD name, as every install (release manifests, Helm chart, our own) creates them
CRDS = {
    "Sandbox": f"sandboxes.{CORE_GROUP}",
    "SandboxTemplate": f"sandboxtemplates.{EXT_GROUP}",
    "SandboxWarmPool": f"sandboxwarmpools.{EXT_GROUP}",
    "SandboxClaim": f"sandboxclaims.{EXT_GROUP}",
}


@dataclass(frozen=True)
class AgentSandbox:
    """The installed agent-sandbox lane and what it serves."""

    version: str
    api_versions: dict[str, list[str]]  # kind -> served versions, storage version first
    controller_metrics: str | None = None
    controller_log: str | None = None

    def served(self, kind: str = "Sandbox") -> list[str]:
        return self.api_versions.get(kind, [])

    def preferred(self, kind: str = "Sandbox") -> str:
        """The version OpenShell would pick: v1beta1 when served, else v1alpha1."""
        served = self.served(kind)
        return "v1beta1" if "v1beta1" in served else served[0]
