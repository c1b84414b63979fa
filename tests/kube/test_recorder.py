"""wait_first on two real watch streams: whichever condition holds first wins, and nothing lingers."""

from __future__ import annotations

import time

import pytest
from kubernetes import client as k8s

from pytest_openshell.errors import WaitTimeout
from pytest_openshell.kube.recorder import EventRecorder, is_named, wait_first


def _recorders(api: k8s.ApiClient, namespace: str) -> tuple[EventRecorder, EventRecorder]:
    core = k8s.CoreV1Api(api)
    return (EventRecorder(core.list_namespaced_config_map, "ConfigMap", namespace=namespace),
            EventRecorder(core.list_namespaced_secret, "Secret", namespace=namespace))


def test_wait_first_answers_with_the_stream_that_moved(k8s_api: k8s.ApiClient, namespace: str) -> None:
    maps, secrets = _recorders(k8s_api, namespace)
    try:
        mark_m, mark_s = maps.mark(), secrets.mark()
        k8s.CoreV1Api(k8s_api).create_namespaced_secret(namespace, {"metadata": {"name": "s"}, "stringData": {"k": "v"}})
        index, ev = wait_first([(maps, is_named("s"), mark_m), (secrets, is_named("s"), mark_s)], timeout=10, what="secret s")
        assert (index, ev.name, ev.type) == (1, "s", "ADDED")
        assert not maps._listeners and not secrets._listeners, "wait_first left a listener behind"
    finally:
        maps.stop()
        secrets.stop()


def test_wait_first_times_out_with_its_diagnostic(k8s_api: k8s.ApiClient, namespace: str) -> None:
    maps, secrets = _recorders(k8s_api, namespace)
    try:
        t0 = time.monotonic()
        with pytest.raises(WaitTimeout, match=r"timed out after 0\.5s waiting for nothing\s+diag here"):
            wait_first([(maps, is_named("never"), 0), (secrets, is_named("never"), 0)], timeout=0.5, what="nothing",
                       diagnose=lambda: "diag here")
        assert time.monotonic() - t0 < 5
        assert not maps._listeners and not secrets._listeners
    finally:
        maps.stop()
        secrets.stop()


def test_stop_ends_the_watch_thread_even_before_the_stream_opened(k8s_api: k8s.ApiClient, namespace: str) -> None:
    # A recorder stopped at once, on a namespace where nothing happens, used to keep its thread
    # reading for a whole watch chunk; one still reading at interpreter exit aborts the process.
    core = k8s.CoreV1Api(k8s_api)
    recorders = [EventRecorder(core.list_namespaced_config_map, "ConfigMap", namespace=namespace) for _ in range(5)]
    for rec in recorders:
        rec.stop()
    assert [r.what for r in recorders if r._thread.is_alive()] == []


def test_stop_ends_an_open_watch_at_once(k8s_api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(k8s_api)
    rec = EventRecorder(core.list_namespaced_config_map, "ConfigMap", namespace=namespace)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "seen"}})
    rec.wait_for(is_named("seen"), timeout=10, what="config map seen")  # the stream is open and reading
    t0 = time.monotonic()
    rec.stop()
    assert not rec._thread.is_alive()
    assert time.monotonic() - t0 < 2, "stop waited for the watch to end by itself"
