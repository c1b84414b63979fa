"""agent-sandbox CRDs, read from the pinned Go module rather than a release download."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from pytest_openshell.errors import HarnessError
from pytest_openshell.toolchain.modsource import module_dir
from pytest_openshell.toolchain.pins import Module

CRD_FILES = (
    "agents.x-k8s.io_sandboxes.yaml",
    "extensions.agents.x-k8s.io_sandboxtemplates.yaml",
    "extensions.agents.x-k8s.io_sandboxwarmpools.yaml",
    "extensions.agents.x-k8s.io_sandboxclaims.yaml",
)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def module_source_dir(module: Module) -> Path:
    """The module's source in the Go module cache, downloading it if needed (``go mod download``)."""
    return module_dir(f"{module.source}@{module.version}", module.dir)


def load_crds(source_dir: Path) -> list[dict[str, Any]]:
    crds = []
    for name in CRD_FILES:
        path = source_dir / "k8s" / "crds" / name
        if not path.exists():
            raise HarnessError(f"{path} is missing: this agent-sandbox version's layout is not supported")
        crds.append(yaml.load(path.read_text(), Loader=_Loader))
    return crds


def point_conversion_at(crds: list[dict[str, Any]], url: str, ca_pem: bytes) -> list[dict[str, Any]]:
    """Send conversion reviews to a host process instead of the in-cluster webhook Service."""
    bundle = base64.b64encode(ca_pem).decode()
    for crd in crds:
        conversion = crd.get("spec", {}).get("conversion") or {}
        if conversion.get("strategy") == "Webhook":
            conversion["webhook"]["clientConfig"] = {"url": url, "caBundle": bundle}
    return crds


def served_versions(crd: dict[str, Any]) -> list[str]:
    return [v["name"] for v in crd["spec"]["versions"] if v.get("served")]


def has_conversion_webhook(crds: list[dict[str, Any]]) -> bool:
    return any((c.get("spec", {}).get("conversion") or {}).get("strategy") == "Webhook" for c in crds)
