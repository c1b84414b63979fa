"""Thin helpers over the official Kubernetes client: clients, watch-based waits, namespaces."""
