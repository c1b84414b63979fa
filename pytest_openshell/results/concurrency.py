"""What ran beside a latency test: the load condition its figures were measured under.

Serial tests share one xdist scheduling scope (pytest_openshell.xdist_scheduling), so they never
run beside each other; other tests may still run on other workers at the same time. Rather than serialise the whole run, every latency figure
carries how much of its test's call overlapped calls on other workers (from the reports' own
start/stop times, which the xdist controller receives from every worker).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pytest_openshell.xdist_roles import worker_id

_PARAM = re.compile(r"\[([^\[\]]+)\](?:@[^\]]*)?$")


@dataclass(frozen=True)
class Call:
    nodeid: str
    worker: str
    start: float
    stop: float


def worker_of(report: Any) -> str:
    return worker_id(getattr(report, "node", None), "main")  # the node is set by xdist on the controller side


def load_condition(mine: Call, calls: list[Call], workers: int) -> dict[str, Any]:
    """Share of ``mine``'s call during which another worker ran a test, and which tests those were."""
    window = max(mine.stop - mine.start, 1e-9)
    beside = [c for c in calls if c.worker != mine.worker and c.start < mine.stop and c.stop > mine.start]
    busy = _union([(max(c.start, mine.start), min(c.stop, mine.stop)) for c in beside])
    return {
        "parallelWorkers": workers,
        "besideFraction": round(busy / window, 3),
        "besideTests": sorted({short_name_of(c.nodeid) or c.nodeid for c in beside}),
    }


def short_name_of(nodeid: str) -> str | None:
    """``path::test[Name]`` (xdist may append ``@group``) -> ``Name``; None for an unparametrized test."""
    found = _PARAM.search(nodeid)
    return found[1] if found else None


def _union(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(spans):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total
