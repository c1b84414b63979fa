"""Cluster providers: one module each, looked up by name."""

from __future__ import annotations

from pytest_openshell.errors import HarnessError
from pytest_openshell.providers.base import AgentSandbox, Cluster, ClusterProvider, Progress, ProviderSettings, Upgrade

PROVIDERS = ("embedded", "kind", "k3d", "existing")


def get_provider(name: str, settings: ProviderSettings, progress: Progress) -> ClusterProvider:
    if name == "embedded":
        from pytest_openshell.providers.embedded import EmbeddedProvider

        return EmbeddedProvider(settings, progress)
    if name == "existing":
        from pytest_openshell.providers.existing import ExistingProvider

        return ExistingProvider(settings, progress)
    if name == "kind":
        from pytest_openshell.providers.kind import KindProvider

        return KindProvider(settings, progress)
    if name == "k3d":
        from pytest_openshell.providers.k3d import K3dProvider

        return K3dProvider(settings, progress)
    raise HarnessError(f"unknown cluster provider {name!r}", fix=f"use --openshell-cluster with one of: {', '.join(PROVIDERS)}")


__all__ = ["PROVIDERS", "AgentSandbox", "Cluster", "ClusterProvider", "ProviderSettings", "Upgrade", "get_provider"]
