"""Source trees of pinned Go modules, from the Go module cache (downloaded through the proxy): one implementation for
the agent-sandbox CRDs and manifests, the kind node image and its storage, and the upstream e2e build."""

from __future__ import annotations

import json
import os
import subprocess
from functools import lru_cache
from pathlib import Path

from pytest_openshell.errors import HarnessError
from pytest_openshell.toolchain.builder import find_go


@lru_cache(maxsize=16)
def module_dir(path_at_version: str, wrapper_dir: Path) -> Path:
    """``go mod download`` of ``path@version`` run in its wrapper module; the unpacked source dir."""
    go = find_go()
    if go is None:
        raise HarnessError(f"{path_at_version} files come from the Go module cache, and Go is not installed", fix="install Go >= 1.26")
    env = {**os.environ, "GOWORK": "off", "GOFLAGS": "-mod=readonly"}
    out = subprocess.run([go, "mod", "download", "-json", path_at_version], cwd=wrapper_dir, env=env,
                         capture_output=True, text=True, timeout=600)
    info = json.loads(out.stdout or "{}")
    if out.returncode != 0 or "Dir" not in info:
        raise HarnessError(f"could not fetch {path_at_version} from the Go module proxy: {info.get('Error') or out.stderr.strip()}",
                           fix="check that GOPROXY is reachable")
    return Path(info["Dir"])
