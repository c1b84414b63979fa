"""Reference implementations of OpenShell's Kubernetes path, for the conformance suites to test against.

- :mod:`.driver`: a ComputeDriver (``openshell.compute.v1``) over a Unix socket, backed by agent-sandbox.
- :mod:`.gateway`: the ``openshell.v1`` subset a gateway serves (sandbox CRUD, sandbox tokens).
- :mod:`.identity`: the service-account identity chain both of them verify.
- :mod:`.faults`: named mutants, switched on only through ``start_driver``/``start_gateway``.
- :mod:`.clients`: gRPC client helpers.
"""
