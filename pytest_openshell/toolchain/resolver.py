"""Find each binary: explicit option -> env -> PATH -> versioned cache -> build with Go."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pytest_openshell.errors import HarnessError
from pytest_openshell.toolchain.builder import Progress, build_module, module_cache_dir
from pytest_openshell.toolchain.pins import Binary

BIN_DIR_ENV = "OPENSHELL_BIN_DIR"


@dataclass(frozen=True)
class ResolvedBinary:
    name: str
    path: Path
    source: str  # option | env:NAME | path | cache | built


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _lookup_name(binary: Binary) -> str:
    # A lane-specific controller must not be mistaken for another lane's on PATH.
    return f"{binary.name}-{binary.module.version}" if binary.module.source else binary.name


class Resolver:
    def __init__(
        self,
        explicit: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
        progress: Progress | None = None,
        which: Callable[[str], str | None] = shutil.which,
    ) -> None:
        self.explicit = dict(explicit or {})
        self.environ = os.environ if environ is None else environ
        self.progress: Progress = progress or (lambda _msg: None)
        self._which = which

    def resolve(self, binary: Binary, *, build: bool = True) -> ResolvedBinary:
        found = self.find(binary)
        if found is not None:
            return found
        if not build:
            raise HarnessError(f"no {binary.name} binary found", fix=self.hint(binary))
        directory = build_module(binary.module, self.progress)
        return ResolvedBinary(binary.name, directory / binary.name, "built")

    def find(self, binary: Binary) -> ResolvedBinary | None:
        """Everything short of building; None when the binary would have to be built."""
        if binary.name in self.explicit:
            path = Path(self.explicit[binary.name])
            if not _executable(path):
                raise HarnessError(f"--openshell-binary {binary.name}={path} is not an executable file")
            return ResolvedBinary(binary.name, path, "option")
        for var in binary.env:
            if self.environ.get(var):
                path = Path(self.environ[var])
                if not _executable(path):
                    raise HarnessError(f"${var}={path} is not an executable file", fix=f"unset {var} or fix the path")
                return ResolvedBinary(binary.name, path, f"env:{var}")
        dirs = []
        if binary.kubebuilder and self.environ.get("KUBEBUILDER_ASSETS"):
            dirs.append(("KUBEBUILDER_ASSETS", Path(self.environ["KUBEBUILDER_ASSETS"]), binary.name))
        if self.environ.get(BIN_DIR_ENV):
            dirs.append((BIN_DIR_ENV, Path(self.environ[BIN_DIR_ENV]), _lookup_name(binary)))
        for var, directory, name in dirs:
            if _executable(directory / name):
                return ResolvedBinary(binary.name, directory / name, f"env:{var}")
        on_path = self._which(_lookup_name(binary))
        if on_path:
            return ResolvedBinary(binary.name, Path(on_path), "path")
        cached = module_cache_dir(binary.module) / binary.name
        if _executable(cached):
            return ResolvedBinary(binary.name, cached, "cache")
        return None

    @staticmethod
    def hint(binary: Binary) -> str:
        envs = " or ".join(["$" + e for e in binary.env] + [f"${BIN_DIR_ENV}/{_lookup_name(binary)}"])
        return f"pass --openshell-binary {binary.name}=PATH, set {envs}, or install Go to build it"
