"""Conformance of the agent-sandbox controller installed in the cluster (upstream or a vendor's)."""

from conformance.agent_sandbox import core, extensions

TESTS = core.TESTS + extensions.TESTS
