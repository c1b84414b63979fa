"""Build a kind node image offline: Debian rootfs + pinned binaries + preloaded control-plane images.

No image can be pulled here, so everything kind's own ``kind build node-image`` would fetch is made
locally (facts carried over from kind's images/base and pkg/build/nodeimage):

- the rootfs comes from debootstrap (Debian's mirror is reachable through apt): systemd as init,
  Debian's containerd 1.6 + runc + CNI plugins, iptables;
- kind's own base-image files (entrypoint, kubelet units, cgroup helpers) are copied from the
  pinned kind module source, so the node boots the way kind expects;
- kubelet/kubeadm/kubectl/kube-proxy come from the ``kubernetes-node`` pin, and ``/kind/version``
  names the Kubernetes version for kind's kubeadm config;
- the images kubeadm runs (pause, etcd, kube-apiserver/controller-manager/scheduler, and CoreDNS
  for its DNS addon) are tiny ``docker import`` images of the static binaries, tagged exactly as
  kubeadm expects, and imported into the node's containerd store at build time by a private
  containerd on the host;
- kind's default storage (local-path-provisioner, StorageClass ``standard``) as kind's build ships
  it: its manifest at ``/kind/manifests/default-storage.yaml``, its two images preloaded
  (``storage.py``), so ``kind create cluster`` installs dynamic provisioning itself.

The image tag carries a hash of every input, so it is rebuilt only when a pin or this recipe changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from pytest_openshell.errors import HarnessError
from pytest_openshell.kindimage import rootfs, storage
from pytest_openshell.kindimage.docker import docker, docker_binary, import_files
from pytest_openshell.kindimage.rootfs import DEBIAN_SUITE, build_once, debootstrap
from pytest_openshell.progress import Progress
from pytest_openshell.resources import data_dir
from pytest_openshell.toolchain import Resolver
from pytest_openshell.toolchain.cache import cache_root, logs_dir
from pytest_openshell.toolchain.modsource import module_dir
from pytest_openshell.toolchain.pins import Pins

NODE_REPO = "localhost/pytest-openshell/kind-node"
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "containerd", "runc", "containernetworking-plugins", "iptables",
    "nftables", "iproute2", "conntrack", "ethtool", "socat", "kmod", "procps", "util-linux", "mount",
    "ca-certificates", "ebtables", "libseccomp2", "pigz",
)
NODE_BINARIES = ("kubelet", "kubeadm", "kubectl", "kube-proxy")
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
# What kubeadm pulls besides the control plane; kube-proxy runs as a node service instead (no image).
ADDON_IMAGES = ("pause", "etcd", "coredns")
# kind base-image files the node needs, relative to images/base/files in the kind module
KIND_FILES = {
    "usr/local/bin/entrypoint": 0o755,
    "kind/bin/mount-product-files.sh": 0o755,
    "kind/bin/undo-mount-hacks.sh": 0o755,
    "kind/bin/create-kubelet-cgroup-v2.sh": 0o755,
    "etc/systemd/system/kubelet.service": 0o644,
    "etc/systemd/system/kubelet.slice": 0o644,
    "etc/systemd/system/undo-mount-hacks.service": 0o644,
    "etc/systemd/system/kubelet.service.d/10-kubeadm.conf": 0o644,
    "etc/systemd/system/kubelet.service.d/11-kind.conf": 0o644,
    "etc/default/kubelet": 0o644,
    "etc/sysctl.d/10-network-security.conf": 0o644,
    "etc/sysctl.d/10-network-magic.conf": 0o644,
}
ENABLED_UNITS = {
    "kubelet.service": "/etc/systemd/system/kubelet.service",
    "containerd.service": "/lib/systemd/system/containerd.service",
    "undo-mount-hacks.service": "/etc/systemd/system/undo-mount-hacks.service",
    "kube-proxy.service": "/etc/systemd/system/kube-proxy.service",
}
BIN_PATH_ENV = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _node_files() -> Path:
    return data_dir("clusters") / "kind" / "node"


def node_image_tag(pins: Pins) -> str:
    """``localhost/pytest-openshell/kind-node:v1.34.4-<hash of pins + recipe>``."""
    h = hashlib.sha256()
    for key in ("kubernetes", "kubernetes-node", "etcd", "kind", "coredns", "local-path-provisioner"):
        h.update(pins.modules[key].fingerprint().encode())
    h.update(" ".join((DEBIAN_SUITE, *PACKAGES)).encode())
    for path in sorted(_node_files().iterdir()):
        h.update(path.read_bytes())
    h.update(Path(__file__).read_bytes())  # the recipe itself
    h.update(Path(storage.__file__).read_bytes())
    h.update(Path(rootfs.__file__).read_bytes())
    return f"{NODE_REPO}:{pins.modules['kubernetes-node'].version}-{h.hexdigest()[:10]}"


def ensure_node_image(pins: Pins, resolver: Resolver, progress: Progress) -> str:
    """The node image tag, building the image first when it is not in docker yet."""
    tag = node_image_tag(pins)
    work_root = cache_root() / "kind"
    return build_once(tag, work_root / "node-image.lock", "kind node image",
                      lambda: _build(tag, pins, resolver, progress, work_root), progress)


def _build(tag: str, pins: Pins, resolver: Resolver, progress: Progress, work_root: Path) -> None:
    version = pins.modules["kubernetes-node"].version
    binaries = {n: resolver.resolve(pins.binary(n)).path for n in (*NODE_BINARIES, *CONTROL_PLANE, "etcd", "coredns")}
    base = debootstrap(work_root, PACKAGES, "the offline kind node image", progress,
                       fix="apt-get install -y debootstrap and run as root, or pass --kind-node-image with a prebuilt image")
    work = Path(tempfile.mkdtemp(prefix="build-", dir=work_root))
    try:
        rootfs = work / "rootfs"
        progress("  copying the base rootfs")
        subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(rootfs)], check=True)
        images = kubeadm_images(binaries["kubeadm"], version)
        _customize(rootfs, binaries, version, images["pause"], pins)
        progress(f"  building control-plane images: {', '.join(images.values())}")
        _control_plane_images(images, binaries, pins, work)
        # kind's own default storage (what its node-image build ships): manifest + its two images
        default_storage = storage.kind_storage(pins)
        _install(rootfs / storage.MANIFEST_PATH, default_storage.manifest.encode(), 0o644)
        made = storage.build_storage_images(
            default_storage, resolver.resolve(pins.binary("local-path-provisioner")).path, BIN_PATH_ENV)
        storage_images = [default_storage.provisioner_image, default_storage.helper_image]
        progress(f"  preloading them and kind's storage images ({', '.join(storage_images)}) into the node's containerd")
        try:
            _preload(rootfs, [*images.values(), *storage_images], work)
        finally:
            if made:
                docker("rmi", *made, check=False)
        progress("  importing the node rootfs into docker")
        # docker 20.10's import knows no STOPSIGNAL change; kind removes nodes with rm -f anyway
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        imp = subprocess.Popen(
            [docker_binary(), "import", "--change", "ENV container=docker",
             "--change", 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]', "-", tag],
            stdin=tar.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        tar.stdout.close()  # only docker reads the pipe: tar must see EPIPE if docker dies
        _, err = imp.communicate()
        tar.wait()
        if imp.returncode != 0 or tar.returncode != 0:
            raise HarnessError(f"docker import of the kind node rootfs failed: {err.decode(errors='replace').strip()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def kubeadm_images(kubeadm: Path, version: str) -> dict[str, str]:
    """What kubeadm will run for ``version``, by short name (kube-apiserver, pause, etcd, coredns, ...)."""
    out = subprocess.run(
        [str(kubeadm), "config", "images", "list", f"--kubernetes-version={version}"],
        capture_output=True, text=True, timeout=60,
    )
    if out.returncode != 0:
        raise HarnessError(f"kubeadm config images list failed: {out.stderr.strip()}")
    images = {}
    for ref in out.stdout.split():
        name = ref.rsplit("/", 1)[-1].split(":", 1)[0]
        if name in (*CONTROL_PLANE, *ADDON_IMAGES):
            images[name] = ref
    return images


def _customize(rootfs: Path, binaries: dict[str, Path], version: str, pause_image: str, pins: Pins) -> None:
    kind_files = module_dir(f"sigs.k8s.io/kind@{pins.modules['kind'].version}", pins.modules["kind"].dir) / "images/base/files"
    for rel, mode in KIND_FILES.items():
        _install(rootfs / rel, (kind_files / rel).read_bytes(), mode)
    ours = _node_files()
    config = (ours / "containerd-config.toml").read_text().replace("{pause_image}", pause_image)
    _install(rootfs / "etc/containerd/config.toml", config.encode(), 0o644)
    _install(rootfs / "etc/cni/net.d/10-bridge.conflist", (ours / "10-bridge.conflist").read_bytes(), 0o644)
    _install(rootfs / "etc/systemd/system/kube-proxy.service", (ours / "kube-proxy.service").read_bytes(), 0o644)
    _install(rootfs / "etc/crictl.yaml", b"runtime-endpoint: unix:///run/containerd/containerd.sock\n", 0o644)
    for name in NODE_BINARIES:
        _install(rootfs / "usr/bin" / name, binaries[name].read_bytes(), 0o755)
    _install(rootfs / "kind/version", f"{version}\n".encode(), 0o644)
    (rootfs / "etc/kubernetes/manifests").mkdir(parents=True, exist_ok=True)
    # kind's Dockerfile: start only what a node needs; systemd-tmpfiles-setup clobbers the container
    systemd = rootfs / "lib/systemd/system"
    (systemd / "sysinit.target.wants/systemd-tmpfiles-setup.service").unlink(missing_ok=True)
    for pattern in ("multi-user.target.wants/*", "local-fs.target.wants/*", "sockets.target.wants/*udev*",
                    "sockets.target.wants/*initctl*", "basic.target.wants/*"):
        for path in systemd.glob(pattern):
            path.unlink()
    for path in (rootfs / "etc/systemd/system").glob("*.wants/*"):
        path.unlink()
    with open(rootfs / "etc/systemd/journald.conf", "a") as f:
        f.write("ReadKMsg=no\n")
    wants = rootfs / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for unit, target in ENABLED_UNITS.items():
        (wants / unit).symlink_to(target)
    (rootfs / "etc/systemd/system/systemd-binfmt.service").symlink_to("/dev/null")
    init = rootfs / "sbin/init"
    if not init.exists() and not init.is_symlink():
        init.symlink_to("/lib/systemd/systemd")


def _install(dest: Path, data: bytes, mode: int) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    dest.write_bytes(data)
    dest.chmod(mode)


def _control_plane_images(images: dict[str, str], binaries: dict[str, Path], pins: Pins, work: Path) -> None:
    for name in (*CONTROL_PLANE, "etcd"):
        import_files(images[name], {f"/usr/local/bin/{name}": binaries[name]}, (BIN_PATH_ENV,))
    # upstream's image layout: the binary at /coredns as entrypoint; kubeadm's Deployment passes -conf
    import_files(images["coredns"], {"/coredns": binaries["coredns"]}, ('ENTRYPOINT ["/coredns"]',))
    # pause is C in the Kubernetes tree; the pinned module carries its source
    k8s = module_dir(f"k8s.io/kubernetes@{pins.modules['kubernetes-node'].version}", pins.modules["kubernetes-node"].dir)
    pause = work / "pause"
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise HarnessError("building the pause image needs a C compiler", fix="apt-get install -y gcc libc6-dev")
    subprocess.run([gcc, "-Os", "-static", "-DVERSION=" + images["pause"].rsplit(":", 1)[-1], "-o", str(pause),
                    str(k8s / "build/pause/linux/pause.c")], check=True, capture_output=True)
    import_files(images["pause"], {"/pause": pause}, ('ENTRYPOINT ["/pause"]',))


def _preload(rootfs: Path, tags: list[str], work: Path) -> None:
    """Import ``tags`` into ``rootfs``'s containerd store with a private containerd on the host.

    It is the same Debian containerd the node runs (docker.io depends on it), so the store format
    matches; the images are not unpacked, the node's CRI unpacks them on first use.
    """
    containerd, ctr = shutil.which("containerd"), shutil.which("ctr")
    if containerd is None or ctr is None:
        raise HarnessError("preloading images needs containerd and ctr on the host", fix="apt-get install -y containerd")
    archive = work / "images.tar"
    docker("save", "-o", str(archive), *tags)
    state = Path(tempfile.mkdtemp(prefix="ctrd-", dir="/run" if os.access("/run", os.W_OK) else None))
    sock = state / "c.sock"  # short path: unix socket paths are limited to 108 bytes
    config = state / "config.toml"
    config.write_text(
        f'version = 2\nroot = "{rootfs}/var/lib/containerd"\nstate = "{state}/state"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{sock}"\n[ttrpc]\n  address = "{sock}.ttrpc"\n'
    )
    log = logs_dir() / "kind-node-preload-containerd.log"
    with open(log, "w") as logf:
        proc = subprocess.Popen([containerd, "--config", str(config)], stdout=logf, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([ctr, "-a", str(sock), "version"], capture_output=True).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise HarnessError("the private containerd for preloading did not start", fix=f"read {log}")
            time.sleep(0.2)
        out = subprocess.run([ctr, "-a", str(sock), "-n", "k8s.io", "images", "import", "--all-platforms",
                              "--no-unpack", "--digests", str(archive)], capture_output=True, text=True)
        if out.returncode != 0:
            raise HarnessError(f"ctr images import failed: {out.stderr.strip()}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(state, ignore_errors=True)
