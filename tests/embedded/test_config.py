"""The embedded cluster's config is data: what it renders into flags, the Node object and kwok stages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pytest_openshell.embedded.config import allocatable, load_config, parse_quantity, render_stages, simulated_node
from pytest_openshell.errors import HarnessError
from pytest_openshell.resources import data_dir

STAGES = data_dir("clusters") / "kwok" / "stages.yaml"


def test_feature_gates_reach_the_flag() -> None:
    cfg = load_config()
    assert cfg.feature_gates["ImageVolume"] is True
    assert cfg.feature_gates_flag() == ["--feature-gates=ImageVolume=true"]


def test_node_advertises_ephemeral_storage_and_zero_hugepages() -> None:
    node = simulated_node(load_config(), "10.244.0.0/24", "127.0.0.1")
    for field in ("capacity", "allocatable"):
        res = node["status"][field]
        assert {"cpu", "memory", "pods", "ephemeral-storage"} <= set(res), field
        assert res["hugepages-1Gi"] == res["hugepages-2Mi"] == "0"
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.34.4"


def test_allocatable_is_capacity_minus_reserved_in_kubelet_units() -> None:
    got = allocatable({"cpu": "64", "memory": "256Gi", "pods": "500"}, {"cpu": "100m", "memory": "512Mi"})
    assert got == {"cpu": "63900m", "memory": f"{(256 * 1024 - 512) * 1024}Ki", "pods": "500"}
    with pytest.raises(HarnessError, match="exceeds"):
        allocatable({"cpu": "1"}, {"cpu": "2"})


def test_stages_render_with_snippets_and_the_configured_delay() -> None:
    cfg = load_config()
    stages = list(yaml.safe_load_all(render_stages(STAGES, cfg)))
    names = [s["metadata"]["name"] for s in stages]
    assert names == ["pod-start", "pod-ready", "pod-exit", "pod-crash", "pod-restart", "pod-fail", "pod-delete"]
    keys = [r["key"] for s in stages for r in s["spec"]["selector"]["matchExpressions"]]
    assert not [k for k in keys if "${" in k]
    delays = {s["metadata"]["name"]: s["spec"].get("delay", {}).get("durationMilliseconds") for s in stages}
    assert delays["pod-ready"] == delays["pod-exit"] == cfg.ready_after_ms > 0


def test_unknown_snippet_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "stages.yaml"
    bad.write_text(yaml.safe_dump({"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage", "metadata": {"name": "x"},
                                   "spec": {"selector": {"matchExpressions": [{"key": "${NOPE} .a", "operator": "Exists"}]}}}))
    with pytest.raises(HarnessError, match="x-jq"):
        render_stages(bad, load_config())


def test_broken_config_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "cluster.yaml"
    bad.write_text("kubernetes: {}\n")
    with pytest.raises(HarnessError, match=str(bad)):
        load_config(bad)


@pytest.mark.parametrize("text", ["64", "100m", "256Gi", "512Mi", "1Ti", "10Gi", "0", "1.5k", "2e3", "3E", "250u", "7Ki"])
def test_quantities_parse_as_the_kubernetes_client_parses_them(text: str) -> None:
    from kubernetes.utils.quantity import parse_quantity as upstream

    assert parse_quantity(text) == upstream(text)


@pytest.mark.parametrize("text", ["", "1x", "Gi", "1ki"])
def test_bad_quantities_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_the_supervisor_does_not_load_the_kubernetes_client() -> None:
    # Its imports are the embedded boot's critical path; the client costs seconds of them.
    import subprocess
    import sys

    code = "import sys, pytest_openshell.embedded.supervisor; print('kubernetes' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
