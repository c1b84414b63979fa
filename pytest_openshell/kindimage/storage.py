"""kind's default storage, made offline: what ``kind build node-image`` puts in every node image.

kind's node-image build writes its local-path-provisioner manifest to
``/kind/manifests/default-storage.yaml`` and preloads the provisioner and helper images it names;
``kind create cluster`` then applies that file ("Installing StorageClass"). Without the file kind
falls back to a ``kubernetes.io/host-path`` StorageClass that provisions nothing, so PVCs never bind.
We do what kind's build does, from the pinned modules: the manifest is read from the kind module's
own source (``pkg/build/nodeimage/const_storage.go``, so it follows the kind pin), the provisioner
image carries the pinned rancher local-path-provisioner binary, and the helper image (which runs the
setup/teardown scripts in helper pods) is a static busybox. Both are tagged exactly as kind's
manifest names them, so nothing is edited and nothing is pulled.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from pytest_openshell.errors import HarnessError
from pytest_openshell.kindimage.docker import image_exists, import_files
from pytest_openshell.toolchain.modsource import module_dir
from pytest_openshell.toolchain.pins import Pins

MANIFEST_PATH = "kind/manifests/default-storage.yaml"  # relative to the node's rootfs
NAMESPACE = "local-path-storage"
DEPLOYMENT = "local-path-provisioner"
STORAGE_CLASS = "standard"
# what the ConfigMap's setup/teardown scripts and the provisioner's helper pods call
HELPER_APPLETS = ("sh", "mkdir", "rm", "chmod", "ls", "cat", "true", "sleep")
_CONST = re.compile(r'^const (\w+) = "([^"]*)"$', re.M)
_MANIFEST = re.compile(r"^const defaultStorageManifest = `(.*?)^`$", re.M | re.S)  # raw string to a lone backquote


@dataclass(frozen=True)
class KindStorage:
    manifest: str
    provisioner_image: str
    helper_image: str


def kind_storage(pins: Pins) -> KindStorage:
    """kind's default-storage manifest and its two image references, from the pinned kind module."""
    kind = pins.modules["kind"]
    source = module_dir(f"sigs.k8s.io/kind@{kind.version}", kind.dir) / "pkg/build/nodeimage/const_storage.go"
    return parse_const_storage(source.read_text(), str(source))


def parse_const_storage(go_source: str, where: str = "const_storage.go") -> KindStorage:
    """The manifest with kind's image constants substituted, as the Go compiler would."""
    consts = dict(_CONST.findall(go_source))
    found = _MANIFEST.search(go_source)
    if found is None or "storageProvisionerImage" not in consts or "storageHelperImage" not in consts:
        raise HarnessError(f"{where}: kind's default-storage manifest has moved; the offline node image cannot ship it",
                           fix="update pytest_openshell/kindimage/storage.py for the pinned kind version")
    manifest = re.sub(r"` \+ (\w+) \+ `", lambda m: consts.get(m.group(1), m.group(0)), found.group(1))
    unresolved = re.findall(r"` \+ \w+", manifest)
    if unresolved:
        raise HarnessError(f"{where}: unresolved constants in kind's storage manifest: {unresolved}")
    return KindStorage(manifest.lstrip("\n"), consts["storageProvisionerImage"], consts["storageHelperImage"])


def find_busybox() -> Path:
    for candidate in ("/bin/busybox", shutil.which("busybox")):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    raise HarnessError("the kind node image's storage helper is made from a static busybox, and none is installed",
                       fix="apt-get install -y busybox-static")


def build_storage_images(storage: KindStorage, provisioner: Path, bin_path_env: str) -> list[str]:
    """The provisioner and helper images under kind's own tags, in docker; returns the tags made here.

    A user's docker may hold kind's real images under these tags: those are used as they are. The
    ones made here are for the node image only; the caller removes them once preloaded, so they
    never stand in for kind's real images in the user's docker.
    """
    busybox = find_busybox()  # checked first: a missing busybox must not leave half the images behind
    made = []
    if not image_exists(storage.provisioner_image):
        # kind's image runs `local-path-provisioner` from PATH (the Deployment's command)
        import_files(storage.provisioner_image, {"/usr/local/bin/local-path-provisioner": provisioner}, (bin_path_env,))
        made.append(storage.provisioner_image)
    if not image_exists(storage.helper_image):
        import_files(storage.helper_image, {"/bin/busybox": busybox}, ("ENV PATH=/bin",),
                     links={f"/bin/{applet}": "busybox" for applet in HELPER_APPLETS})
        made.append(storage.helper_image)
    return made
