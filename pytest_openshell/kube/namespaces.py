"""Per-test namespaces with unique names, deleted after use.

Deleting even an empty namespace takes the namespace controller about five seconds, so a test's
teardown only starts the deletion; the factory awaits all of them together (one watch on the
run's label) before the session ends, and fails loudly if any is left behind.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from pytest_openshell.kube.waits import as_dict, watch_until

RUN_LABEL = "pytest-openshell.io/run"
DELETE_TIMEOUT_S = 90.0


def namespace_name(test_name: str) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")[:40].strip("-") or "test"
    return f"{stem}-{uuid.uuid4().hex[:6]}"


class NamespaceFactory:
    def __init__(self, api: k8s.ApiClient, run_label: str, delete_owners: Callable[[str], None] | None = None,
                 keep_until_teardown: bool = False) -> None:
        """``delete_owners(namespace)`` starts deleting the objects that own the namespace's pods, so
        that their controllers stop before the pods go (see :meth:`delete`). With
        ``keep_until_teardown`` nothing is deleted: the whole cluster is about to go."""
        self.core = k8s.CoreV1Api(api)
        self.run_label = run_label
        self.delete_owners = delete_owners
        self.keep_until_teardown = keep_until_teardown
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
        if self.keep_until_teardown:
            self._live.discard(name)
            return
        try:
            # Owners first: a controller whose Sandbox outlives its pod recreates the pod, and in a
            # terminating namespace it is refused and retries -- over a thousand refused creates a suite
            # run, most of the API server's CPU (measured on the embedded cluster).
            if self.delete_owners is not None:
                self.delete_owners(name)
            self.core.delete_namespace(name)
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
