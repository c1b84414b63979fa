"""Kubernetes objects for a DriverSandbox: validation, the cold Sandbox, the warm SandboxClaim."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from pytest_openshell._proto.openshell.compute.v1 import compute_driver_pb2 as pb
from pytest_openshell.contract.labels import (
    GATEWAY_ID,
    MANAGED_BY,
    MANAGED_BY_VALUE,
    POD_SANDBOX_ID,
    SANDBOX_ID,
    SANDBOX_NAME,
    SANDBOX_WORKSPACE,
    TOKEN_FILE,
    TOKEN_MOUNT_PATH,
    TOKEN_VOLUME,
    is_dns_label,
    is_label_value,
    is_reserved,
)
from pytest_openshell.reference.driver.config import DEFAULT_WORKSPACE, DriverConfig
from pytest_openshell.reference.kube import AgentSandboxResources, Obj
from pytest_openshell.reference.status import StatusError

CONTAINER = "agent"


def invalid(message: str) -> StatusError:
    return StatusError(grpc.StatusCode.INVALID_ARGUMENT, message)


def workspace_of(sandbox: pb.DriverSandbox) -> str:
    return sandbox.workspace or DEFAULT_WORKSPACE


def platform_config(template: pb.DriverSandboxTemplate) -> dict[str, Any]:
    """The Kubernetes settings this driver understands; other keys are ignored like unknown fields."""
    return MessageToDict(template.platform_config) if template.HasField("platform_config") else {}


def kube_name(config: DriverConfig, sandbox: pb.DriverSandbox) -> str:
    return config.kube_name(workspace_of(sandbox), sandbox.name)


def validate(config: DriverConfig, sandbox: pb.DriverSandbox) -> None:
    """Everything CreateSandbox would reject, as INVALID_ARGUMENT, before anything is created.

    Stricter than upstream's ValidateSandboxCreate (which in shared mode checks only the name's
    length): the harness recommends that Validate catch what Create would refuse.
    """
    if not sandbox.id:
        raise invalid("sandbox.id is required")
    if not is_label_value(sandbox.id):
        raise invalid("sandbox.id must be a valid label value")
    if not is_dns_label(sandbox.name):
        raise invalid(f"sandbox.name {sandbox.name!r} must be a DNS-1123 label (lowercase, digits, '-', at most 63)")
    workspace = workspace_of(sandbox)
    if not is_label_value(workspace):
        raise invalid("sandbox.workspace must be a valid label value")
    if not is_dns_label(kube_name(config, sandbox)):
        raise invalid(f"{kube_name(config, sandbox)!r} (workspace {workspace!r}, name {sandbox.name!r}) is not a DNS-1123 label "
                      "of at most 63 characters")
    if config.workspace_mode == "operator" and workspace != config.namespace:
        raise StatusError(grpc.StatusCode.FAILED_PRECONDITION,
                          f"workspace {workspace!r} is not in the operator namespace allowlist ({config.namespace!r})")
    template = sandbox.spec.template
    for key, value in template.labels.items():
        if is_reserved(key):
            raise invalid(f"label {key!r} uses a reserved prefix")
        if not is_label_value(value):
            raise invalid(f"label {key!r} has an invalid value")
    annotations = platform_config(template).get("annotations") or {}
    if not isinstance(annotations, dict):
        raise invalid("platform_config.annotations must be a map")
    for key in annotations:
        if is_reserved(str(key)):
            raise invalid(f"annotation {key!r} uses a reserved prefix")
    if not (template.image or config.default_image):
        raise invalid("no image: the request names none and the driver has no default")


def identity_labels(config: DriverConfig, sandbox: pb.DriverSandbox) -> dict[str, str]:
    return {SANDBOX_ID: sandbox.id, SANDBOX_NAME: sandbox.name, SANDBOX_WORKSPACE: workspace_of(sandbox),
            MANAGED_BY: MANAGED_BY_VALUE, GATEWAY_ID: config.gateway_id}


def identity_annotations(config: DriverConfig, sandbox: pb.DriverSandbox) -> dict[str, str]:
    """Upstream repeats id, name and workspace as annotations on the platform object (labels may be rewritten)."""
    return {SANDBOX_ID: sandbox.id, SANDBOX_NAME: sandbox.name, SANDBOX_WORKSPACE: workspace_of(sandbox)}


def _env(config: DriverConfig, sandbox: pb.DriverSandbox) -> list[Obj]:
    env = {"OPENSHELL_SANDBOX_ID": sandbox.id, "OPENSHELL_SANDBOX": sandbox.name,
           "OPENSHELL_K8S_SA_TOKEN_FILE": f"{TOKEN_MOUNT_PATH}/{TOKEN_FILE}"}
    if sandbox.spec.log_level:
        env["OPENSHELL_LOG_LEVEL"] = sandbox.spec.log_level
    env.update(sandbox.spec.template.environment)
    env.update(sandbox.spec.environment)
    return [{"name": k, "value": v} for k, v in sorted(env.items())]


def _resources(template: pb.DriverSandboxTemplate) -> Obj:
    r = template.resources
    requests = {k: v for k, v in (("cpu", r.cpu_request), ("memory", r.memory_request)) if v}
    limits = {k: v for k, v in (("cpu", r.cpu_limit), ("memory", r.memory_limit)) if v}
    return {k: v for k, v in (("requests", requests), ("limits", limits)) if v}


def pod_template(config: DriverConfig, sandbox: pb.DriverSandbox) -> Obj:
    """The pod: identity annotation, no automounted API token, the projected gateway token instead."""
    template = sandbox.spec.template
    settings = platform_config(template)
    container: Obj = {
        "name": CONTAINER,
        "image": template.image or config.default_image,
        "env": _env(config, sandbox),
        "volumeMounts": [{"name": TOKEN_VOLUME, "mountPath": TOKEN_MOUNT_PATH, "readOnly": True}],
    }
    if resources := _resources(template) or settings.get("resources"):
        container["resources"] = resources
    spec: Obj = {
        "serviceAccountName": config.service_account,
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": [{"name": TOKEN_VOLUME, "projected": {"sources": [{"serviceAccountToken": {
            "audience": config.token_audience, "expirationSeconds": config.token_expiration_seconds, "path": TOKEN_FILE}}]}}],
    }
    if runtime_class := settings.get("runtimeClassName"):
        spec["runtimeClassName"] = str(runtime_class)
    if template.HasField("user_namespaces"):
        spec["hostUsers"] = not template.user_namespaces
    annotations = {str(k): str(v) for k, v in (settings.get("annotations") or {}).items()}
    annotations[POD_SANDBOX_ID] = sandbox.id
    # The request's labels go on every platform resource, the pod included; identity labels win.
    pod_labels = {**dict(template.labels), **identity_labels(config, sandbox)}
    return {"metadata": {"labels": pod_labels, "annotations": annotations}, "spec": spec}


def sandbox_body(config: DriverConfig, resources: AgentSandboxResources, sandbox: pb.DriverSandbox) -> Obj:
    """The cold path: an agents.x-k8s.io Sandbox carrying the identity labels and the pod template."""
    obj_labels = dict(sandbox.spec.template.labels)
    obj_labels.update(identity_labels(config, sandbox))
    return {
        "apiVersion": resources.sandbox.api_version,
        "kind": "Sandbox",
        "metadata": {"name": kube_name(config, sandbox), "namespace": config.namespace, "labels": obj_labels,
                     "annotations": identity_annotations(config, sandbox)},
        "spec": {"podTemplate": pod_template(config, sandbox)},
    }


def claim_body(config: DriverConfig, resources: AgentSandboxResources, sandbox: pb.DriverSandbox, pool: str,
               template: str) -> Obj:
    """The warm path: a SandboxClaim on ``pool``. The pod learns its identity only through the claim's
    additionalPodMetadata annotation; the labels are on the claim object, for the driver's bookkeeping."""
    assert resources.claim is not None
    spec: Obj = {"warmPoolRef": {"name": pool}} if resources.claim.version == "v1beta1" else {
        "sandboxTemplateRef": {"name": template}, "warmpool": pool}
    spec["additionalPodMetadata"] = {"annotations": {POD_SANDBOX_ID: sandbox.id}}
    return {
        "apiVersion": resources.claim.api_version,
        "kind": "SandboxClaim",
        "metadata": {"name": kube_name(config, sandbox), "namespace": config.namespace, "labels": identity_labels(config, sandbox),
                     "annotations": identity_annotations(config, sandbox)},
        "spec": spec,
    }
