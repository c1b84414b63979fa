"""Read ``clusters/toolchain/pins.yaml``: which wrapper module builds which binary at which version."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from pytest_openshell.errors import HarnessError
from pytest_openshell.resources import data_dir


@dataclass(frozen=True)
class Binary:
    name: str
    package: str
    module: Module
    env: tuple[str, ...] = ()
    kubebuilder: bool = False


@dataclass(frozen=True)
class Module:
    key: str
    dir: Path
    version: str
    ldflags: tuple[str, ...] = ()
    source: str | None = None
    binaries: dict[str, Binary] = field(default_factory=dict, compare=False, hash=False)

    def fingerprint(self) -> str:
        """Changes whenever the pin changes, so a cached binary is never stale."""
        h = hashlib.sha256()
        for name in ("go.mod", "go.sum"):
            h.update((self.dir / name).read_bytes())
        for source in sorted(self.dir.glob("*.go")):  # a wrapper's main.go picks what is linked in
            h.update(source.name.encode() + source.read_bytes())
        h.update("\n".join(self.ldflags).encode())
        return h.hexdigest()[:10]

    def rendered_ldflags(self) -> str:
        return " ".join(flag.format(version=self.version) for flag in self.ldflags)


@dataclass(frozen=True)
class Lane:
    version: str
    module: Module
    api_versions: tuple[str, ...]


@dataclass(frozen=True)
class Pins:
    modules: dict[str, Module]
    lanes: dict[str, Lane]
    default_lane: str

    def binary(self, name: str, module: str | None = None) -> Binary:
        candidates = [m for m in self.modules.values() if name in m.binaries]
        if module is not None:
            candidates = [m for m in candidates if m.key == module]
        if len(candidates) != 1:
            raise KeyError(f"no unique pinned binary {name!r} (module={module!r})")
        return candidates[0].binaries[name]

    def lane(self, version: str | None) -> Lane:
        version = version or self.default_lane
        if version not in self.lanes:
            raise HarnessError(
                f"agent-sandbox version {version!r} is not supported by this harness",
                fix=f"use --agent-sandbox-version with one of: {', '.join(sorted(self.lanes))}",
            )
        return self.lanes[version]


def load_pins(path: Path | None = None) -> Pins:
    return _load(path or data_dir("clusters") / "toolchain" / "pins.yaml")


@lru_cache(maxsize=4)
def _load(path: Path) -> Pins:
    raw = yaml.safe_load(path.read_text())
    modules: dict[str, Module] = {}
    for key, spec in raw["modules"].items():
        module = Module(
            key=key,
            dir=path.parent / spec["dir"],
            version=spec["version"],
            ldflags=tuple(spec.get("ldflags", ())),
            source=spec.get("source"),
        )
        for bname, bspec in spec["binaries"].items():
            module.binaries[bname] = Binary(
                name=bname,
                package=bspec["package"],
                module=module,
                env=tuple(bspec.get("env", ())),
                kubebuilder=bool(bspec.get("kubebuilder", False)),
            )
        modules[key] = module
    lanes = {
        version: Lane(version, modules[spec["module"]], tuple(spec["api_versions"]))
        for version, spec in raw["agent_sandbox"]["lanes"].items()
    }
    return Pins(modules=modules, lanes=lanes, default_lane=raw["agent_sandbox"]["default"])
