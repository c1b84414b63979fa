"""Boot one embedded cluster, step by step, inside the supervisor process.

Each step waits on a condition with a deadline and fails naming the component and its log.
Independent components start together: they only need the apiserver.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_openshell.embedded import addons, commands, crds, storage
from pytest_openshell.embedded.config import EmbeddedConfig, load_config
from pytest_openshell.embedded.layout import LOOPBACK, SERVICE_CIDR, Layout, write_kubeconfig
from pytest_openshell.embedded.pki import ClusterPKI
from pytest_openshell.embedded.process import Component
from pytest_openshell.embedded.rest import RestClient
from pytest_openshell.errors import ComponentError

Emit = Callable[[str], None]
STARTUP_TIMEOUT_S = 60.0


@dataclass
class BootSpec:
    binaries: dict[str, str]
    lane: str
    lane_api_versions: list[str]
    crd_source_dir: str
    apiserver_port: int | None = None
    # Control plane and the simulated node only (no storage, no agent-sandbox): the work kwokctl
    # does, for bench/boot_vs_kwokctl.py's like-for-like comparison. Not a conformance cluster.
    bare: bool = False


@dataclass
class Booted:
    components: list[Component] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> None:
        # The cluster's state goes with its run dir, so a graceful shutdown buys nothing and costs
        # ~1 s (the apiserver's): kill every component at once, as `kwokctl delete cluster` does.
        # What they logged is already in their log files.
        for comp in self.components:
            comp.kill()
        for comp in self.components:
            comp.reap()


def boot(spec: BootSpec, lay: Layout, emit: Emit, booted: Booted) -> None:
    """Fill ``booted`` as components come up, so a failure midway can still stop them."""
    t0 = time.monotonic()
    lay.make_dirs()
    cfg = load_config()
    gates = cfg.feature_gates_flag()
    pki = ClusterPKI(lay.pki)
    pki.serving(
        "apiserver",
        ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"],
        [LOOPBACK, _first_service_ip()],
    )
    webhook = pki.serving("webhook", ["localhost"], [LOOPBACK])
    clients = {
        "admin": pki.client("admin", "pytest-openshell-admin", "system:masters"),
        # One identity for all controllers (no per-controller SA credentials: faster boot),
        # so it needs the union of their rights.
        "controller-manager": pki.client("controller-manager", "system:kube-controller-manager", "system:masters"),
        "scheduler": pki.client("scheduler", "system:kube-scheduler"),
        # kwok and the agent-sandbox controller get cluster-admin, as their upstream installs grant.
        "kwok": pki.client("kwok", "pytest-openshell-kwok", "system:masters"),
        "agent-sandbox-controller": pki.client("agent-sandbox-controller", "agent-sandbox-controller", "system:masters"),
        # Upstream binds it to a ClusterRole over PVs, PVCs, nodes, pods (its helpers), events.
        "local-path-provisioner": pki.client("local-path-provisioner", "local-path-provisioner", "system:masters"),
    }
    for name, pair in clients.items():
        write_kubeconfig(lay.kubeconfig(name), lay.server, pki.ca, pair.cert, pair.key)
    admin = clients["admin"]
    api = RestClient(lay.server, pki.ca, admin.cert, admin.key, timeout=5.0)

    def start(name: str, argv: list[str]) -> Component:
        comp = Component(name, argv, lay.logs)
        comp.start()
        booted.components.append(comp)
        return comp

    b = spec.binaries
    etcd = start("etcd", commands.etcd(Path(b["etcd"]), lay))
    # The apiserver retries etcd until it answers, so both start at once (as kwokctl starts them).
    apiserver = start("kube-apiserver", commands.kube_apiserver(Path(b["kube-apiserver"]), lay, gates))
    etcd.wait_ready(lambda: http_ok(f"http://{LOOPBACK}:{lay.ports.etcd_client}/health"), STARTUP_TIMEOUT_S)
    emit(f"etcd up ({time.monotonic() - t0:.1f}s)")
    # Serving comes ~2 s before /readyz (post-start hooks: RBAC bootstrap, priority classes...).
    # Nothing below needs those: our identities are system:masters, and writes that meet the
    # apiserver still starting are waited out. So the scheduler and kwok start now (their own
    # start-up overlaps the hooks) and the node, storage objects and CRDs are written now.
    apiserver.wait_ready(api.serving, STARTUP_TIMEOUT_S, "serving")
    emit(f"kube-apiserver serving ({time.monotonic() - t0:.1f}s)")
    start("kube-scheduler", commands.kube_scheduler(Path(b["kube-scheduler"]), lay, gates))

    def create(path: str, body: dict[str, Any]) -> None:
        apiserver.wait_ready(lambda: api.try_create(path, body), STARTUP_TIMEOUT_S, f"accepting POST {path}")

    def start_kcm() -> Component:
        apiserver.wait_ready(api.healthy, STARTUP_TIMEOUT_S)
        emit(f"kube-apiserver ready ({time.monotonic() - t0:.1f}s)")
        # Not earlier: it polls /healthz once a second (up to 1 s late, 0.5 s on average) and
        # gives up after 10 s (the post-start hooks took longer at load 14 on 2 cores). Started
        # now, its first look finds the apiserver healthy.
        return start("kube-controller-manager", commands.kube_controller_manager(Path(b["kube-controller-manager"]), lay, gates))

    kwok = addons.start_kwok(start, Path(b["kwok"]), lay, create, cfg)
    if spec.bare:  # the same condition bench/boot_vs_kwokctl.py waits for on kwokctl's node
        kcm = start_kcm()
        kwok.wait_ready(lambda: _node_ready(api, cfg, kcm), STARTUP_TIMEOUT_S, "ready (simulated node not Ready, or still tainted)")
        emit(f"simulated node Ready ({time.monotonic() - t0:.1f}s)")
        _publish(booted, lay, t0, cfg, spec, [], None)
        return
    provisioner = storage.start_provisioner(start, Path(b["local-path-provisioner"]), lay, create, cfg)

    source = Path(spec.crd_source_dir)
    crd_objs = crds.load_crds(source)
    if crds.has_conversion_webhook(crd_objs):
        crds.point_conversion_at(crd_objs, f"https://{LOOPBACK}:{lay.ports.controller_webhook}/convert", pki.ca_pem)
    for crd in crd_objs:
        create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    kcm = start_kcm()
    names = [c["metadata"]["name"] for c in crd_objs]
    apiserver.wait_ready(lambda: all(crd_established(api, n) for n in names), STARTUP_TIMEOUT_S, "Established (CRDs)")
    emit(f"agent-sandbox {spec.lane} CRDs Established ({time.monotonic() - t0:.1f}s)")

    controller = addons.start_controller(
        start, Path(b["agent-sandbox-controller"]), lay, spec.lane, crds.has_conversion_webhook(crd_objs), webhook
    )
    kwok.wait_ready(lambda: _node_ready(api, cfg, kcm), STARTUP_TIMEOUT_S, "ready (simulated node not Ready, or still tainted)")
    kcm.wait_ready(lambda: _default_sa(api), STARTUP_TIMEOUT_S, "ready (default ServiceAccount not created)")
    provisioner.wait_ready(lambda: storage.default_class_present(api, cfg), STARTUP_TIMEOUT_S, "installed (default StorageClass)")
    controller.wait_ready(lambda: http_ok(f"http://{LOOPBACK}:{lay.ports.controller_health}/readyz"), STARTUP_TIMEOUT_S)
    if crds.has_conversion_webhook(crd_objs):
        controller.wait_ready(lambda: _tls_serving(lay.ports.controller_webhook, pki.ca), STARTUP_TIMEOUT_S,
                              "serving its conversion webhook")
    emit(f"agent-sandbox-controller {spec.lane} healthy ({time.monotonic() - t0:.1f}s)")
    _publish(booted, lay, t0, cfg, spec, crd_objs, f"http://{LOOPBACK}:{lay.ports.controller_metrics}/metrics")


def _publish(booted: Booted, lay: Layout, t0: float, cfg: EmbeddedConfig, spec: BootSpec,
             crd_objs: list[dict[str, Any]], controller_metrics: str | None) -> None:
    for comp in booted.components:
        comp.check_alive()  # one that died quietly (nothing waited on it) must fail the boot too
    booted.state.update(
        server=lay.server,
        kubeconfig=str(lay.kubeconfig("admin")),
        lane=spec.lane,
        api_versions=_served(crd_objs),
        controller_metrics=controller_metrics,
        logs={c.name: str(c.log_file) for c in booted.components},
        pids={c.name: c.pid for c in booted.components},
        boot_seconds=round(time.monotonic() - t0, 3),
        storage_class=None if spec.bare else cfg.storage["default_class"],
        feature_gates=cfg.feature_gates,
        bare=spec.bare,
    )


def _node_ready(api: RestClient, cfg: EmbeddedConfig, kcm: Component) -> bool:
    kcm.check_alive()  # it lifts the node's startup taints
    return addons.node_ready(api, cfg)


def _default_sa(api: RestClient) -> bool:
    return api.get("/api/v1/namespaces/default/serviceaccounts/default") is not None


def _first_service_ip() -> str:
    base = SERVICE_CIDR.split("/")[0].rsplit(".", 1)[0]
    return f"{base}.1"


def http_ok(url: str) -> bool:
    """GET ``url`` answers 200 (a component's health or readiness endpoint on loopback)."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def crd_established(api: RestClient, name: str) -> bool:
    """The CRD ``name`` exists and reports Established=True."""
    crd = api.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}") or {}
    conds = (crd.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conds)


def _tls_serving(port: int, ca: Path) -> bool:
    """The webhook is usable once a TLS handshake verified against our CA succeeds."""
    import socket
    import ssl

    ctx = ssl.create_default_context(cafile=str(ca))
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2) as raw, ctx.wrap_socket(raw, server_hostname=LOOPBACK):
            return True
    except OSError:
        return False


def _served(crd_objs: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {c["spec"]["names"]["kind"]: crds.served_versions(c) for c in crd_objs}


__all__ = ["BootSpec", "Booted", "ComponentError", "boot"]
