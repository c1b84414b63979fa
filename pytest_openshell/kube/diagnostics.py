"""What a failed wait shows: the objects involved as YAML, their conditions, recent events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from kubernetes import client as k8s

from pytest_openshell.kube.waits import as_dict
from pytest_openshell.redact import redact

MAX_EVENTS = 30


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    return {**obj, "metadata": meta}


def namespace_diagnostic(api: k8s.ApiClient, namespace: str, extra: dict[str, Callable[[], Any]] | None = None) -> str:
    """Pods, Services, EndpointSlices, the given extra listings and the newest events, redacted."""
    core = k8s.CoreV1Api(api)
    listings: dict[str, Callable[[], Any]] = {
        "pods": lambda: core.list_namespaced_pod(namespace),
        "services": lambda: core.list_namespaced_service(namespace),
        "endpointslices": lambda: k8s.DiscoveryV1Api(api).list_namespaced_endpoint_slice(namespace),
        **(extra or {}),
    }
    parts: list[str] = []
    for title, fetch in listings.items():
        try:
            items = as_dict(fetch()).get("items") or []
        except Exception as exc:
            parts.append(f"--- {title}: could not list ({exc})")
            continue
        parts.append(f"--- {title} ({len(items)})")
        if items:
            parts.append(yaml.safe_dump([_strip(i) for i in redact(items)], sort_keys=False))
    try:
        events = as_dict(core.list_namespaced_event(namespace)).get("items") or []
    except Exception as exc:
        events = []
        parts.append(f"--- events: could not list ({exc})")
    events.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    parts.append(f"--- events (newest {MAX_EVENTS})")
    for ev in events[-MAX_EVENTS:]:
        obj = ev.get("involvedObject", {})
        parts.append(f"{ev.get('type')} {ev.get('reason')} {obj.get('kind')}/{obj.get('name')}: {redact(ev.get('message') or '')}")
    return "\n".join(parts)
