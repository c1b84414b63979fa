"""The one place that knows whether this pytest process is an xdist worker, the controller, or alone
(as xdist's own ``is_xdist_worker`` / ``get_xdist_worker_id`` helpers do, without importing xdist)."""

from __future__ import annotations

from typing import Any


def worker_input(node: Any) -> dict[str, Any] | None:
    """The ``workerinput`` xdist gives a worker's config (or a worker node on the controller), else None."""
    return getattr(node, "workerinput", None)


def worker_id(node: Any, default: str = "") -> str:
    """``gw0``, ``gw1`` ... for a worker's config (or a controller's worker node); ``default`` elsewhere."""
    return str((worker_input(node) or {}).get("workerid", default))


def is_worker(config: Any) -> bool:
    return worker_input(config) is not None


def is_controller(config: Any) -> bool:
    """The process that runs xdist workers (not a worker, and distribution switched on)."""
    return not is_worker(config) and getattr(config.option, "dist", "no") != "no"
