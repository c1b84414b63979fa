"""The official ``openshell`` SDK from PyPI, used only in subprocesses.

Its generated stubs register the same ``openshell.v1`` symbols as ours in protobuf's default
descriptor pool, so a process that imports both fails; tests run the SDK in its own interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

SDK_VERSION = "0.1.5"  # the newest release; also pinned in pyproject.toml's test extra
SDK_MODULES = ("openshell._proto.openshell_pb2", "openshell._proto.datamodel_pb2", "openshell._proto.sandbox_pb2")
MISSING = f"the openshell SDK is not installed: pip install -e '.[test]' (or pip install openshell=={SDK_VERSION})"


def run_python(code: str, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, check=False)


def sdk_version() -> str | None:
    done = run_python("import importlib.metadata as m; print(m.version('openshell'))")
    return done.stdout.strip() if done.returncode == 0 else None


def sdk_facts() -> dict[str, Any]:
    """Wire facts of the SDK's messages (pytest_openshell.proto_facts in a process without our stubs)."""
    done = subprocess.run([sys.executable, "-m", "pytest_openshell.proto_facts", *SDK_MODULES], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, f"reading the SDK's descriptors failed: {done.stderr[-2000:]}"
    return dict(json.loads(done.stdout))
