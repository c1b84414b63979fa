"""The official SDK (PyPI ``openshell``) as a client of the reference gateway, on the embedded cluster.

The SDK runs in its own interpreter (tests/reference/sdk_session.py): its stubs and ours cannot
share a process. What it must see: every sandbox through page tokens, a token expiry, and the
deletion outcomes COMPLETED, then ALREADY_ABSENT with allow_missing (NOT_FOUND without).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from pytest_openshell.contract.labels import POD_SANDBOX_ID
from pytest_openshell.kube.waits import watch_until
from pytest_openshell.reference.gateway import GatewayHandle
from tests.proto.sdk import MISSING, sdk_version
from tests.reference.conftest import TIMEOUT, pod_token

pytestmark = pytest.mark.cluster

SESSION = Path(__file__).with_name("sdk_session.py")
NAMES = [f"sdk-{i}" for i in range(5)]


def sdk(phase: str, gateway: GatewayHandle, stdin: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(SESSION), phase, gateway.address], input=stdin, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, f"the SDK session {phase!r} failed:\n{done.stderr[-3000:]}"
    return dict(json.loads(done.stdout))


def test_the_sdk_pages_gets_expiry_and_deletion_outcomes(gateway: GatewayHandle, k8s_api: k8s.ApiClient,
                                                          sandbox_namespace: str) -> None:
    assert sdk_version() is not None, MISSING
    seen = sdk("create-list", gateway, "\n".join(NAMES))
    assert seen["pages"] == [NAMES[0:2], NAMES[2:4], NAMES[4:5]], "page size 2 over 5 sandboxes: three pages, each once"
    assert seen["list_all"] == NAMES

    sandbox_id = seen["ids"]["sdk-0"]
    # The pod is found by the identity annotation, not by an assumed object name (workspace modes rename it).
    pod = watch_until(k8s.CoreV1Api(k8s_api).list_namespaced_pod,
                      lambda o: (o["metadata"].get("annotations") or {}).get(POD_SANDBOX_ID) == sandbox_id,
                      timeout=TIMEOUT, what=f"pod of sandbox {sandbox_id}", namespace=sandbox_namespace).obj
    issued = sdk("token", gateway, pod_token(k8s_api, sandbox_namespace, pod))
    assert issued["token_present"] and issued["has_expiration_time"], issued
    assert issued["expiration_ms"] > 0

    deleted = sdk("delete", gateway, "sdk-0")
    assert deleted == {"first": "COMPLETED", "first_id": sandbox_id, "second": "ALREADY_ABSENT", "without_allow_missing": "NOT_FOUND"}
