"""Where the harness keeps things between runs: one versioned root, overridable by env."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_LAYOUT_VERSION = "v1"


def cache_root() -> Path:
    """``$OPENSHELL_CACHE_DIR``, else ``$XDG_CACHE_HOME/pytest-openshell``, else ``~/.cache/...``."""
    explicit = os.environ.get("OPENSHELL_CACHE_DIR")
    if explicit:
        root = Path(explicit)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = Path(base) / "pytest-openshell"
    return root / CACHE_LAYOUT_VERSION


def logs_dir() -> Path:
    path = cache_root() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path
