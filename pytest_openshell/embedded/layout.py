"""Where one embedded cluster keeps its state, which ports it listens on, and its kubeconfigs."""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass, field
from pathlib import Path

import yaml

LOOPBACK = "127.0.0.1"
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
NODE_POD_CIDR = "10.244.0.0/24"
CLUSTER_DOMAIN = "cluster.local"
SA_ISSUER = f"https://kubernetes.default.svc.{CLUSTER_DOMAIN}"


PORT_FLOOR = 10000


def _ephemeral_floor() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free loopback port below the ephemeral range.

    A port from bind(0) is ephemeral: between our probe and the component's bind, any outgoing
    connection on the machine (the apiserver's own, to etcd) may take it. Below the range only
    another listener can, which is rare enough that the boot treats it as a real conflict.
    """
    ceiling = _ephemeral_floor() - 1
    for _ in range(50):
        port = random.randint(PORT_FLOOR, ceiling) if ceiling > PORT_FLOOR else 0
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@dataclass
class Ports:
    etcd_client: int = field(default_factory=free_port)
    etcd_peer: int = field(default_factory=free_port)
    apiserver: int = field(default_factory=free_port)
    kwok: int = field(default_factory=free_port)
    controller_metrics: int = field(default_factory=free_port)
    controller_health: int = field(default_factory=free_port)
    controller_webhook: int = field(default_factory=free_port)


@dataclass
class Layout:
    root: Path
    ports: Ports

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def server(self) -> str:
        return f"https://{LOOPBACK}:{self.ports.apiserver}"

    def kubeconfig(self, name: str) -> Path:
        return self.root / f"{name}.kubeconfig"

    def make_dirs(self) -> None:
        for d in (self.logs, self.pki, self.etcd_data):
            d.mkdir(parents=True, exist_ok=True)


def write_kubeconfig(path: Path, server: str, ca: Path, cert: Path, key: Path, name: str = "pytest-openshell") -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": name, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path
