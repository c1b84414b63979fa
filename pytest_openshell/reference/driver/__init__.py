"""The reference OpenShell compute driver for Kubernetes (agent-sandbox), served over a Unix socket.

In-process: ``handle = start_driver(socket_path, namespace, kubeconfig=...)``; ``handle.stop()``.
As a host process: ``python -m pytest_openshell.reference.driver --socket PATH --kubeconfig PATH --namespace NS``;
without ``--kubeconfig``, in-cluster config (the pod's service account).
"""

from pytest_openshell.reference.driver.config import DEFAULT_IMAGE, DRIVER_NAME, DriverConfig
from pytest_openshell.reference.driver.server import DriverHandle, start_driver

__all__ = ["DEFAULT_IMAGE", "DRIVER_NAME", "DriverConfig", "DriverHandle", "start_driver"]
