"""Command lines of the embedded cluster's components, each a pure function of the layout.

Everything listens on 127.0.0.1 only. Flags that trade durability for speed (no fsync, no
priority-and-fairness) are safe because an embedded cluster lives for one run.
"""

from __future__ import annotations

from pathlib import Path

from pytest_openshell.embedded.layout import (
    CLUSTER_DOMAIN,
    LOOPBACK,
    POD_CIDR,
    SA_ISSUER,
    SERVICE_CIDR,
    Layout,
)


def etcd(binary: Path, lay: Layout) -> list[str]:
    client = f"http://{LOOPBACK}:{lay.ports.etcd_client}"
    peer = f"http://{LOOPBACK}:{lay.ports.etcd_peer}"
    return [
        str(binary),
        "--name=default",
        f"--data-dir={lay.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        "--unsafe-no-fsync=true",
        "--quota-backend-bytes=1073741824",
        "--log-level=warn",
    ]


def kube_apiserver(binary: Path, lay: Layout, gates: list[str] | None = None) -> list[str]:
    pki = lay.pki
    return [
        str(binary),
        f"--etcd-servers=http://{LOOPBACK}:{lay.ports.etcd_client}",
        f"--bind-address={LOOPBACK}",
        f"--advertise-address={LOOPBACK}",
        f"--secure-port={lay.ports.apiserver}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--service-account-issuer={SA_ISSUER}",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=RBAC",
        "--allow-privileged=true",
        # A loopback advertise address cannot be an Endpoints IP; nothing needs that Service.
        "--endpoint-reconciler-type=none",
        "--enable-priority-and-fairness=false",
        "--profiling=false",
        f"--cert-dir={pki}",
        "--v=1",
        *(gates or []),
    ]


def _control_loop(binary: Path, kubeconfig: Path, gates: list[str] | None) -> list[str]:
    """What controller-manager and scheduler share: one identity, no serving port, no election."""
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={LOOPBACK}",
        "--secure-port=0",
        "--leader-elect=false",
        "--v=1",
        *(gates or []),
    ]


def kube_controller_manager(binary: Path, lay: Layout, gates: list[str] | None = None) -> list[str]:
    return [
        *_control_loop(binary, lay.kubeconfig("controller-manager"), gates),
        f"--service-account-private-key-file={lay.pki / 'sa.key'}",
        f"--root-ca-file={lay.pki / 'ca.crt'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--cluster-cidr={POD_CIDR}",
        "--allocate-node-cidrs=false",
        "--use-service-account-credentials=false",
        # The node-lifecycle controller runs as on any cluster: the simulated node renews its Lease.
        # Off: node IPAM (the node registers with its podCIDR, as a kubelet given --pod-cidr does)
        # and the cloud-provider loops (there is no cloud, as on a bare-metal cluster).
        "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
    ]


def kube_scheduler(binary: Path, lay: Layout, gates: list[str] | None = None) -> list[str]:
    return _control_loop(binary, lay.kubeconfig("scheduler"), gates)


__all__ = ["CLUSTER_DOMAIN", "etcd", "kube_apiserver", "kube_controller_manager", "kube_scheduler"]
