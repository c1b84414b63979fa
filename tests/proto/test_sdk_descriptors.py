"""Our openshell.v1 / datamodel / sandbox messages against the official SDK's (PyPI ``openshell``).

For every (message, field number) both define, the type and cardinality must be the same, and we
must not use a number the SDK reserved. The SDK is read in a subprocess (tests/proto/sdk.py).
"""

from __future__ import annotations

import pytest

from pytest_openshell import proto_facts
from pytest_openshell._proto.openshell.datamodel.v1 import datamodel_pb2
from pytest_openshell._proto.openshell.sandbox.v1 import sandbox_pb2
from pytest_openshell._proto.openshell.v1 import openshell_pb2
from tests.proto.sdk import MISSING, SDK_VERSION, sdk_facts, sdk_version

OURS = [m.__name__ for m in (openshell_pb2, datamodel_pb2, sandbox_pb2)]


@pytest.fixture(scope="module")
def sdk() -> proto_facts.Facts:
    version = sdk_version()
    assert version is not None, MISSING
    assert tuple(int(p) for p in version.split(".")[:3]) >= tuple(int(p) for p in SDK_VERSION.split(".")), (
        f"openshell {version} is older than {SDK_VERSION}: pip install -e '.[test]'")
    return proto_facts.normalise(sdk_facts())


def test_every_shared_field_number_has_the_sdks_type(sdk: proto_facts.Facts) -> None:
    ours = proto_facts.module_facts(OURS)
    clashes = proto_facts.clashes(ours, sdk)
    assert not clashes, "our proto/ disagrees with the openshell SDK on the wire:\n" + "\n".join(map(str, clashes))
    # The comparison covered something: every message of ours exists in the SDK, with most of its numbers.
    assert set(ours) <= set(sdk), f"messages the SDK does not define: {sorted(set(ours) - set(sdk))}"
    assert proto_facts.shared_fields(ours, sdk) >= 90


def test_the_sdk_generation_fields_are_present(sdk: proto_facts.Facts) -> None:
    """The numbers the SDK client depends on (paging, expiry, deletion outcome) are ours with its types."""
    ours = proto_facts.module_facts(OURS)
    for message, number in [("openshell.v1.ListSandboxesRequest", 2), ("openshell.v1.ListSandboxesResponse", 2),
                            ("openshell.v1.IssueSandboxTokenResponse", 102), ("openshell.v1.DeleteSandboxResponse", 2),
                            ("openshell.v1.DeleteSandboxRequest", 3), ("openshell.v1.SandboxSpec", 9)]:
        assert ours[message]["fields"][number]["type"] == sdk[message]["fields"][number]["type"], (message, number)
    assert 2 in ours["openshell.v1.IssueSandboxTokenResponse"]["reserved"]
