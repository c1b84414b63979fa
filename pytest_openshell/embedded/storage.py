"""Dynamic provisioning on the embedded cluster: rancher's local-path provisioner (what kind ships
as its default StorageClass) run as a host process against the apiserver, installed the way its
upstream manifest installs it (namespace, ServiceAccount, ConfigMap, default StorageClass).

The provisioner only creates PVs; binding a claim to its PV is kube-controller-manager's PV
controller, and choosing the node is the scheduler's volume binding, as on any cluster. Its helper
pods (mkdir / rm -rf of the volume's directory) land on the simulated node, which completes them:
their template carries the exit-code annotation of clusters/kwok/README.md, because the script
would succeed on a real node. Nothing is created on the host's file system.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from pytest_openshell.embedded.config import EmbeddedConfig
from pytest_openshell.embedded.layout import Layout
from pytest_openshell.embedded.process import Component
from pytest_openshell.embedded.rest import RestClient

CONFIGMAP = "local-path-config"
SERVICE_ACCOUNT = "local-path-provisioner-service-account"
EXIT_CODE_ANNOTATION = "pytest-openshell.io/exit-code"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
NODE_PATH = "/opt/local-path-provisioner"  # on the (simulated) node; never touched on the host
Start = Callable[[str, list[str]], Component]
Create = Callable[[str, dict[str, Any]], None]


def config_files() -> dict[str, str]:
    """The ConfigMap's data, as upstream's deploy/local-path-storage.yaml has it."""
    helper = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "helper-pod", "annotations": {EXIT_CODE_ANNOTATION: "0"}},
        "spec": {
            "priorityClassName": "system-node-critical",
            "tolerations": [{"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [{"name": "helper-pod", "image": "busybox", "imagePullPolicy": "IfNotPresent"}],
        },
    }
    return {
        "config.json": json.dumps({"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [NODE_PATH]}]}),
        "setup": '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n',
        "teardown": '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n',
        "helperPod.yaml": yaml.safe_dump(helper, sort_keys=False),
    }


def objects(cfg: EmbeddedConfig) -> list[tuple[str, dict[str, Any]]]:
    ns = cfg.storage["namespace"]
    return [
        ("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        (f"/api/v1/namespaces/{ns}/serviceaccounts",
         {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SERVICE_ACCOUNT, "namespace": ns}}),
        (f"/api/v1/namespaces/{ns}/configmaps",
         {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": CONFIGMAP, "namespace": ns},
          "data": config_files()}),
        ("/apis/storage.k8s.io/v1/storageclasses", {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": cfg.storage["default_class"], "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
            "provisioner": cfg.storage["provisioner"],
            "volumeBindingMode": cfg.storage["volume_binding_mode"],
            "reclaimPolicy": cfg.storage["reclaim_policy"],
        }),
    ]


def start_provisioner(start: Start, binary: Path, lay: Layout, create: Create, cfg: EmbeddedConfig) -> Component:
    for path, obj in objects(cfg):
        create(path, obj)
    # What the upstream Deployment mounts from the ConfigMap at /etc/config.
    conf = lay.root / "local-path-config"
    conf.mkdir(exist_ok=True)
    for name, text in config_files().items():
        (conf / name).write_text(text)
    argv = [
        str(binary),
        "--debug",
        "start",
        f"--config={conf / 'config.json'}",
        f"--helper-pod-file={conf / 'helperPod.yaml'}",
        f"--kubeconfig={lay.kubeconfig('local-path-provisioner')}",
        f"--provisioner-name={cfg.storage['provisioner']}",
        f"--namespace={cfg.storage['namespace']}",
        f"--configmap-name={CONFIGMAP}",
        f"--service-account-name={SERVICE_ACCOUNT}",
        "--helper-image=busybox",
    ]
    return start("local-path-provisioner", argv)


def default_class_present(api: RestClient, cfg: EmbeddedConfig) -> bool:
    return api.get(f"/apis/storage.k8s.io/v1/storageclasses/{cfg.storage['default_class']}") is not None
