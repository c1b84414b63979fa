"""Manifests the suites apply, from ``fixtures/``: written once, rendered per API line."""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

import yaml

from pytest_openshell.agentsandbox.api import GROUPS
from pytest_openshell.resources import data_dir


@lru_cache(maxsize=64)
def _load(name: str) -> tuple[dict[str, Any], ...]:
    path = data_dir("fixtures") / name
    return tuple(d for d in yaml.safe_load_all(path.read_text()) if d)


def render(name: str, version: str) -> list[dict[str, Any]]:
    """The documents of ``fixtures/<name>``; agent-sandbox kinds get the lane's apiVersion."""
    docs = [copy.deepcopy(d) for d in _load(name)]
    for doc in docs:
        if doc.get("kind") in GROUPS:
            doc["apiVersion"] = f"{GROUPS[doc['kind']]}/{version}"
    return docs
