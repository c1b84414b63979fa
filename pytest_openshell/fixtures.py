"""Layered fixtures: session (cluster, agent_sandbox, k8s clients) -> function (namespace).

Fixtures are thin: they ask a provider or a factory for the thing and hand back its cleanup.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from pytest_openshell.errors import HarnessError
from pytest_openshell.kube.client import api_client
from pytest_openshell.kube.namespaces import NamespaceFactory
from pytest_openshell.options import get, provider_settings
from pytest_openshell.progress import terminal_progress
from pytest_openshell.providers import AgentSandbox, Cluster, get_provider


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """The cluster under test, booted or attached once per session (shared by xdist workers)."""
    config = request.config
    try:
        provider = get_provider(get(config, "openshell_cluster"), provider_settings(config), terminal_progress(config))
        acquired = provider.acquire()
    except HarnessError as exc:
        pytest.exit(f"pytest-openshell: {exc}", returncode=3)
    config.stash[CLUSTER_KEY] = acquired
    try:
        yield acquired
    finally:
        provider.release()


@pytest.fixture(scope="session")
def agent_sandbox(cluster: Cluster) -> AgentSandbox:
    """The installed agent-sandbox lane: version and served API versions."""
    if cluster.agent_sandbox is None:
        pytest.exit(
            f"pytest-openshell: agent-sandbox is not installed on the {cluster.provider} cluster -- "
            "install its CRDs and controller, or use --openshell-cluster=embedded",
            returncode=3,
        )
    return cluster.agent_sandbox


@pytest.fixture(scope="session")
def k8s_api(cluster: Cluster) -> Iterator[k8s.ApiClient]:
    client = api_client(cluster.kubeconfig)
    yield client
    client.close()


@pytest.fixture(scope="session")
def namespace_factory(k8s_api: k8s.ApiClient) -> Iterator[NamespaceFactory]:
    factory = NamespaceFactory(k8s_api, run_label=uuid.uuid4().hex[:8])
    yield factory
    factory.await_deleted()


@pytest.fixture
def namespace(request: pytest.FixtureRequest, namespace_factory: NamespaceFactory) -> Iterator[str]:
    """A fresh namespace for one test; deleted afterwards (awaited once, at the end of the session)."""
    name = namespace_factory.create(request.node.name)
    yield name
    namespace_factory.delete(name)


CLUSTER_KEY = pytest.StashKey[Cluster]()
