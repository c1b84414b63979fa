"""The two non-control-plane components: kwok (the simulated node) and the agent-sandbox controller."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from pytest_openshell.embedded.layout import CLUSTER_DOMAIN, LOOPBACK, NODE_POD_CIDR, Layout
from pytest_openshell.embedded.pki import CertPair
from pytest_openshell.embedded.process import Component
from pytest_openshell.embedded.rest import RestClient
from pytest_openshell.resources import data_dir

NODE_NAME = "kwok-node-0"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"  # "fake" on nodes kwok simulates
NODE_SELECTOR = f"{KWOK_NODE_ANNOTATION}=fake"
Start = Callable[[str, list[str]], Component]


def simulated_node() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "type": "kwok"},
        },
        "spec": {"podCIDR": NODE_POD_CIDR, "podCIDRs": [NODE_POD_CIDR]},
        "status": {
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "500"},
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "500"},
        },
    }


def start_kwok(start: Start, binary: Path, lay: Layout, api: RestClient) -> Component:
    api.create("/api/v1/nodes", simulated_node())
    stages = data_dir("clusters") / "kwok" / "stages.yaml"
    argv = [
        str(binary),
        f"--kubeconfig={lay.kubeconfig('kwok')}",
        f"--manage-nodes-with-annotation-selector={NODE_SELECTOR}",
        f"--node-ip={LOOPBACK}",
        "--server-address=",
        "--node-lease-duration-seconds=0",
    ]
    if stages.exists():
        argv.append(f"--config={stages}")
    return start("kwok", argv)


def node_ready(api: RestClient) -> bool:
    node = api.get(f"/api/v1/nodes/{NODE_NAME}") or {}
    conds = (node.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def start_controller(start: Start, binary: Path, lay: Layout, lane: str, webhook: bool, cert: CertPair) -> Component:
    argv = [
        str(binary),
        f"--kubeconfig={lay.kubeconfig('agent-sandbox-controller')}",
        "--extensions",
        "--leader-elect=false",
        f"--metrics-bind-address={LOOPBACK}:{lay.ports.controller_metrics}",
        f"--health-probe-bind-address={LOOPBACK}:{lay.ports.controller_health}",
        f"--cluster-domain={CLUSTER_DOMAIN}",
    ]
    if webhook:
        # Our own cert (IP SAN 127.0.0.1); managed certs would re-point the CRDs at a Service.
        cert_dir = lay.root / "webhook-certs"
        cert_dir.mkdir(exist_ok=True)
        shutil.copy2(cert.cert, cert_dir / "tls.crt")
        shutil.copy2(cert.key, cert_dir / "tls.key")
        argv += [
            "--enable-webhook=true",
            "--manage-webhook-certs=false",
            f"--webhook-port={lay.ports.controller_webhook}",
            f"--webhook-cert-dir={cert_dir}",
        ]
    return start("agent-sandbox-controller", argv)
