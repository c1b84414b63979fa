"""Sandbox identity from Kubernetes service-account tokens, shared by the reference gateway and driver."""

from pytest_openshell.reference.identity.chain import ServiceAccountVerifier, VerifiedSandbox
from pytest_openshell.reference.identity.policy import NAMESPACE_MODES, IdentityPolicy, NamespaceMode
from pytest_openshell.reference.identity.records import ClaimRecords, MemoryClaimRecords

__all__ = ["NAMESPACE_MODES", "ClaimRecords", "IdentityPolicy", "MemoryClaimRecords", "NamespaceMode",
           "ServiceAccountVerifier", "VerifiedSandbox"]
