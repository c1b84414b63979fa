"""The reference driver and gateway, started in-process against the embedded cluster (both lanes).

Pods on the embedded cluster are simulated by kwok, so there is no kubelet to mount the projected
token: :func:`pod_token` mints, with TokenRequest, exactly what a kubelet would mount (audience,
service account, bound to the pod by name and uid).
"""

from __future__ import annotations

import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kubernetes import client as k8s

from pytest_openshell.contract.labels import TOKEN_AUDIENCE
from pytest_openshell.kube.waits import Obj, named, watch_until
from pytest_openshell.providers import Cluster
from pytest_openshell.reference.driver import DriverHandle, start_driver
from pytest_openshell.reference.gateway import GatewayHandle, start_gateway

TIMEOUT = 30.0
IMAGE = "registry.local/sandbox:latest"


@pytest.fixture
def sockdir() -> Iterator[Path]:
    """A short directory for Unix sockets (tmp_path can exceed the 107-byte socket path limit)."""
    path = Path(tempfile.mkdtemp(prefix="osh-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def sandbox_namespace(k8s_api: k8s.ApiClient, namespace: str) -> str:
    """The test namespace, once its default service account exists (pods cannot be created before)."""
    watch_until(k8s.CoreV1Api(k8s_api).list_namespaced_service_account, lambda _o: True, timeout=TIMEOUT,
                what="default service account", namespace=namespace, **named("default"))
    return namespace


@pytest.fixture
def driver(cluster: Cluster, sandbox_namespace: str, sockdir: Path) -> Iterator[DriverHandle]:
    handle = start_driver(sockdir / "driver.sock", sandbox_namespace, kubeconfig=cluster.kubeconfig, default_image=IMAGE)
    yield handle
    handle.stop()


@pytest.fixture
def gateway(cluster: Cluster, sandbox_namespace: str, driver: DriverHandle, tmp_path: Path) -> Iterator[GatewayHandle]:
    handle = start_gateway(driver.socket_path, tmp_path / "gateway.db", kubeconfig=cluster.kubeconfig,
                           namespaces=[sandbox_namespace])
    yield handle
    handle.stop()


def wait_pod(api: k8s.ApiClient, namespace: str, name: str, predicate: object = None) -> Obj:
    check = predicate if callable(predicate) else (lambda _o: True)
    return watch_until(k8s.CoreV1Api(api).list_namespaced_pod, check, timeout=TIMEOUT, what=f"pod {name}",
                       namespace=namespace, **named(name)).obj


def pod_token(api: k8s.ApiClient, namespace: str, pod: Obj, *, audience: str = TOKEN_AUDIENCE,
              service_account: str = "default") -> str:
    """What the kubelet would mount at /var/run/secrets/openshell/token for ``pod``."""
    meta = pod["metadata"]
    request = k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(
        audiences=[audience], expiration_seconds=600,
        bound_object_ref=k8s.V1BoundObjectReference(kind="Pod", api_version="v1", name=meta["name"], uid=meta["uid"])))
    status = k8s.CoreV1Api(api).create_namespaced_service_account_token(service_account, namespace, request).status
    assert status is not None
    return str(status.token)


@contextmanager
def server_process(module: str, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``python -m module args``; yields it with the address from its "listening on" line; SIGTERM at the end."""
    proc = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            ready = sel.select(timeout=TIMEOUT)
        line = proc.stdout.readline() if ready else ""
        assert line.startswith("listening on "), f"{module} did not start: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"  # type: ignore[union-attr]
        yield proc, line.split(" ", 2)[2].strip()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
