"""Features and profiles, read from ``conformance/features.yaml``."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

import conformance


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

    def profile_of(self, feature: str) -> Profile:
        for profile in self.profiles.values():
            if feature in profile.features:
                return profile
        raise KeyError(feature)


def default_path() -> Path:
    return Path(conformance.__file__).resolve().parent / "features.yaml"


@lru_cache(maxsize=4)
def load_catalogue(path: Path | None = None) -> Catalogue:
    raw = yaml.safe_load((path or default_path()).read_text())
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
