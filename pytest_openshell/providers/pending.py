"""kind and k3d: declared so option parsing and reports know them; not implemented yet."""

from __future__ import annotations

from pytest_openshell.errors import HarnessError
from pytest_openshell.providers.base import Cluster, ClusterProvider, Progress, ProviderSettings


class PendingProvider(ClusterProvider):
    name = "pending"

    def __init__(self, provider: str, settings: ProviderSettings, progress: Progress) -> None:
        super().__init__(settings, progress)
        self.provider = provider

    def acquire(self) -> Cluster:
        raise HarnessError(
            f"the {self.provider} cluster provider is not yet supported by this version of pytest-openshell",
            fix="use --openshell-cluster=embedded, or =existing with --kubeconfig",
        )

    def release(self) -> None:
        return None
