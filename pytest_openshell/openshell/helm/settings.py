"""What ``--openshell-gateway=helm`` installs, and the checks made on it before any cluster boots."""

from __future__ import annotations

import errno
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from pytest_openshell.errors import HarnessError
from pytest_openshell.resources import data_dir

DEFAULT_RELEASE = "openshell"
DEFAULT_NAMESPACE = "openshell"
ROLLOUT_TIMEOUT_S = 180.0
# Upstream's chart names: Service `openshell` on 8080, the client's mTLS material in openshell-client-tls.
SERVICE = "openshell"
SERVICE_PORT = 8080
CLIENT_TLS_SECRET = "openshell-client-tls"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$")


def default_chart() -> Path:
    """The reference gateway's chart shipped with the harness (clusters/helm/openshell-reference)."""
    return data_dir("clusters") / "helm" / "openshell-reference"


@dataclass(frozen=True)
class HelmSettings:
    """``chart``: a directory, a ``.tgz`` or an ``oci://`` reference; ``sets`` are ``--set`` arguments;
    ``load_images`` are docker images preloaded into kind; ``local_port`` the port-forward's local
    port (None: any free one)."""

    chart: str | None = None
    values: tuple[str, ...] = ()
    sets: tuple[str, ...] = ()
    release: str = DEFAULT_RELEASE
    namespace: str = DEFAULT_NAMESPACE
    load_images: tuple[str, ...] = ()
    local_port: int | None = None
    rollout_timeout_s: float = ROLLOUT_TIMEOUT_S
    provider: str | None = None  # the cluster provider, when known before the boot

    @property
    def chart_ref(self) -> str:
        return self.chart or str(default_chart())

    @property
    def reference_chart(self) -> bool:
        """Our own chart: the harness builds and loads its image and sets image.tag itself."""
        return self.chart is None or Path(self.chart).resolve() == default_chart().resolve()

    def validate(self) -> None:
        """Fail on bad input before a cluster boots, one line each."""
        if self.provider == "embedded":
            raise HarnessError("--openshell-gateway=helm needs a cluster with real nodes; the embedded cluster's nodes are "
                               "simulated, so nothing would run the gateway's pod",
                               fix="add --openshell-cluster=kind (or existing)")
        for flag, name in (("--openshell-gateway-release", self.release), ("--openshell-gateway-namespace", self.namespace)):
            if not _DNS_LABEL.match(name):
                raise HarnessError(f"{flag} {name!r} is not a DNS label", fix="use lowercase letters, digits and '-' (at most 53)")
        self._check_chart()
        for path in self.values:
            if not Path(path).is_file():
                raise HarnessError(f"--openshell-gateway-values {path} is not a readable file")
        for item in self.sets:
            if "=" not in item or item.startswith("="):
                raise HarnessError(f"--openshell-gateway-set {item!r} is not KEY=VALUE", fix="e.g. --openshell-gateway-set image.tag=dev")
        if self.load_images:
            self._check_images()
        if self.local_port is not None:
            check_port_free(self.local_port)

    def _check_chart(self) -> None:
        ref = self.chart_ref
        if ref.startswith("oci://"):
            return  # resolved by helm at install; an unreachable registry fails there with helm's message
        path = Path(ref)
        if path.is_dir():
            if not (path / "Chart.yaml").is_file():
                raise HarnessError(f"--openshell-gateway-chart {ref} is a directory without Chart.yaml",
                                   fix="point it at the chart's directory (the one holding Chart.yaml), a .tgz or an oci:// reference")
            return
        if path.is_file() and path.name.endswith((".tgz", ".tar.gz")):
            return
        raise HarnessError(f"--openshell-gateway-chart {ref}: chart not found",
                           fix="give a chart directory, a packaged .tgz or an oci:// reference (default: the harness's reference chart)")

    def _check_images(self) -> None:
        from pytest_openshell.kindimage.docker import image_exists, require_docker

        require_docker()
        missing = [image for image in self.load_images if not image_exists(image)]
        if missing:
            raise HarnessError(f"--openshell-load-image: {', '.join(missing)} not in docker, and nothing can be pulled",
                               fix="docker load/import the image(s) first, or drop the flag")


def check_port_free(port: int) -> None:
    """The port-forward's local port must be free on 127.0.0.1 (it would die at once otherwise)."""
    if not 0 < port < 65536:
        raise HarnessError(f"--openshell-gateway-port {port} is not a TCP port")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise HarnessError(f"--openshell-gateway-port {port}: port in use on 127.0.0.1",
                               fix="free it, pick another port, or drop the flag to use any free port") from None
