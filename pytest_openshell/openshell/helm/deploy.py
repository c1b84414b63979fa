"""Deploy the gateway into the cluster with Helm, hold a port-forward to it, and take it all down again.

The steps are upstream's own e2e (e2e/with-kube-gateway.sh): images into the cluster, ``helm upgrade
--install --wait``, the workload's rollout, a port-forward to ``svc/openshell`` (8080), the client's
mTLS material from the chart's ``openshell-client-tls`` secret. Teardown stops the port-forward and,
unless the cluster is kept, uninstalls the release and deletes its namespace.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pytest_openshell.errors import HarnessError
from pytest_openshell.openshell.helm.diagnose import pod_problems, write_report
from pytest_openshell.openshell.helm.portforward import PortForward
from pytest_openshell.openshell.helm.settings import CLIENT_TLS_SECRET, SERVICE, SERVICE_PORT, HelmSettings
from pytest_openshell.providers.base import Cluster, Progress
from pytest_openshell.toolchain import Resolver, load_pins

NAMESPACE_GONE_S = 120.0


@dataclass(frozen=True)
class DeployedGateway:
    """Where the suites reach the deployed gateway, and the namespace its driver serves."""

    endpoint: str
    sandbox_namespace: str
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    seconds: float = 0.0


def resolve_helm(binaries: dict[str, str], progress: Progress) -> str:
    """The pinned helm (option -> env -> PATH -> cache -> build): before the cluster boots, so a helm
    that cannot be had fails in one line without a cluster having been made for nothing."""
    return str(Resolver(binaries, progress=progress).resolve(load_pins().binary("helm")).path)


class HelmGateway:
    def __init__(self, cluster: Cluster, settings: HelmSettings, progress: Progress,
                 binaries: dict[str, str] | None = None, sandbox_namespace: str | None = None) -> None:
        self.cluster = cluster
        self.settings = settings
        self.progress = progress
        resolver = Resolver(binaries or {}, progress=progress)
        pins = load_pins()
        self._helm_path = resolve_helm(binaries or {}, progress)
        self._kubectl_path = str(resolver.resolve(pins.binary("kubectl")).path)
        self._kind_path = str(resolver.resolve(pins.binary("kind")).path) if cluster.provider == "kind" else None
        self.sandbox_namespace = sandbox_namespace or settings.namespace
        self._work = Path(tempfile.mkdtemp(prefix="osh-helm-"))
        self._forward: PortForward | None = None
        self._installed = False

    @property
    def helm(self) -> list[str]:
        return [self._helm_path, "--kubeconfig", str(self.cluster.kubeconfig)]

    @property
    def kubectl(self) -> list[str]:
        return [self._kubectl_path, "--kubeconfig", str(self.cluster.kubeconfig)]

    # -- deploy ---------------------------------------------------------------------------------
    def deploy(self) -> DeployedGateway:
        """Install and connect; on any failure what was made is removed before the error propagates."""
        started = time.monotonic()
        if self.cluster.node_mode != "real":
            raise HarnessError(f"--openshell-gateway=helm needs a cluster with real nodes; the {self.cluster.provider} "
                               "cluster's nodes are simulated, so nothing would run the gateway's pod",
                               fix="use --openshell-cluster=kind (or an existing cluster)")
        try:
            sets = self._images()
            self._install(sets)
            self._await_rollout()
            ca, cert, key = self._tls_material()
            s = self.settings
            self.progress(f"port-forward svc/{SERVICE} {s.local_port or 'any free port'} -> {SERVICE_PORT} in {s.namespace}")
            self._forward = PortForward(self.kubectl, s.namespace, SERVICE, SERVICE_PORT, s.local_port,
                                        self._work / "port-forward.log")
            port = self._forward.start()
        except BaseException:
            self.teardown(keep=False)
            raise
        seconds = time.monotonic() - started
        self.progress(f"gateway release {self.settings.release} serving at 127.0.0.1:{port} ({seconds:.1f}s after deploy began)")
        return DeployedGateway(f"127.0.0.1:{port}", self.sandbox_namespace, ca, cert, key, seconds)

    def _images(self) -> list[str]:
        """Images into the cluster; with our chart its gateway image is built and its tag set."""
        images = list(self.settings.load_images)
        sets: list[str] = []
        if self.settings.reference_chart:
            from pytest_openshell.kindimage.gateway import GATEWAY_REPO, ensure_gateway_image
            from pytest_openshell.kindimage.workloads import ensure_sandbox_image

            tag = ensure_gateway_image(self.progress)
            images += [tag, ensure_sandbox_image(self.progress)]
            sets += [f"image.repository={GATEWAY_REPO}", f"image.tag={tag.rsplit(':', 1)[1]}"]
            if self.sandbox_namespace != self.settings.namespace:
                sets.append(f"sandboxNamespace={self.sandbox_namespace}")
        if images:
            if self._kind_path is None:
                raise HarnessError(f"--openshell-load-image needs the kind provider; the {self.cluster.provider} cluster "
                                   "cannot be loaded from docker here",
                                   fix="load the images into the cluster yourself, or use --openshell-cluster=kind")
            name = str(self.cluster.details["cluster_name"])
            self.progress(f"loading {', '.join(images)} into kind cluster {name}")
            out = subprocess.run([self._kind_path, "load", "docker-image", "--name", name, *images],
                                 capture_output=True, text=True, timeout=600)
            if out.returncode != 0:
                raise HarnessError(f"kind load docker-image failed: {out.stderr.strip().splitlines()[-1:] or out.returncode}")
        return sets

    def _install(self, sets: list[str]) -> None:
        s = self.settings
        cmd = [*self.helm, "upgrade", "--install", s.release, s.chart_ref, "--namespace", s.namespace, "--create-namespace",
               "--wait", "--timeout", f"{int(s.rollout_timeout_s)}s"]
        for path in s.values:
            cmd += ["--values", path]
        for item in (*sets, *s.sets):  # the user's --set last: it wins
            cmd += ["--set", item]
        self.progress(f"helm upgrade --install {s.release} {s.chart_ref} -n {s.namespace} --wait (timeout {s.rollout_timeout_s:.0f}s)")
        self._installed = True  # from here a failure leaves something to uninstall
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=s.rollout_timeout_s + 60)
        if out.returncode == 0:
            return
        error = (out.stderr.strip() or out.stdout.strip()).splitlines()
        first = error[-1] if error else f"exit {out.returncode}"
        if "timed out" in first or "context deadline exceeded" in first:
            self._rollout_failed(f"did not roll out within {s.rollout_timeout_s:.0f}s")
        raise HarnessError(f"helm upgrade --install {s.release} failed: {first}",
                           fix="check the chart and the --openshell-gateway-values/--openshell-gateway-set given")

    def _await_rollout(self) -> None:
        """Every Deployment and StatefulSet of the release rolled out (helm's --wait covers ours; charts vary)."""
        s = self.settings
        out = subprocess.run([*self.kubectl, "-n", s.namespace, "get", "deployments,statefulsets", "-o", "name",
                              "-l", f"app.kubernetes.io/instance={s.release}"], capture_output=True, text=True, timeout=60)
        for workload in out.stdout.split():
            self.progress(f"awaiting rollout of {workload} in {s.namespace}")
            rc = subprocess.run([*self.kubectl, "-n", s.namespace, "rollout", "status", workload,
                                 f"--timeout={int(s.rollout_timeout_s)}s"], capture_output=True, text=True,
                                timeout=s.rollout_timeout_s + 30).returncode
            if rc != 0:
                self._rollout_failed(f"{workload} did not roll out within {s.rollout_timeout_s:.0f}s")

    def _rollout_failed(self, what: str) -> None:
        s = self.settings
        summary, pods = pod_problems(self.kubectl, s.namespace)
        report = Path(tempfile.mkstemp(prefix=f"openshell-helm-{s.release}-", suffix=".txt")[1])
        write_report(report, self.kubectl, self.helm, s.release, s.namespace, pods)
        raise HarnessError(f"gateway release {s.release} in {s.namespace} {what}: {summary}",
                           fix=f"pod logs, events and helm status are in {report}")

    def _tls_material(self) -> tuple[Path | None, Path | None, Path | None]:
        """The client's CA, certificate and key from the chart's secret; none: a plaintext gateway."""
        s = self.settings
        out = subprocess.run([*self.kubectl, "-n", s.namespace, "get", "secret", CLIENT_TLS_SECRET, "-o", "json"],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            self.progress(f"no secret {CLIENT_TLS_SECRET} in {s.namespace}: talking plaintext to the gateway")
            return None, None, None
        data = json.loads(out.stdout).get("data") or {}
        paths = []
        for key in ("ca.crt", "tls.crt", "tls.key"):
            if key not in data:
                raise HarnessError(f"secret {CLIENT_TLS_SECRET} in {s.namespace} has no {key}",
                                   fix="the chart's client secret needs ca.crt, tls.crt and tls.key")
            path = self._work / key
            path.write_bytes(base64.b64decode(data[key]))
            path.chmod(0o600)
            paths.append(path)
        self.progress(f"mTLS material read from secret {CLIENT_TLS_SECRET}")
        return paths[0], paths[1], paths[2]

    # -- teardown -------------------------------------------------------------------------------
    def alive(self) -> bool:
        return self._forward is not None and self._forward.alive()

    def teardown(self, keep: bool) -> None:
        """Stop the port-forward; unless ``keep``, uninstall the release and delete its namespace. Every step runs."""
        problems: list[str] = []
        if self._forward is not None:
            self._forward.stop()
            self._forward = None
        if self._installed and not keep:
            s = self.settings
            self.progress(f"helm uninstall {s.release} -n {s.namespace}")
            out = subprocess.run([*self.helm, "uninstall", s.release, "--namespace", s.namespace, "--wait",
                                  "--timeout", "120s", "--ignore-not-found"], capture_output=True, text=True, timeout=180)
            if out.returncode != 0:
                problems.append(f"helm uninstall: {out.stderr.strip()}")
            self.progress(f"deleting namespace {s.namespace}")
            out = subprocess.run([*self.kubectl, "delete", "namespace", s.namespace, "--ignore-not-found", "--wait",
                                  f"--timeout={int(NAMESPACE_GONE_S)}s"], capture_output=True, text=True,
                                 timeout=NAMESPACE_GONE_S + 30)
            if out.returncode != 0:
                problems.append(f"deleting namespace {s.namespace}: {out.stderr.strip()}")
            self._installed = False
        shutil.rmtree(self._work, ignore_errors=True)
        if problems:
            self.progress("WARNING: gateway teardown incomplete: " + "; ".join(problems))
