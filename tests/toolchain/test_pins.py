"""The pins are data; these tests keep the data coherent with the wrapper modules."""

from __future__ import annotations

import re

import pytest

from pytest_openshell.errors import HarnessError
from pytest_openshell.toolchain import load_pins


def test_every_module_has_a_wrapper_with_its_version() -> None:
    for module in load_pins().modules.values():
        gomod = (module.dir / "go.mod").read_text()
        assert (module.dir / "go.sum").exists()
        assert module.version in gomod, f"{module.key}: go.mod does not pin {module.version}"


def test_kubernetes_staging_modules_are_replaced_with_published_versions() -> None:
    module = load_pins().modules["kubernetes"]
    gomod = (module.dir / "go.mod").read_text()
    minor = module.version.split(".")[1]
    replaces = re.findall(r"^\s*(k8s\.io/\S+) => (k8s\.io/\S+) (\S+)$", gomod, re.M)
    assert len(replaces) > 20
    assert all(src == dst and ver == f"v0.{minor}.{module.version.split('.')[2]}" for src, dst, ver in replaces)


def test_lanes_cover_both_api_lines() -> None:
    pins = load_pins()
    assert pins.lane("v0.4.6").api_versions == ("v1alpha1",)
    assert pins.lane(None).api_versions[0] == "v1beta1"


def test_unknown_lane_names_the_supported_ones() -> None:
    with pytest.raises(HarnessError, match=r"v0\.4\.6"):
        load_pins().lane("v9.9.9")
