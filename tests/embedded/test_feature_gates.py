"""Feature gates are data (clusters/embedded/cluster.yaml) and reach the apiserver."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

pytestmark = pytest.mark.cluster


def test_image_volume_is_kept_with_the_gate_on(k8s_api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(k8s_api)
    body = {"metadata": {"name": "iv"}, "spec": {"containers": [{"name": "main", "image": "busybox",
                                                                   "volumeMounts": [{"name": "sup", "mountPath": "/opt/sup"}]}],
                                                 "volumes": [{"name": "sup", "image": {"reference": "example.invalid/supervisor:1"}}]}}
    created = core.create_namespaced_pod(namespace, body)
    assert [v.image.reference for v in created.spec.volumes if v.image] == ["example.invalid/supervisor:1"], \
        "the apiserver dropped the image volume: is the ImageVolume feature gate on?"
