"""Build the reference gateway's image offline: Debian rootfs + python3 + the project's deps + the package.

Nothing can be pulled, so the image is made the way the kind node image is (kindimage.node): a
debootstrap'ed Debian bookworm rootfs (cached once under the cache root), the project's Python
dependencies installed into it from PyPI as cp311 wheels (bookworm's python3 is 3.11; cached by
their list), and the ``pytest_openshell`` package copied in; then ``docker import``. Its tag is a hash
of all of that, so a changed line of the gateway or driver gives a new image and nothing stale runs.
The same image runs both containers of the chart's pod (gateway and reference driver).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pytest_openshell.errors import HarnessError
from pytest_openshell.kindimage.docker import docker_binary
from pytest_openshell.kindimage.rootfs import DEBIAN_SUITE, build_once, debootstrap
from pytest_openshell.progress import Progress
from pytest_openshell.toolchain.cache import cache_root, logs_dir

GATEWAY_REPO = "localhost/pytest-openshell/gateway"
PACKAGES = ("python3", "ca-certificates")
PYTHON_ABI = ("3.11", "cp311")  # bookworm's python3
# What `python -m pytest_openshell.reference.gateway|driver` imports (pyproject's runtime deps less
# the pytest-only ones, which the servers never import).
REQUIREMENTS = ("kubernetes>=31", "cryptography>=42", "PyYAML>=6", "filelock>=3.13", "grpcio>=1.85.1",
                "protobuf>=7.35.1", "PyJWT>=2.8")
SITE = "opt/pytest-openshell/site"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def gateway_image_tag() -> str:
    """``localhost/pytest-openshell/gateway:<hash of recipe, deps and package sources>``."""
    h = hashlib.sha256()
    h.update(" ".join((DEBIAN_SUITE, *PACKAGES, *PYTHON_ABI, *REQUIREMENTS)).encode())
    for path in _package_files():
        h.update(str(path.relative_to(PACKAGE_ROOT)).encode() + b"\0" + path.read_bytes())
    return f"{GATEWAY_REPO}:{h.hexdigest()[:12]}"


def _package_files() -> list[Path]:
    return sorted(p for p in PACKAGE_ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def ensure_gateway_image(progress: Progress) -> str:
    """The gateway image's tag, building it first when docker does not have it yet."""
    tag = gateway_image_tag()
    work_root = cache_root() / "gateway-image"

    def build() -> None:
        base = debootstrap(work_root, PACKAGES, "the offline gateway image", progress,
                           fix="apt-get install -y debootstrap and run as root")
        _import(tag, base, _site_packages(work_root, progress), work_root)

    return build_once(tag, work_root / "image.lock", "gateway image", build, progress)


def _site_packages(work_root: Path, progress: Progress) -> Path:
    """The deps as wheels for the image's interpreter (not the host's), installed into a plain dir."""
    key = hashlib.sha256(" ".join((*PYTHON_ABI, *REQUIREMENTS)).encode()).hexdigest()[:10]
    site = work_root / f"site-{key}"
    if (site / ".complete").exists():
        return site
    shutil.rmtree(site, ignore_errors=True)
    log = logs_dir() / "gateway-image-pip.log"
    progress(f"  pip install {len(REQUIREMENTS)} requirements (cp311 wheels) for the image; log: {log}")
    version, abi = PYTHON_ABI
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(site),
           "--python-version", version, "--implementation", "cp", "--abi", abi, "--only-binary=:all:",
           *[f"--platform=manylinux_2_{n}_x86_64" for n in (17, 28, 34)], "--platform=manylinux2014_x86_64",
           *REQUIREMENTS]
    with open(log, "w") as logf:
        rc = subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        shutil.rmtree(site, ignore_errors=True)
        raise HarnessError(f"pip could not fetch the gateway image's Python dependencies (exit {rc})", fix=f"read {log}")
    (site / ".complete").touch()
    return site


def _import(tag: str, base: Path, site: Path, work_root: Path) -> None:
    """One tar stream: the base rootfs, the deps and the package under /opt; ``docker import`` reads it."""
    work = Path(tempfile.mkdtemp(prefix="build-", dir=work_root))
    try:
        overlay = work / "overlay"
        target = overlay / SITE
        shutil.copytree(site, target, ignore=shutil.ignore_patterns(".complete"))
        for path in _package_files():
            dest = target / "pytest_openshell" / path.relative_to(PACKAGE_ROOT)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
        tar = subprocess.Popen(["tar", "--numeric-owner", "--exclude=./.complete", "-c", "-C", str(base), ".",
                                "-C", str(overlay), SITE.split("/site")[0]], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        imp = subprocess.Popen(
            [docker_binary(), "import", "--change", f"ENV PYTHONPATH=/{SITE}", "--change", "ENV PYTHONUNBUFFERED=1",
             "--change", 'ENTRYPOINT ["python3", "-m"]', "-", tag],
            stdin=tar.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        tar.stdout.close()  # only docker reads the pipe: tar must see EPIPE if docker dies
        _, err = imp.communicate()
        tar.wait()
        if imp.returncode != 0 or tar.returncode != 0:
            raise HarnessError(f"docker import of the gateway image failed: {err.decode(errors='replace').strip()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
