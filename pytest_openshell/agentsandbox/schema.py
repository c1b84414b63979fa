"""What fields the installed lane's CRDs serve, read from the API server (the CRD's openAPI schema).

A suite decides "unsupported on this lane" from this, never from a version number: a vendor's
controller or a later release may serve the field on the other API line.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from pytest_openshell.agentsandbox.api import GROUPS, PLURALS

Schema = dict[str, Any]


def crd_schema(api: k8s.ApiClient, kind: str, version: str) -> Schema:
    """The openAPIV3Schema the API server validates ``kind`` at ``version`` with ({} if it serves none)."""
    crd = k8s.ApiextensionsV1Api(api).read_custom_resource_definition(f"{PLURALS[kind]}.{GROUPS[kind]}")
    for served in crd.spec.versions:
        if served.name == version and served.served and served.schema is not None:
            out: Schema = api.sanitize_for_serialization(served.schema.open_apiv3_schema)
            return out
    return {}


def has_field(schema: Schema, path: str) -> bool:
    """Whether ``path`` (dotted, e.g. ``spec.lifecycle.ttlSecondsAfterFinished``) is in ``schema``;
    list items are walked through, so ``spec.volumeClaimTemplates.spec`` names the items' field."""
    node = schema
    for part in path.split("."):
        while node.get("type") == "array" and "items" in node:
            node = node["items"]
        props = node.get("properties") or {}
        if part not in props:
            return False
        node = props[part]
    return True


def missing_fields(api: k8s.ApiClient, kind: str, version: str, paths: list[str]) -> list[str]:
    schema = crd_schema(api, kind, version)
    return [p for p in paths if not has_field(schema, p)]
