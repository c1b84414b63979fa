"""pytest-openshell: a pytest plugin and conformance harness for OpenShell's Kubernetes path."""

__version__ = "0.1.0"
