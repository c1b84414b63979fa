"""``Obj``: a Kubernetes object as the API serves it (decoded JSON). One spelling for every module."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
