"""Per-test namespaces with unique names, deleted after use.

Deleting even an empty namespace takes the namespace controller about five seconds, so a test's
teardown only starts the deletion; the factory awaits all of them together (one watch on the
run's label) before the session ends, and fails loudly if any is left behind.
"""

from __future__ import annotations

import re
import time
import uuid

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from pytest_openshell.kube.waits import as_dict, watch_until

RUN_LABEL = "pytest-openshell.io/run"
DELETE_TIMEOUT_S = 90.0


def namespace_name(test_name: str) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")[:40].strip("-") or "test"
    return f"{stem}-{uuid.uuid4().hex[:6]}"


class NamespaceFactory:
    def __init__(self, api: k8s.ApiClient, run_label: str) -> None:
        self.core = k8s.CoreV1Api(api)
        self.run_label = run_label
        self._live: set[str] = set()

    @property
    def selector(self) -> str:
        return f"{RUN_LABEL}={self.run_label}"

    def create(self, test_name: str) -> str:
        name = namespace_name(test_name)
        body = k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels={RUN_LABEL: self.run_label}))
        self.core.create_namespace(body)
        self._live.add(name)
        return name

    def delete(self, name: str) -> None:
        """Start deleting ``name``; :meth:`await_deleted` waits for it."""
        try:
            self.core.delete_namespace(name)
            # Pods would otherwise sit out their grace period; nothing runs in them to stop.
            self.core.delete_collection_namespaced_pod(name, grace_period_seconds=0)
        except ApiException as exc:
            if exc.status != 404:
                raise
        self._live.discard(name)

    def await_deleted(self, timeout: float = DELETE_TIMEOUT_S) -> None:
        for name in sorted(self._live):
            self.delete(name)
        deadline = time.monotonic() + timeout

        def present() -> list[dict]:
            return as_dict(self.core.list_namespace(label_selector=self.selector)).get("items") or []

        def diagnose() -> str:
            return "still present: " + ", ".join(f"{n['metadata']['name']} ({n['status'].get('phase')})" for n in present())

        while True:
            remaining = {str(n["metadata"]["name"]) for n in present()}
            if not remaining:
                return
            watch_until(self.core.list_namespace, lambda _o: False, timeout=max(1.0, deadline - time.monotonic()),
                        what=f"namespaces {sorted(remaining)} to be deleted", diagnose=diagnose, deleted_ok=True,
                        label_selector=self.selector)
