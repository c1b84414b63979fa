"""The embedded cluster's settings (``clusters/embedded/cluster.yaml``) and what follows from them:
feature-gate flags, the simulated Node object, the kwok stages with the configured delays."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from pytest_openshell.errors import HarnessError
from pytest_openshell.resources import data_dir

KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"  # "fake" on nodes kwok simulates
READY_AFTER_ANNOTATION = "pytest-openshell.io/ready-after"  # per-pod override of pods.ready_after_ms


@dataclass(frozen=True)
class EmbeddedConfig:
    feature_gates: dict[str, bool]
    node: dict[str, Any]
    ready_after_ms: int
    storage: dict[str, str]

    def feature_gates_flag(self) -> list[str]:
        if not self.feature_gates:
            return []
        gates = ",".join(f"{k}={str(v).lower()}" for k, v in sorted(self.feature_gates.items()))
        return [f"--feature-gates={gates}"]

    @property
    def node_name(self) -> str:
        return str(self.node["name"])


def config_path() -> Path:
    return data_dir("clusters") / "embedded" / "cluster.yaml"


def load_config(path: Path | None = None) -> EmbeddedConfig:
    return _load(path or config_path())


@lru_cache(maxsize=4)
def _load(path: Path) -> EmbeddedConfig:
    try:
        raw = yaml.safe_load(path.read_text())
        gates = {str(k): bool(v) for k, v in (raw["kubernetes"].get("feature_gates") or {}).items()}
        ready = int(raw["pods"]["ready_after_ms"])
        if ready < 0:
            raise ValueError("pods.ready_after_ms must be >= 0")
        return EmbeddedConfig(feature_gates=gates, node=dict(raw["node"]), ready_after_ms=ready,
                              storage={str(k): str(v) for k, v in raw["storage"].items()})
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise HarnessError(f"the embedded cluster config {path} is invalid: {exc!r}",
                           fix="restore it from the pytest-openshell release (it is data shipped with the harness)") from exc


_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -3, "u": -2, "m": -1, "k": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}


def parse_quantity(quantity: str) -> Decimal:
    """A Kubernetes quantity ("100m", "256Gi", "1e3") as a number, as kubernetes.utils.quantity parses it.

    Not imported from there: that import loads the whole Kubernetes client (seconds of the
    supervisor's start-up, the embedded boot's critical path) for one small function.
    """
    text = str(quantity)
    number, factor = text, Decimal(1)
    if text[-2:] in _BINARY:
        number, factor = text[:-2], Decimal(1024) ** _BINARY[text[-2:]]
    elif text[-1:] in _DECIMAL:
        number, factor = text[:-1], Decimal(1000) ** _DECIMAL[text[-1:]]
    try:
        return Decimal(number) * factor
    except InvalidOperation as exc:
        raise ValueError(f"invalid quantity {quantity!r}") from exc


def allocatable(capacity: dict[str, str], reserved: dict[str, str]) -> dict[str, str]:
    """capacity minus what the system keeps, in the units a kubelet reports (cpu in millicores, bytes in Ki)."""
    out = {}
    for name, value in capacity.items():
        left = parse_quantity(value) - parse_quantity(reserved.get(name, "0"))
        if left < 0:
            raise HarnessError(f"node.reserved.{name} exceeds node.capacity.{name} in {config_path()}")
        out[name] = _format(name, left)
    return out


def _format(name: str, value: Decimal) -> str:
    if name == "cpu":
        return f"{int(value * 1000)}m" if value != value.to_integral_value() else str(int(value))
    if name in ("memory", "ephemeral-storage") and value % 1024 == 0:
        return f"{int(value / 1024)}Ki"
    return str(int(value))


def simulated_node(cfg: EmbeddedConfig, pod_cidr: str, node_ip: str) -> dict[str, Any]:
    """The Node a kubelet of the pinned version would register (kwok keeps the status it is given)."""
    n = cfg.node
    name = cfg.node_name
    capacity = {k: str(v) for k, v in n["capacity"].items()}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]},
        "status": {
            "capacity": capacity,
            "allocatable": allocatable(capacity, {k: str(v) for k, v in (n.get("reserved") or {}).items()}),
            "addresses": [{"type": "InternalIP", "address": node_ip}, {"type": "Hostname", "address": name}],
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": str(n["kubelet_version"]),
                "kubeProxyVersion": str(n["kubelet_version"]),
                "containerRuntimeVersion": str(n["container_runtime_version"]),
                "kernelVersion": "",
                "osImage": "pytest-openshell simulated node (kwok)",
                "bootID": "",
                "machineID": "",
                "systemUUID": "",
            },
        },
    }


def render_stages(source: Path, cfg: EmbeddedConfig) -> str:
    """The kwok stages as kwok reads them: the file's ``x-jq`` snippets substituted into the selector
    keys that name them (``${NAME}``), and the configured readiness delay on every stage that reads
    the ready-after annotation (the annotation still wins per pod)."""
    docs = [d for d in yaml.safe_load_all(source.read_text()) if d]
    snippets: dict[str, str] = {}
    for doc in docs:
        snippets.update({str(k): str(v) for k, v in (doc.get("x-jq") or {}).items()})
    stages = [d for d in docs if d.get("kind") == "Stage"]
    for stage in stages:
        for req in ((stage["spec"].get("selector") or {}).get("matchExpressions") or []):
            for name, text in snippets.items():
                req["key"] = req["key"].replace("${" + name + "}", text)
            if "${" in req["key"]:
                raise HarnessError(f"kwok stage {stage['metadata']['name']}: unknown snippet in selector key {req['key']!r}",
                                   fix=f"define it under x-jq in {source}")
        delay = stage["spec"].get("delay") or {}
        source_expr = delay.get("durationFrom") or {}
        if "expressionFrom" in source_expr:
            for name, text in snippets.items():
                source_expr["expressionFrom"] = source_expr["expressionFrom"].replace("${" + name + "}", text)
        expr = source_expr.get("expressionFrom") or ""
        if READY_AFTER_ANNOTATION in expr:
            delay["durationMilliseconds"] = cfg.ready_after_ms
    return yaml.safe_dump_all(stages, sort_keys=False)
