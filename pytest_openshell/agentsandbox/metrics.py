"""Read the controller's claim-latency histograms from its Prometheus endpoint."""

from __future__ import annotations

import math
import re
import urllib.request
from dataclasses import dataclass
from typing import Any

CLAIM_STARTUP = "agent_sandbox_claim_startup_latency_ms"
CLAIM_CONTROLLER_STARTUP = "agent_sandbox_claim_controller_startup_latency_ms"
_LINE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass
class Histogram:
    name: str
    buckets: dict[float, float]  # upper bound -> cumulative count
    count: float
    sum: float

    def minus(self, before: Histogram | None) -> Histogram:
        """The observations made since ``before`` (histograms only grow)."""
        if before is None:
            return self
        return Histogram(self.name, {le: c - before.buckets.get(le, 0.0) for le, c in self.buckets.items()},
                         self.count - before.count, self.sum - before.sum)

    def quantile_upper_bound(self, q: float) -> float | None:
        """The bucket bound under which a fraction q of the observations lie (what buckets can say)."""
        if self.count <= 0:
            return None
        target = q * self.count
        for le in sorted(self.buckets):
            if self.buckets[le] >= target:
                return le
        return math.inf

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count > 0 else None


def scrape(url: str, timeout: float = 5.0, api: Any = None) -> str:
    """The metrics text at ``url``: an http(s) URL, or a path on the API server (its service or pod
    proxy, for a controller inside the cluster) fetched with ``api``'s credentials."""
    if url.startswith("/"):
        if api is None:
            raise ValueError(f"{url} is a path on the API server: scraping it needs an API client")
        request = api.param_serialize("GET", url, header_params={"Accept": "text/plain"}, auth_settings=["BearerToken"])
        resp = api.call_api(*request, _request_timeout=timeout)
        body = resp.read()
        if not 200 <= resp.status < 300:
            raise RuntimeError(f"GET {url}: HTTP {resp.status}: {body[:300]!r}")
        return str(body.decode())
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return str(resp.read().decode())


def histogram(text: str, name: str, **match: str) -> Histogram | None:
    """Sum the series of histogram ``name`` whose labels include ``match``."""
    buckets: dict[float, float] = {}
    count = total = 0.0
    seen = False
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m or not m.group("name").startswith(name):
            continue
        labels = dict(_LABEL.findall(m.group("labels") or ""))
        if any(labels.get(k) != v for k, v in match.items()):
            continue
        suffix = m.group("name")[len(name):]
        value = float(m.group("value"))
        if suffix == "_bucket":
            le = float(labels["le"]) if labels["le"] != "+Inf" else math.inf
            buckets[le] = buckets.get(le, 0.0) + value
            seen = True
        elif suffix == "_count":
            count += value
        elif suffix == "_sum":
            total += value
    return Histogram(name, buckets, count, total) if seen else None
