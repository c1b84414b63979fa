"""Features and profiles, read from each registered suite's ``features.yaml`` (the shipped one:
``conformance/features.yaml``) and merged into one catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Profile:
    name: str
    core: tuple[str, ...]
    extended: tuple[str, ...]

    @property
    def features(self) -> tuple[str, ...]:
        return self.core + self.extended


@dataclass(frozen=True)
class Catalogue:
    features: dict[str, str]
    profiles: dict[str, Profile]
    # node mode ("simulated", "real") -> features a cluster of that mode cannot exercise
    node_mode_gaps: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # feature -> the unmerged upstream proposal it follows
    provisional: dict[str, str] = field(default_factory=dict)
    # features stricter than the contract: the harness's recommendations
    recommendations: tuple[str, ...] = ()

    def provisional_features(self, features: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(f for f in features if f in self.provisional)



def default_path() -> Path:
    """The shipped suite's features.yaml."""
    from pytest_openshell.suite.registry import suites

    return suites()[0].features


def _merged() -> dict[str, Any]:
    from pytest_openshell.suite.registry import suites

    out: dict[str, Any] = {"features": {}, "profiles": {}, "node_modes": {}, "provisional": {}, "recommendations": []}
    for suite in suites():
        raw = yaml.safe_load(suite.features.read_text())
        for key in ("features", "profiles", "provisional"):
            out[key].update(raw.get(key) or {})
        for mode, names in (raw.get("node_modes") or {}).items():
            out["node_modes"].setdefault(mode, []).extend(names)
        out["recommendations"] += list(raw.get("recommendations") or ())
    return out


@lru_cache(maxsize=4)
def load_catalogue(path: Path | None = None) -> Catalogue:
    """One suite's catalogue (``path``), or every registered suite's merged (default)."""
    raw = yaml.safe_load(path.read_text()) if path is not None else _merged()
    profiles = {
        name: Profile(name, tuple(spec.get("core", ())), tuple(spec.get("extended", ())))
        for name, spec in raw["profiles"].items()
    }
    features = dict(raw["features"])
    for profile in profiles.values():
        unknown = set(profile.features) - set(features)
        if unknown:
            raise ValueError(f"profile {profile.name} names unknown features {sorted(unknown)}")
    gaps = {mode: tuple(names) for mode, names in (raw.get("node_modes") or {}).items()}
    unknown_gaps = {f for names in gaps.values() for f in names} - set(features)
    if unknown_gaps:
        raise ValueError(f"node_modes names unknown features {sorted(unknown_gaps)}")
    provisional = {str(k): str(v) for k, v in (raw.get("provisional") or {}).items()}
    recommendations = tuple(raw.get("recommendations") or ())
    unknown_marks = (set(provisional) | set(recommendations)) - set(features)
    if unknown_marks:
        raise ValueError(f"provisional/recommendations name unknown features {sorted(unknown_marks)}")
    return Catalogue(features, profiles, gaps, provisional, recommendations)
