"""Two non-control-plane components: kwok (the simulated node) and the agent-sandbox controller."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_openshell.embedded.config import KWOK_NODE_ANNOTATION, EmbeddedConfig, render_stages, simulated_node
from pytest_openshell.embedded.layout import CLUSTER_DOMAIN, LOOPBACK, NODE_POD_CIDR, Layout
from pytest_openshell.embedded.pki import CertPair
from pytest_openshell.embedded.process import Component
from pytest_openshell.embedded.rest import RestClient
from pytest_openshell.resources import data_dir

NODE_SELECTOR = f"{KWOK_NODE_ANNOTATION}=fake"
# Taints a node carries until the node-lifecycle controller has seen it Ready and renewing its Lease.
STARTUP_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
Start = Callable[[str, list[str]], Component]
Create = Callable[[str, dict[str, Any]], None]  # POST, waiting out an apiserver still starting


def start_kwok(start: Start, binary: Path, lay: Layout, create: Create, cfg: EmbeddedConfig) -> Component:
    """Start kwok, then register the node it simulates (kwok picks it up from its watch)."""
    stages = lay.root / "kwok-stages.yaml"
    stages.write_text(render_stages(data_dir("clusters") / "kwok" / "stages.yaml", cfg))
    argv = [
        str(binary),
        f"--kubeconfig={lay.kubeconfig('kwok')}",
        f"--manage-nodes-with-annotation-selector={NODE_SELECTOR}",
        f"--node-ip={LOOPBACK}",
        "--server-address=",
        f"--node-lease-duration-seconds={int(cfg.node['lease_duration_seconds'])}",
        f"--config={stages}",
    ]
    kwok = start("kwok", argv)
    create("/api/v1/nodes", simulated_node(cfg, NODE_POD_CIDR, LOOPBACK))
    return kwok


def node_ready(api: RestClient, cfg: EmbeddedConfig) -> bool:
    return node_is_ready(api.get(f"/api/v1/nodes/{cfg.node_name}") or {})


def node_is_ready(node: dict[str, Any]) -> bool:
    """Ready, and schedulable: the lifecycle controller has lifted the startup taints."""
    conds = (node.get("status") or {}).get("conditions") or []
    taints = (node.get("spec") or {}).get("taints") or []
    return (any(c["type"] == "Ready" and c["status"] == "True" for c in conds)
            and not any(t.get("key") in STARTUP_TAINTS for t in taints))


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
