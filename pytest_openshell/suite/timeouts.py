"""One timeout config for every wait of the suites, and the latency budgets and suite sizes.

Defaults here; a YAML file (--openshell-timeouts) and NAME=VALUE options override them.
Anything malformed is refused up front with a message that names the key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pytest_openshell.errors import HarnessError

DEFAULT_TIMEOUTS: dict[str, float] = {
    "sandbox_ready": 30.0,
    "pool_ready": 60.0,
    "claim_ready": 30.0,
    "endpoints": 30.0,
    "pod_recreate": 30.0,
    # after a Sandbox reports Finished=True, how long a replacement pod may still take to appear
    "finished_grace": 5.0,
    "suspend": 30.0,
}
DEFAULT_BUDGETS: dict[str, float] = {
    # Upstream's own load tests hold p50/p90 <= 1 s for a claim; we ask p95 <= 1 s of a warm bind.
    "warm_ready_p95_ms": 1000.0,
}
DEFAULT_SIZES: dict[str, int] = {"warm_pool": 5, "claims": 30, "burst": 8, "cold_claims": 5}


def _number(kind: str, key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise HarnessError(f"{kind} {key!r} must be a number, got {value!r}") from None
    if number <= 0:
        raise HarnessError(f"{kind} {key!r} must be positive, got {value!r}")
    return number


def parse_pairs(kind: str, items: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise HarnessError(f"{kind} {item!r} is not NAME=VALUE")
        out[key.strip()] = value.strip()
    return out


def _merge(kind: str, defaults: Mapping[str, float], overrides: Mapping[str, Any]) -> dict[str, float]:
    unknown = set(overrides) - set(defaults)
    if unknown:
        raise HarnessError(f"unknown {kind} name(s) {sorted(unknown)}", fix=f"known: {', '.join(sorted(defaults))}")
    return {**defaults, **{k: _number(kind, k, v) for k, v in overrides.items()}}


@dataclass(frozen=True)
class SuiteConfig:
    timeouts: dict[str, float]
    budgets: dict[str, float]
    sizes: dict[str, int]

    def timeout(self, name: str) -> float:
        return self.timeouts[name]


def load_config(timeouts_file: str | None, timeouts: Iterable[str] = (), budgets: Iterable[str] = (),
                sizes: Iterable[str] = ()) -> SuiteConfig:
    from_file: dict[str, Any] = {}
    if timeouts_file:
        path = Path(timeouts_file)
        try:
            loaded = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise HarnessError(f"timeout config {path} cannot be read: {exc}", fix="pass a readable YAML file to --openshell-timeouts") from None
        except yaml.YAMLError as exc:
            raise HarnessError(f"timeout config {path} is not valid YAML: {exc}".replace("\n", " "),
                               fix="write a mapping of name: seconds") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise HarnessError(f"timeout config {path} must be a mapping of name: seconds")
        from_file = dict(loaded or {})
    merged_timeouts = _merge("timeout", DEFAULT_TIMEOUTS, {**from_file, **parse_pairs("--openshell-timeout", timeouts)})
    merged_budgets = _merge("budget", DEFAULT_BUDGETS, parse_pairs("--openshell-budget", budgets))
    raw_sizes = _merge("size", {k: float(v) for k, v in DEFAULT_SIZES.items()}, parse_pairs("--openshell-size", sizes))
    return SuiteConfig(merged_timeouts, merged_budgets, {k: max(1, int(v)) for k, v in raw_sizes.items()})
