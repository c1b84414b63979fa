from pytest_openshell.agentsandbox import name_hash


def test_name_hash_is_fnv1a_32_hex() -> None:
    # Reference vectors of FNV-1a 32-bit.
    assert name_hash("") == "811c9dc5"
    assert name_hash("a") == "e40c292c"
    assert name_hash("foobar") == "bf9cf968"
    assert len(name_hash("a-very-long-sandbox-name-0123456789")) == 8
