"""Bare pods for the simulated-node tests: their spec is all that decides what the node does."""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from pytest_openshell.kube.waits import Obj, Observed, named, watch_until

TIMEOUT = 30.0


def pod(name: str, command: list[str] | None = None, *, restart: str = "Always", requests: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None, volumes: list[Obj] | None = None) -> Obj:
    container: Obj = {"name": "main", "image": "busybox"}
    if command:
        container["command"] = command
    if requests:
        container["resources"] = {"requests": requests}
    spec: Obj = {"restartPolicy": restart, "containers": [container]}
    if volumes:
        spec["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "annotations": annotations or {}}, "spec": spec}


def wait_pod(core: k8s.CoreV1Api, namespace: str, name: str, predicate: Any, what: str, timeout: float = TIMEOUT) -> Observed:
    def diagnose() -> str:
        return f"pod {name} status: {core.read_namespaced_pod_status(name, namespace).status}"

    return watch_until(core.list_namespaced_pod, predicate, timeout=timeout, what=f"pod {name} {what}", diagnose=diagnose,
                       namespace=namespace, **named(name))


def phase(wanted: str) -> Any:
    return lambda p: (p.get("status") or {}).get("phase") == wanted


def container(p: Obj) -> Obj:
    return dict(((p.get("status") or {}).get("containerStatuses") or [{}])[0])
