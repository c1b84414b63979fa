"""The simulated node looks like a real one: resources (ephemeral-storage included), conditions, a
renewed Lease, no startup taints left, pod IPs that are host addresses of its podCIDR."""

from __future__ import annotations

import ipaddress

import pytest
from kubernetes import client as k8s

from pytest_openshell import podnet
from pytest_openshell.embedded.config import load_config
from pytest_openshell.embedded.layout import POD_CIDR
from pytest_openshell.kube.waits import has_condition
from tests.embedded.pods import pod, wait_pod

pytestmark = pytest.mark.cluster


def test_node_reports_resources_conditions_and_lease(k8s_api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(k8s_api)
    node = core.read_node(load_config().node_name)
    assert node.status.allocatable["ephemeral-storage"] and node.status.capacity["ephemeral-storage"]
    assert node.status.allocatable["hugepages-2Mi"] == "0"
    conditions = {c.type: c.status for c in node.status.conditions}
    assert conditions["Ready"] == "True"
    assert {conditions[t] for t in ("MemoryPressure", "DiskPressure", "PIDPressure")} == {"False"}
    assert not [t.key for t in node.spec.taints or []], "the lifecycle controller lifts the startup taints"
    lease = k8s.CoordinationV1Api(k8s_api).read_namespaced_lease(node.metadata.name, "kube-node-lease")
    assert lease.spec.renew_time is not None and lease.spec.lease_duration_seconds == 40
    assert node.status.node_info.kubelet_version == "v1.34.4"


def test_pod_requesting_ephemeral_storage_schedules(k8s_api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(k8s_api)
    core.create_namespaced_pod(namespace, pod("eph", ["sleep", "infinity"], requests={"cpu": "250m", "memory": "512Mi",
                                                                                        "ephemeral-storage": "1Gi"}))
    ready = wait_pod(core, namespace, "eph", has_condition("Ready"), "scheduled and Ready").obj
    assert ready["spec"]["nodeName"] == load_config().node_name


def test_pod_ips_are_host_addresses_and_never_connected_to(k8s_api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(k8s_api)
    names = [f"ip{i}" for i in range(3)]
    for name in names:
        core.create_namespaced_pod(namespace, pod(name, ["sleep", "infinity"]))
    node_cidr = ipaddress.ip_network(core.read_node(load_config().node_name).spec.pod_cidr)
    for name in names:
        ip = ipaddress.ip_address(wait_pod(core, namespace, name, has_condition("Ready"), "Ready").obj["status"]["podIP"])
        assert ip in node_cidr and ip not in (node_cidr.network_address, node_cidr.broadcast_address), ip
        assert podnet.is_blocked(str(ip)), f"{ip}: the session's guard must refuse connections to it"
    # Every test of this session ran under the guard: a harness code path that connected to a pod IP failed it.
    assert POD_CIDR in podnet.blocked()
