"""Kubernetes API clients built from a kubeconfig, with errors that name the fix."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from pytest_openshell.errors import HarnessError


def api_client(kubeconfig: Path, context: str | None = None) -> k8s.ApiClient:
    if not kubeconfig.exists():
        raise HarnessError(f"kubeconfig {kubeconfig} does not exist", fix="pass --kubeconfig with a readable file")
    try:
        return k8s_config.new_client_from_config(config_file=str(kubeconfig), context=context)
    except ConfigException as exc:
        raise HarnessError(
            f"kubeconfig {kubeconfig} is not usable: {exc}", fix="fix the file or pick another with --kubeconfig/--kube-context"
        ) from exc
    except Exception as exc:  # YAML, base64 and type errors all mean "not a usable kubeconfig"
        raise HarnessError(f"kubeconfig {kubeconfig} could not be read: {exc}", fix="pass --kubeconfig with a valid kubeconfig") from exc


def server_version(kubeconfig: Path, context: str | None = None) -> str:
    api = api_client(kubeconfig, context)
    try:
        info = k8s.VersionApi(api).get_code(_request_timeout=10)
    except Exception as exc:
        raise HarnessError(
            f"the cluster in {kubeconfig} is not reachable: {exc}", fix="check the server address and credentials"
        ) from exc
    finally:
        api.close()
    return str(info.git_version)
