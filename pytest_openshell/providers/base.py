"""The one interface every cluster provider implements, and what a provider hands back."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pytest_openshell.agentsandbox.installed import AgentSandbox
from pytest_openshell.progress import Progress

__all__ = ["AgentSandbox", "Cluster", "ClusterProvider", "Progress", "ProviderSettings", "Upgrade", "docker_cluster_name"]


@dataclass(frozen=True)
class ProviderSettings:
    """Everything a provider may need from the command line / ini, already parsed."""

    kubeconfig: Path | None = None
    context: str | None = None
    keep_cluster: bool = False
    cluster_name: str = "pytest-openshell"
    agent_sandbox_version: str | None = None
    binaries: dict[str, str] = field(default_factory=dict)
    apiserver_port: int | None = None
    run_id: str | None = None  # shared by all pytest-xdist workers of one run
    kind_node_image: str | None = None  # None: build the offline node image (pytest_openshell.kindimage)
    k3s_image: str | None = None
    # Boot this older lane, and let the suite upgrade it in place to agent_sandbox_version (embedded only).
    agent_sandbox_upgrade_from: str | None = None


@dataclass(frozen=True)
class Upgrade:
    """An in-place upgrade the suite may run once: the cluster came up at ``from_lane``.

    ``run(crd_mode)`` upgrades CRDs and controller to the run's lane and returns what the provider
    observed (timings, the CRDs' UIDs before and after, the migration's summaries); ``crd_mode`` is
    ``apply`` (in place) or ``delete-create`` (lossy, for the harness's own negative test).
    """

    from_lane: AgentSandbox
    run: Callable[[str], dict[str, Any]]


@dataclass
class Cluster:
    provider: str
    kubeconfig: Path
    server: str
    server_version: str
    node_mode: str  # "simulated" (kwok) or "real" (kubelet)
    agent_sandbox: AgentSandbox | None = None
    logs: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    # Components of the cluster that died since it came up: (name, log file). Providers that
    # supervise processes fill it in, so a dead apiserver becomes a failed test, not a hang.
    dead_components: Callable[[], list[tuple[str, str]]] = lambda: []
    # Torn down when the run ends (booted for it and not kept): what a test leaves inside needs
    # deleting, not awaiting -- the cluster goes as a whole.
    disposable: bool = False
    upgrade: Upgrade | None = None


def docker_cluster_name(settings: ProviderSettings, lane_version: str) -> str:
    """The name of a kind/k3d cluster: the kept name per lane, else one unique to this run.

    These names become container and network names: short, lowercase, shared by xdist workers.
    """
    if settings.keep_cluster:
        return f"{settings.cluster_name}-{lane_version.replace('.', '-')}"
    return f"pso-{(settings.run_id or uuid.uuid4().hex)[:10].lower()}"


class ClusterProvider(ABC):
    name: ClassVar[str]

    def __init__(self, settings: ProviderSettings, progress: Progress) -> None:
        self.settings = settings
        self.progress = progress

    @abstractmethod
    def acquire(self) -> Cluster:
        """Boot or attach to the cluster, with agent-sandbox installed at the requested lane."""

    @abstractmethod
    def release(self) -> None:
        """Give the cluster back: tear it down unless kept or still used by another worker."""
