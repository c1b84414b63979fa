"""Run a command in a pod's container through the Kubernetes exec API and return its stdout."""

from __future__ import annotations

from kubernetes import client as k8s
from kubernetes.stream import stream

EXEC_TIMEOUT_S = 30.0


def exec_in_pod(api: k8s.ApiClient, namespace: str, pod: str, command: list[str], *, container: str | None = None,
                timeout: float = EXEC_TIMEOUT_S) -> str:
    # stream() swaps the transport of the ApiClient it is given while it runs; a private client
    # keeps the recorders' watches, running in other threads on ``api``, off the websocket.
    private = k8s.ApiClient(api.configuration)
    try:
        kwargs = {"container": container} if container else {}
        ws = stream(k8s.CoreV1Api(private).connect_get_namespaced_pod_exec, pod, namespace, command=command,
                    stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False, **kwargs)
        try:
            ws.run_forever(timeout=timeout)
            if ws.is_open():
                raise TimeoutError(f"exec {command[0]} in pod {namespace}/{pod} did not finish within {timeout:g}s")
            out, err, rc = ws.read_stdout() or "", ws.read_stderr() or "", ws.returncode
        finally:
            ws.close()
    finally:
        private.close()
    if rc != 0:
        raise RuntimeError(f"exec {command[0]} in pod {namespace}/{pod} exited {rc}: {err.strip()[:300]}")
    return str(out)


__all__ = ["exec_in_pod"]
