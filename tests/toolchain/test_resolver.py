"""Resolution order: option -> env -> PATH -> cache -> build; and the no-Go message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_openshell.errors import HarnessError
from pytest_openshell.toolchain import Resolver, load_pins
from pytest_openshell.toolchain.builder import module_cache_dir


def _exe(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPENSHELL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_order_option_env_path_cache(isolated: Path) -> None:
    etcd = load_pins().binary("etcd")
    cached = _exe(module_cache_dir(etcd.module) / "etcd")
    on_path = _exe(isolated / "path" / "etcd")
    from_env = _exe(isolated / "env" / "etcd")
    explicit = _exe(isolated / "opt" / "etcd")

    def which(name: str) -> str | None:
        return str(on_path) if name == "etcd" else None

    env = {"KWOK_ETCD_BINARY": str(from_env)}
    assert Resolver({"etcd": str(explicit)}, env, which=which).find(etcd).source == "option"
    assert Resolver({}, env, which=which).find(etcd).source == "env:KWOK_ETCD_BINARY"
    assert Resolver({}, {}, which=which).find(etcd).source == "path"
    found = Resolver({}, {}, which=lambda _n: None).find(etcd)
    assert (found.source, found.path) == ("cache", cached)


def test_bin_dir_and_kubebuilder_assets(isolated: Path) -> None:
    apiserver = load_pins().binary("kube-apiserver")
    _exe(isolated / "kb" / "kube-apiserver")
    env = {"KUBEBUILDER_ASSETS": str(isolated / "kb")}
    assert Resolver({}, env, which=lambda _n: None).find(apiserver).source == "env:KUBEBUILDER_ASSETS"
    controller = load_pins().lane("v0.4.6").module.binaries["agent-sandbox-controller"]
    _exe(isolated / "bin" / "agent-sandbox-controller")  # unversioned name: must not be taken for a lane
    env = {"OPENSHELL_BIN_DIR": str(isolated / "bin")}
    assert Resolver({}, env, which=lambda _n: None).find(controller) is None
    _exe(isolated / "bin" / "agent-sandbox-controller-v0.4.6")
    assert Resolver({}, env, which=lambda _n: None).find(controller).source == "env:OPENSHELL_BIN_DIR"


def test_bad_explicit_path_is_named(isolated: Path) -> None:
    with pytest.raises(HarnessError, match="not an executable"):
        Resolver({"etcd": str(isolated / "nope")}, {}).find(load_pins().binary("etcd"))


def test_no_binary_and_no_go_says_how_to_provide_them(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(isolated / "empty"))
    monkeypatch.delenv("OPENSHELL_GO", raising=False)
    with pytest.raises(HarnessError) as err:
        Resolver({}, {}, which=lambda _n: None).resolve(load_pins().binary("kwok"))
    message = str(err.value)
    assert "Go is not installed" in message and "OPENSHELL_BIN_DIR" in message
    assert "\n" not in message


def test_cache_key_changes_with_the_pin(tmp_path: Path) -> None:
    module = load_pins().modules["etcd"]
    assert module.fingerprint() == module.fingerprint()
    assert module.key in str(module_cache_dir(module)) and module.version in str(module_cache_dir(module))
    assert os.path.basename(str(module_cache_dir(module))).endswith(module.fingerprint())
