"""What runs inside a kind cluster: the sandbox image and agent-sandbox, built from local binaries."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from pytest_openshell.agentsandbox.installed import CRDS
from pytest_openshell.embedded import crds
from pytest_openshell.errors import HarnessError
from pytest_openshell.kindimage import storage as kind_storage
from pytest_openshell.kindimage.docker import image_exists, import_files
from pytest_openshell.progress import Progress
from pytest_openshell.toolchain import Resolver
from pytest_openshell.toolchain.pins import Lane

SANDBOX_IMAGE = "localhost/pytest-openshell/sandbox:2"  # bump when its applets change
CONTROLLER_REPO = "localhost/pytest-openshell/agent-sandbox-controller"
NAMESPACE = "agent-sandbox-system"
DEPLOYMENT = "agent-sandbox-controller"
# upstream release manifests in the pinned module; extensions.controller.yaml replaces the core
# Deployment (same as upstream's kustomization, which patches --extensions into it)
MANIFESTS = ("controller.yaml", "rbac.generated.yaml", "extensions.yaml", "extensions-rbac.generated.yaml")
INSTALL_TIMEOUT_S = 180
# The controller serves plain-HTTP metrics on :8080 (controller-runtime's default, no secure
# serving) behind upstream's Service of the same name; the API server's service proxy reaches it
# from the host with the kubeconfig's credentials: no port-forward, no port published on the node.
CONTROLLER_METRICS_PATH = f"/api/v1/namespaces/{NAMESPACE}/services/{DEPLOYMENT}:metrics/proxy/metrics"
# Addons a node image built here runs, awaited when present (a user's own node image may lack them):
# kubeadm's DNS addon, so sandboxes' DNS names resolve, and kind's default storage, so PVCs bind.
NODE_ADDONS = (("kube-system", "coredns"), (kind_storage.NAMESPACE, kind_storage.DEPLOYMENT))
# httpd serves from sandbox pods, nslookup + wget make the in-cluster DNS client (conformance)
BUSYBOX_APPLETS = ("sh", "sleep", "cat", "echo", "ls", "env", "true", "wget", "nc", "hostname", "httpd", "nslookup")


def ensure_sandbox_image(progress: Progress) -> str:
    """A busybox image for sandbox pods: a container without a command idles until SIGTERM."""
    if image_exists(SANDBOX_IMAGE):
        return SANDBOX_IMAGE
    busybox = Path("/bin/busybox") if Path("/bin/busybox").exists() else None
    found = shutil.which("busybox")
    busybox = busybox or (Path(found) if found else None)
    if busybox is None:
        raise HarnessError(f"building {SANDBOX_IMAGE} needs a static busybox", fix="apt-get install -y busybox-static")
    progress(f"building {SANDBOX_IMAGE} from {busybox}")
    idle = "trap 'exit 0' TERM INT; while :; do sleep 1; done"
    import_files(
        SANDBOX_IMAGE, {"/bin/busybox": busybox},
        changes=(f'ENTRYPOINT ["/bin/sh", "-c", "{idle}"]', "ENV PATH=/bin"),
        links={f"/bin/{applet}": "busybox" for applet in BUSYBOX_APPLETS},
    )
    return SANDBOX_IMAGE


def ensure_controller_image(lane: Lane, resolver: Resolver, progress: Progress) -> str:
    """The same controller binary the embedded provider runs, as a one-file image."""
    binary = lane.module.binaries["agent-sandbox-controller"]
    tag = f"{CONTROLLER_REPO}:{lane.version}-{lane.module.fingerprint()}"
    if image_exists(tag):
        return tag
    path = resolver.resolve(binary).path
    progress(f"building {tag} from {path}")
    import_files(tag, {"/agent-sandbox-controller": path}, changes=('ENTRYPOINT ["/agent-sandbox-controller"]',))
    return tag


def agent_sandbox_manifests(lane: Lane, image: str) -> list[dict[str, Any]]:
    """Upstream's manifests for ``lane`` with the controller image pointed at ``image``."""
    source = crds.module_source_dir(lane.module)
    docs: list[dict[str, Any]] = []
    for name in MANIFESTS:
        docs += [d for d in yaml.safe_load_all((source / "k8s" / name).read_text()) if d and d.get("kind") != "Deployment"]
    deployments = [d for d in yaml.safe_load_all((source / "k8s" / "extensions.controller.yaml").read_text()) if d]
    if len(deployments) != 1 or deployments[0].get("kind") != "Deployment":
        raise HarnessError(f"agent-sandbox {lane.version}: unexpected k8s/extensions.controller.yaml layout")
    for container in deployments[0]["spec"]["template"]["spec"]["containers"]:
        container["image"] = image
        container["imagePullPolicy"] = "Never"  # loaded with kind load; nothing can be pulled
    return [*crds.load_crds(source), *docs, *deployments]


def install_agent_sandbox(kubectl_binary: str, kubeconfig: Path, lane: Lane, image: str, progress: Progress) -> None:
    """Apply the manifests, then wait: CRDs Established, controller rolled out, conversion wired."""
    progress(f"installing agent-sandbox {lane.version} (CRDs + controller Deployment)")
    kubectl = [kubectl_binary, "--kubeconfig", str(kubeconfig)]
    manifests = yaml.safe_dump_all(agent_sandbox_manifests(lane, image))
    _run([*kubectl, "apply", "--server-side", "--force-conflicts", "-f", "-"], manifests)
    _run([*kubectl, "wait", "--for=condition=Established", f"--timeout={INSTALL_TIMEOUT_S}s", *[f"crd/{c}" for c in CRDS.values()]])
    _run([*kubectl, "-n", NAMESPACE, "rollout", "status", f"deploy/{DEPLOYMENT}", f"--timeout={INSTALL_TIMEOUT_S}s"])
    if len(lane.api_versions) > 1:
        _await_conversion(kubectl)
    for namespace, deployment in NODE_ADDONS:
        if f"deployment.apps/{deployment}" in _run([*kubectl, "-n", namespace, "get", "deploy", "-o", "name"]).split():
            _run([*kubectl, "-n", namespace, "rollout", "status", f"deploy/{deployment}", f"--timeout={INSTALL_TIMEOUT_S}s"])


def _await_conversion(kubectl: list[str]) -> None:
    """v0.5.x serves v1alpha1 through its webhook; the controller patches its CA into the CRDs."""
    deadline = time.monotonic() + INSTALL_TIMEOUT_S
    path = "{.spec.conversion.webhook.clientConfig.caBundle}"
    while True:
        missing = [c for c in CRDS.values() if not _run([*kubectl, "get", f"crd/{c}", "-o", f"jsonpath={path}"]).strip()]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise HarnessError(f"the agent-sandbox controller did not set up conversion for {', '.join(missing)}",
                               fix=f"kubectl -n {NAMESPACE} logs deploy/{DEPLOYMENT}")
        time.sleep(1)


def _run(cmd: list[str], stdin: str | None = None) -> str:
    out = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S + 30)
    if out.returncode != 0:
        raise HarnessError(f"kubectl {' '.join(cmd[3:5])} failed: {out.stderr.strip() or out.stdout.strip()}")
    return out.stdout
