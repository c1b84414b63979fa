"""Conformance of OpenShell's compute driver and gateway identity on the cluster under test."""

from conformance.openshell import driver_contract, identity

TESTS = driver_contract.TESTS + identity.TESTS
