"""kind: a real one-node Kubernetes (kubelet + containerd) in a docker container, fully offline.

The kind CLI comes from the pins; the node image is built locally (pytest_openshell.kindimage)
unless --kind-node-image names one. agent-sandbox is installed from the pinned module's own
manifests with a controller image made from the same binary the embedded provider runs.
All pytest-xdist workers of a run share one cluster; the last one out deletes it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from filelock import FileLock

from pytest_openshell.errors import HarnessError
from pytest_openshell.kindimage.docker import docker, docker_binary, image_exists, require_docker
from pytest_openshell.kindimage.node import ensure_node_image
from pytest_openshell.kindimage.workloads import CONTROLLER_METRICS_PATH, ensure_controller_image, ensure_sandbox_image, install_agent_sandbox
from pytest_openshell.kube.client import api_client, server_version
from pytest_openshell.providers import reaper
from pytest_openshell.providers.base import AgentSandbox, Cluster, ClusterProvider, docker_cluster_name
from pytest_openshell.providers.existing import ExistingProvider
from pytest_openshell.resources import data_dir
from pytest_openshell.rundirs import deregister, lock_path, register, runs_base
from pytest_openshell.toolchain import Resolver, load_pins
from pytest_openshell.toolchain.pins import Lane, Pins

REAPER_ENTRY = "pytest_openshell.providers.kind_reap"  # above this module: run by name, never imported here

NODE_IMAGE_ENV = "OPENSHELL_KIND_NODE_IMAGE"
CREATE_WAIT = "180s"
CLUSTER_LABEL = "io.x-k8s.kind.cluster"  # on every node container kind makes


def host_lacks_sys_resource() -> bool:
    """True on hosts (some VM sandboxes) where even root has no CAP_SYS_RESOURCE (bit 24)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return not (int(line.split()[1], 16) >> 24) & 1
    return False


def check_docker_can_run_nodes() -> None:
    """kind's nodes are --privileged containers: fail early, with the fix, where runc would refuse."""
    require_docker()
    if not host_lacks_sys_resource():
        return
    runtime = docker("info", "--format", "{{.DefaultRuntime}}").stdout.decode().strip()
    if runtime == "runc":
        shim = data_dir("clusters") / "kind" / "runc-drop-sys-resource"
        raise HarnessError(
            "this host's root lacks CAP_SYS_RESOURCE, so docker cannot start kind's --privileged node containers "
            "(runc: unable to apply caps)",
            fix=f"restart dockerd with `--add-runtime capfix={shim} --default-runtime capfix`",
        )


class KindProvider(ClusterProvider):
    name = "kind"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._name: str | None = None
        self._run_dir: Path | None = None
        self._kind_path: str | None = None
        self._reaper: subprocess.Popen[bytes] | None = None

    def adopt(self, name: str, run_dir: Path, kind: str) -> None:
        """Take over a cluster another process acquired (the reaper of a client that died)."""
        self._name, self._run_dir, self._kind_path = name, run_dir, kind

    def _kind(self) -> str:
        if self._kind_path is not None:
            return self._kind_path
        pins = load_pins()
        return str(Resolver(self.settings.binaries, progress=self.progress).resolve(pins.binary("kind")).path)

    def _kubectl(self) -> str:
        pins = load_pins()
        return str(Resolver(self.settings.binaries, progress=self.progress).resolve(pins.binary("kubectl")).path)

    # -- acquire ------------------------------------------------------------------------------
    def acquire(self) -> Cluster:
        check_docker_can_run_nodes()
        pins = load_pins()
        lane = pins.lane(self.settings.agent_sandbox_version)
        resolver = Resolver(self.settings.binaries, progress=self.progress)
        kind = self._kind()
        name = docker_cluster_name(self.settings, lane.version)
        # before any run dir or lock exists, so a missing image leaves nothing behind
        image = None if name in self._clusters(kind) else self._node_image(pins, resolver)
        run_dir = runs_base() / f"kind-{name}"
        run_dir.mkdir(parents=True, exist_ok=True)
        self._name, self._run_dir = name, run_dir
        kubeconfig = run_dir / "kubeconfig"
        with FileLock(lock_path(run_dir)):
            started = time.monotonic()
            if name in self._clusters(kind):
                subprocess.run([kind, "export", "kubeconfig", "--name", name, "--kubeconfig", str(kubeconfig)],
                               check=True, capture_output=True)
                self.progress(f"reusing kind cluster {name}")
                created = False
            else:
                self._create(kind, name, image or self._node_image(pins, resolver), kubeconfig, run_dir)
                created = True
            # each worker's reaper releases that worker; the controller holds no kind cluster
            register(run_dir, shared_by_workers=False)
            if not self.settings.keep_cluster:
                self._reaper = reaper.spawn(REAPER_ENTRY, os.getpid(), name, run_dir, kind)
            error: BaseException | None = None
            try:  # under the lock, so other workers of the run never see a half-installed cluster
                if created:
                    self._install(kind, name, lane, resolver, kubeconfig)
                cluster = self._cluster(lane, kubeconfig, time.monotonic() - started, created)
            except BaseException as exc:
                error = exc
        if error is not None:
            self.release()  # outside the lock: release() takes it again (flock is per open file)
            raise error
        return cluster

    def _clusters(self, kind: str) -> list[str]:
        out = subprocess.run([kind, "get", "clusters"], capture_output=True, text=True, timeout=60)
        return out.stdout.split() if out.returncode == 0 else []

    def _node_image(self, pins: Pins, resolver: Resolver) -> str:
        explicit = self.settings.kind_node_image or os.environ.get(NODE_IMAGE_ENV)
        if explicit:
            if not image_exists(explicit):
                raise HarnessError(f"kind node image {explicit} is not in docker, and nothing can be pulled offline",
                                   fix=f"docker load/import it first, or drop --kind-node-image/${NODE_IMAGE_ENV} to build one")
            return explicit
        return ensure_node_image(pins, resolver, self.progress)

    def _create(self, kind: str, name: str, image: str, kubeconfig: Path, run_dir: Path) -> None:
        (run_dir / "network-existed").write_text(json.dumps(self._kind_network_exists()))
        config = data_dir("clusters") / "kind" / "cluster.yaml"
        self.progress(f"creating kind cluster {name} from {image}")
        log = run_dir / "kind-create.log"
        cmd = [kind, "create", "cluster", "--name", name, "--image", image, "--config", str(config),
               "--kubeconfig", str(kubeconfig), "--wait", CREATE_WAIT]
        with open(log, "w") as logf:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            assert proc.stdout is not None
            for line in proc.stdout:
                logf.write(line)
                if line.strip().startswith("✓"):
                    self.progress("  " + line.strip().lstrip("✓ ").strip())
            rc = proc.wait()
        if rc != 0:
            self._delete(kind, name, run_dir)
            tail = [ln for ln in log.read_text().splitlines() if ln.startswith("ERROR")] or log.read_text().splitlines()[-3:]
            raise HarnessError(f"kind create cluster {name} failed: {' '.join(tail)}", fix=f"read {log}")

    def _install(self, kind: str, name: str, lane: Lane, resolver: Resolver, kubeconfig: Path) -> None:
        images = [ensure_sandbox_image(self.progress), ensure_controller_image(lane, resolver, self.progress)]
        self.progress(f"loading {', '.join(images)} into kind")
        out = subprocess.run([kind, "load", "docker-image", "--name", name, *images], capture_output=True, text=True)
        if out.returncode != 0:
            raise HarnessError(f"kind load docker-image failed: {out.stderr.strip()}")
        install_agent_sandbox(self._kubectl(), kubeconfig, lane, images[1], self.progress)

    def _cluster(self, lane: Lane, kubeconfig: Path, seconds: float, created: bool) -> Cluster:
        api = api_client(kubeconfig)
        try:
            served = ExistingProvider._served(api)
            host = str(api.configuration.host)
        finally:
            api.close()
        if created:
            self.progress(f"kind cluster {self._name} ready in {seconds:.1f}s at {host}")
        return Cluster(
            provider=self.name, kubeconfig=kubeconfig, server=host, server_version=server_version(kubeconfig),
            node_mode="real", agent_sandbox=AgentSandbox(version=lane.version, api_versions=served,
                                                     controller_metrics=CONTROLLER_METRICS_PATH),
            details={"cluster_name": self._name, "run_dir": str(self._run_dir), "boot_seconds": seconds,
                     "kept": self.settings.keep_cluster},
            disposable=not self.settings.keep_cluster,
        )

    # -- release ------------------------------------------------------------------------------
    def release(self) -> None:
        reaper.stop(self._reaper)  # before releasing, so the cluster is deleted once
        self._reaper = None
        self.release_client(os.getpid())

    def release_client(self, pid: int) -> None:
        """Deregister ``pid``; the last client of a cluster not kept deletes it."""
        name, run_dir = self._name, self._run_dir
        if name is None or run_dir is None:
            return
        lock = lock_path(run_dir)
        with FileLock(lock):
            last = deregister(run_dir, pid) and not self.settings.keep_cluster
            if last:
                self._delete(self._kind(), name, run_dir)
                shutil.rmtree(run_dir, ignore_errors=True)
        if last:
            Path(lock).unlink(missing_ok=True)
        self._name = self._run_dir = None

    def _delete(self, kind: str, name: str, run_dir: Path) -> None:
        self.progress(f"deleting kind cluster {name}")
        out = subprocess.run([kind, "delete", "cluster", "--name", name], capture_output=True, text=True, timeout=300)
        left = docker("ps", "-aq", "--filter", f"label={CLUSTER_LABEL}={name}", check=False).stdout.decode().split()
        if out.returncode != 0 or left:
            # Not silent: a node container that will not die (seen once: a process of a pod being started
            # as the node went, stuck in the kernel) outlives the run, and the user must hear of it.
            cause = out.stderr.strip().splitlines()[-1:] or ["its node containers are still there"]
            self.progress(f"WARNING: kind cluster {name} was not deleted: {cause[0]}; containers left: {' '.join(left) or 'none'}"
                          + (f" -- remove them with `docker rm -f {' '.join(left)}`" if left else ""))
        existed = run_dir / "network-existed"
        # kind never removes its "kind" network; remove it when we made it and nothing else uses it
        if existed.exists() and not json.loads(existed.read_text()) and self._kind_network_exists():
            users = docker("ps", "-aq", "--filter", "network=kind", check=False).stdout.split()
            if not users:
                docker("network", "rm", "kind", check=False)

    @staticmethod
    def _kind_network_exists() -> bool:
        docker_binary()
        return docker("network", "inspect", "kind", check=False).returncode == 0
