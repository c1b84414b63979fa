"""Pod lifecycle on the simulated node (clusters/kwok/README.md): readiness takes a moment, containers
whose spec says they exit do, and the pod ends or restarts as its restartPolicy says."""

from __future__ import annotations

from datetime import datetime

import pytest
from kubernetes import client as k8s

from pytest_openshell.kube.waits import has_condition
from tests.embedded.pods import container, phase, pod, wait_pod

pytestmark = pytest.mark.cluster


def test_never_pod_exiting_0_ends_succeeded(k8s_api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(k8s_api)
    core.create_namespaced_pod(namespace, pod("done", ["sh", "-c", "exit 0"], restart="Never"))
    done = wait_pod(core, namespace, "done", lambda p: phase("Succeeded")(p) or phase("Failed")(p), "finished").obj
    assert done["status"]["phase"] == "Succeeded", done["status"]
    terminated = container(done)["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    assert container(done)["restartCount"] == 0 and not container(done)["ready"]


def test_never_pod_exiting_nonzero_ends_failed_with_its_code(k8s_api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(k8s_api)
    core.create_namespaced_pod(namespace, pod("bad", ["/bin/sh", "-c", "exit 3"], restart="Never"))
    bad = wait_pod(core, namespace, "bad", lambda p: phase("Succeeded")(p) or phase("Failed")(p), "finished").obj
    assert bad["status"]["phase"] == "Failed"
    assert container(bad)["state"]["terminated"]["exitCode"] == 3


def test_sleep_before_exit_is_how_long_the_container_runs(k8s_api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(k8s_api)
    core.create_namespaced_pod(namespace, pod("nap", ["sh", "-c", "sleep 1; exit 0"], restart="Never"))
    terminated = container(wait_pod(core, namespace, "nap", phase("Succeeded"), "Succeeded").obj)["state"]["terminated"]
    ran = datetime.fromisoformat(terminated["finishedAt"]) - datetime.fromisoformat(terminated["startedAt"])
    assert ran.total_seconds() >= 1, terminated  # second-granular timestamps: a 1 s run spans at least one tick


def test_annotation_gives_the_exit_code_of_any_command(k8s_api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(k8s_api)
    core.create_namespaced_pod(namespace, pod("job", ["python3", "job.py"], restart="OnFailure",
                                              annotations={"pytest-openshell.io/exit-code": "0"}))
    assert container(wait_pod(core, namespace, "job", phase("Succeeded"), "Succeeded").obj)["state"]["terminated"]["exitCode"] == 0


def test_always_pod_that_exits_is_restarted(k8s_api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(k8s_api)
    core.create_namespaced_pod(namespace, pod("crash", ["sh", "-c", "exit 2"]))
    crashed = wait_pod(core, namespace, "crash", lambda p: container(p).get("restartCount", 0) >= 1, "restarted").obj
    status = container(crashed)
    assert crashed["status"]["phase"] == "Running"
    assert status["lastState"]["terminated"]["exitCode"] == 2
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"


def test_long_running_pod_is_not_ready_at_first_then_ready(k8s_api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(k8s_api)
    core.create_namespaced_pod(namespace, pod("svc", ["sleep", "infinity"]))
    started = wait_pod(core, namespace, "svc", lambda p: (p.get("status") or {}).get("podIP") is not None, "started").obj
    assert started["status"]["phase"] == "Running"
    assert has_condition("Ready", "False")(started), "Ready must take a moment, as a container start does"
    ready = wait_pod(core, namespace, "svc", has_condition("Ready"), "Ready").obj
    assert container(ready)["state"]["running"]["startedAt"]


def test_held_pod_stays_unready_until_its_label_goes(k8s_api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(k8s_api)
    at_once = {"pytest-openshell.io/ready-after": "0s"}
    held = pod("held", ["sleep", "infinity"], annotations=at_once)
    held["metadata"]["labels"] = {"pytest-openshell.io/hold-ready": "true"}
    core.create_namespaced_pod(namespace, held)
    wait_pod(core, namespace, "held", lambda p: (p.get("status") or {}).get("podIP") is not None, "started")
    # A pod made later with the same (zero) delay gets Ready: the held one would have too, were the label ignored.
    core.create_namespaced_pod(namespace, pod("control", ["sleep", "infinity"], annotations=at_once))
    wait_pod(core, namespace, "control", has_condition("Ready"), "Ready")
    now = core.read_namespaced_pod("held", namespace).status
    assert [c.status for c in now.conditions if c.type == "Ready"] == ["False"]
    core.patch_namespaced_pod("held", namespace, {"metadata": {"labels": {"pytest-openshell.io/hold-ready": None}}})
    wait_pod(core, namespace, "held", has_condition("Ready"), "Ready after the label is dropped")
