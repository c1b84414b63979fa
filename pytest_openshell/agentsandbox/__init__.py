"""agent-sandbox objects for both API lines (v1alpha1 on v0.4.x, v1beta1 on v0.5.x)."""

from pytest_openshell.agentsandbox.api import SandboxAPI
from pytest_openshell.agentsandbox.labels import name_hash

__all__ = ["SandboxAPI", "name_hash"]
