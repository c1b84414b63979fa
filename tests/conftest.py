"""The project's own tests. Cluster tests run on the real embedded cluster, once per agent-sandbox lane."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from pytest_openshell.fixtures import provided_cluster
from pytest_openshell.options import provider_settings
from pytest_openshell.providers import Cluster
from pytest_openshell.toolchain import load_pins

LANES = sorted(load_pins().lanes)


@pytest.fixture(scope="session", params=LANES)
def lane(request: pytest.FixtureRequest) -> str:
    only = request.config.getoption("agent_sandbox_version")
    if only and only != request.param:
        pytest.skip(f"--agent-sandbox-version={only} limits the run to that lane")
    return str(request.param)


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest, lane: str) -> Iterator[Cluster]:
    """Overrides the plugin's cluster: the embedded provider, once per lane."""
    settings = replace(provider_settings(request.config), agent_sandbox_version=lane)
    with provided_cluster(request.config, "embedded", settings) as acquired:
        yield acquired
