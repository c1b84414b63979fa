"""k3d: k3s in docker, through the real k3d CLI.

Unlike kind, nothing here can be built offline: the k3d module is not served by the Go module
proxy (so k3d is taken from --openshell-binary k3d=PATH, $OPENSHELL_K3D_BINARY or PATH), and a k3s
image can be neither pulled nor built. So the provider checks, in order, docker, the k3s image and
the k3d CLI, and fails with one message naming the fix for the first one missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock

from pytest_openshell.errors import HarnessError
from pytest_openshell.kindimage.docker import image_exists, require_docker
from pytest_openshell.kindimage.workloads import CONTROLLER_METRICS_PATH, ensure_controller_image, ensure_sandbox_image, install_agent_sandbox
from pytest_openshell.kube.client import api_client, server_version
from pytest_openshell.providers.base import AgentSandbox, Cluster, ClusterProvider, docker_cluster_name
from pytest_openshell.providers.existing import ExistingProvider
from pytest_openshell.resources import data_dir
from pytest_openshell.rundirs import deregister, lock_path, register, runs_base
from pytest_openshell.toolchain import Resolver, load_pins

K3S_IMAGE_ENV = "OPENSHELL_K3S_IMAGE"
K3D_BINARY_ENV = "OPENSHELL_K3D_BINARY"


def config_path() -> Path:
    return data_dir("clusters") / "k3d" / "cluster.yaml"


class K3dProvider(ClusterProvider):
    name = "k3d"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._name: str | None = None
        self._k3d: str | None = None
        self._run_dir: Path | None = None

    def k3s_image(self) -> str:
        explicit = self.settings.k3s_image or os.environ.get(K3S_IMAGE_ENV)
        return explicit or str(yaml.safe_load(config_path().read_text())["image"])

    def check_image(self) -> str:
        image = self.k3s_image()
        if not image_exists(image):
            raise HarnessError(
                f"k3s image {image} is not in docker, and offline it can be neither pulled nor built",
                fix=f"`docker load -i` a saved copy of it (docker save {image} on a connected machine), "
                f"or pass --k3s-image / ${K3S_IMAGE_ENV} naming a k3s image docker already has",
            )
        return image

    def k3d_binary(self) -> str:
        explicit = self.settings.binaries.get("k3d") or os.environ.get(K3D_BINARY_ENV) or shutil.which("k3d")
        if not explicit or not os.access(explicit, os.X_OK):
            raise HarnessError(
                "no k3d CLI found (its Go module is not served by the module proxy, so it is not built here)",
                fix=f"install k3d v5 and put it on PATH, or pass --openshell-binary k3d=PATH / ${K3D_BINARY_ENV}",
            )
        return explicit

    def acquire(self) -> Cluster:
        require_docker()
        image = self.check_image()
        k3d = self._k3d = self.k3d_binary()
        pins = load_pins()
        lane = pins.lane(self.settings.agent_sandbox_version)
        resolver = Resolver(self.settings.binaries, progress=self.progress)
        name = docker_cluster_name(self.settings, lane.version)
        run_dir = runs_base() / f"k3d-{name}"
        run_dir.mkdir(parents=True, exist_ok=True)
        kubeconfig = run_dir / "kubeconfig"
        started = time.monotonic()
        self._name, self._run_dir = name, run_dir
        # xdist workers of one run share the cluster name: under the lock, one creates it, each
        # registers, and only the last to release deletes it (rundirs.py)
        lock = FileLock(lock_path(run_dir))
        lock.acquire()
        try:
            existing = subprocess.run([k3d, "cluster", "list", "-o", "json"], capture_output=True, text=True, timeout=60)
            created = name not in existing.stdout
            register(run_dir, shared_by_workers=False)
            if created:
                self.progress(f"creating k3d cluster {name} from {image}")
                self._k3d_run("cluster", "create", name, "--config", str(config_path()), "--image", image)
            self._k3d_run("kubeconfig", "write", name, "--output", str(kubeconfig))
            if created:
                images = [ensure_sandbox_image(self.progress), ensure_controller_image(lane, resolver, self.progress)]
                self._k3d_run("image", "import", "--cluster", name, *images)
                kubectl = str(resolver.resolve(pins.binary("kubectl")).path)
                install_agent_sandbox(kubectl, kubeconfig, lane, images[1], self.progress)
            api = api_client(kubeconfig)
            try:
                served = ExistingProvider._served(api)
                host = str(api.configuration.host)
            finally:
                api.close()
        except BaseException:
            lock.release()  # release() takes it again
            self.release()
            raise
        lock.release()
        return Cluster(
            provider=self.name, kubeconfig=kubeconfig, server=host, server_version=server_version(kubeconfig),
            node_mode="real", agent_sandbox=AgentSandbox(version=lane.version, api_versions=served,
                                                     controller_metrics=CONTROLLER_METRICS_PATH),
            details={"cluster_name": name, "boot_seconds": time.monotonic() - started, "kept": self.settings.keep_cluster},
            disposable=not self.settings.keep_cluster,
        )

    def _k3d_run(self, *args: str) -> None:
        assert self._k3d is not None
        out = subprocess.run([self._k3d, *args], capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise HarnessError(f"k3d {' '.join(args[:2])} failed: {(out.stderr or out.stdout).strip()[-500:]}")

    def release(self) -> None:
        name, k3d, run_dir = self._name, self._k3d, self._run_dir
        self._name = self._run_dir = None
        if name is None or k3d is None or run_dir is None:
            return
        with FileLock(lock_path(run_dir)):
            last = deregister(run_dir, os.getpid()) and not self.settings.keep_cluster
            if last:
                self.progress(f"deleting k3d cluster {name}")
                subprocess.run([k3d, "cluster", "delete", name], capture_output=True, timeout=300)
                shutil.rmtree(run_dir, ignore_errors=True)
        if last:
            Path(lock_path(run_dir)).unlink(missing_ok=True)
