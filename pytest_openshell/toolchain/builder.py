"""Build pinned binaries from their wrapper module with ``go build``.

All binaries of one module are built in one ``go build`` so shared packages compile once. The
build runs under a file lock and lands in the cache by atomic rename, so concurrent harness runs
never see a half-written binary and never build the same thing twice.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from pytest_openshell.errors import HarnessError
from pytest_openshell.toolchain.cache import cache_root, logs_dir
from pytest_openshell.toolchain.pins import Module

Progress = Callable[[str], None]
PROGRESS_EVERY_S = 5.0


def module_cache_dir(module: Module) -> Path:
    return cache_root() / "bin" / f"{module.key}-{module.version}-{module.fingerprint()}"


def find_go() -> str | None:
    return os.environ.get("OPENSHELL_GO") or shutil.which("go")


def build_module(module: Module, progress: Progress) -> Path:
    """Build every binary of ``module`` into its cache dir (if not there yet); return the dir."""
    target = module_cache_dir(module)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if all((target / name).exists() for name in module.binaries):
            return target
        go = find_go()
        if go is None:
            names = ", ".join(module.binaries)
            raise HarnessError(
                f"no {names} binary found and Go is not installed to build it",
                fix="install Go >= 1.26 (it builds them from the Go module proxy), or point "
                "OPENSHELL_BIN_DIR at a folder holding the binaries",
            )
        _go_build(go, module, target, progress)
    return target


def _go_build(go: str, module: Module, target: Path, progress: Progress) -> None:
    log = logs_dir() / f"build-{module.key}-{module.version}.log"
    packages = [b.package for b in module.binaries.values()]
    env = {**os.environ, "GOWORK": "off", "GOFLAGS": "-mod=readonly", "CGO_ENABLED": "0"}
    total = _count_packages(go, module, packages, env)
    started = time.monotonic()
    progress(f"building {module.key} {module.version} ({', '.join(module.binaries)}); log: {log}")
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        cmd = [go, "build", "-v", "-trimpath", "-ldflags", f"-s -w {module.rendered_ldflags()}"]
        if len(packages) == 1:
            cmd += ["-o", str(staging / next(iter(module.binaries)))]
        else:
            cmd += ["-o", str(staging) + os.sep]
        cmd += packages
        with open(log, "w") as logf:
            logf.write(f"$ (cd {module.dir} && {' '.join(cmd)})\n")
            logf.flush()
            proc = subprocess.Popen(cmd, cwd=module.dir, env=env, stdout=logf, stderr=subprocess.PIPE, text=True)
            assert proc.stderr is not None
            compiled, last = 0, 0.0
            for line in proc.stderr:
                logf.write(line)
                compiled += 1
                now = time.monotonic()
                if now - last >= PROGRESS_EVERY_S:
                    last = now
                    of = f"/{total}" if total else ""
                    progress(f"  {module.key}: {compiled}{of} packages compiled, {now - started:.0f}s")
            rc = proc.wait()
        if rc != 0:
            cause = explain_build_failure(log.read_text(errors="replace"))
            raise HarnessError(f"building {module.key} {module.version} failed (exit {rc}){': ' + cause if cause else ''}",
                               fix=f"read the build log {log}" + ("; pin a version the proxy serves in " + str(module.dir / "go.mod")
                                                                  if cause else ""))
        if len(packages) > 1:
            # go build names outputs after the package's last path element.
            for name, binary in module.binaries.items():
                built = staging / binary.package.rstrip("/").rsplit("/", 1)[-1]
                if built != staging / name:
                    built.rename(staging / name)
        target.mkdir(parents=True, exist_ok=True)
        for name in module.binaries:
            os.replace(staging / name, target / name)
        progress(f"built {module.key} {module.version} in {time.monotonic() - started:.0f}s -> {target}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# go: <module>@<version>: reading https://<proxy>/<module>/@v/<version>.zip: 404 Not Found
_NOT_SERVED = re.compile(r"(?P<mod>[\w./~-]+)@(?P<ver>v[\w.+-]+): reading (?P<url>https?://\S+?): (?P<status>(?:403|404|410)[^\n]*)")


def explain_build_failure(log: str) -> str | None:
    """The one line that matters in a failed build's log, when we know what it means."""
    found = _NOT_SERVED.search(log)
    if found:
        proxy = found["url"].split(found["mod"])[0].rstrip("/")
        return f"{found['mod']} {found['ver']} is not served by the Go module proxy {proxy} ({found['status'].strip()})"
    return None


def _count_packages(go: str, module: Module, packages: list[str], env: dict[str, str]) -> int | None:
    try:
        out = subprocess.run(
            [go, "list", "-deps", *packages], cwd=module.dir, env=env, capture_output=True, text=True, timeout=300
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return len(out.stdout.split()) if out.returncode == 0 else None
