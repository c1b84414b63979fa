"""The OpenShell side under test: a compute driver and a gateway, reference or external."""
