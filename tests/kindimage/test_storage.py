"""kind's default storage as the offline node image ships it (pytest_openshell/kindimage/storage.py)."""

from __future__ import annotations

import pytest
import yaml

from pytest_openshell.errors import HarnessError
from pytest_openshell.kindimage.storage import DEPLOYMENT, NAMESPACE, STORAGE_CLASS, kind_storage, parse_const_storage
from pytest_openshell.toolchain.pins import load_pins


def test_manifest_is_kinds_own_with_its_images_substituted() -> None:
    storage = kind_storage(load_pins())
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(storage.manifest) if d}
    sc = docs[("StorageClass", STORAGE_CLASS)]
    assert sc["provisioner"] == "rancher.io/local-path" and sc["volumeBindingMode"] == "WaitForFirstConsumer"
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    deploy = docs[("Deployment", DEPLOYMENT)]
    assert deploy["metadata"]["namespace"] == NAMESPACE
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    # what the preloaded images must be tagged as: nothing in the manifest is edited
    assert container["image"] == storage.provisioner_image
    assert container["command"][container["command"].index("--helper-image") + 1] == storage.helper_image
    helper = yaml.safe_load(docs[("ConfigMap", "local-path-config")]["data"]["helperPod.yaml"])
    assert helper["spec"]["containers"][0]["image"] == storage.helper_image
    assert "` +" not in storage.manifest


def test_a_moved_manifest_is_named_not_guessed() -> None:
    with pytest.raises(HarnessError, match="has moved"):
        parse_const_storage('const storageHelperImage = "x"\n', "const_storage.go")
    with pytest.raises(HarnessError, match="unresolved"):
        parse_const_storage('const storageProvisionerImage = "a"\nconst storageHelperImage = "b"\n'
                            "const defaultStorageManifest = `\nimage: ` + other + `\n`\n")
