"""Conformance of the agent-sandbox controller installed in the cluster (upstream or a vendor's)."""

from conformance.agent_sandbox import core, edges, extensions, lifecycle, policies, rollout, storage, upgrade

TESTS = (core.TESTS + extensions.TESTS + lifecycle.TESTS + edges.TESTS + rollout.TESTS + storage.TESTS + policies.TESTS
         + upgrade.TESTS)
