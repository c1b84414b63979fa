"""Waiting on the API by watching it: list once for state and resourceVersion, then watch.

No polling loops and no sleeps: each wait returns on the first event that satisfies the
predicate and raises :class:`WaitTimeout` with a diagnostic when its deadline passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from pytest_openshell.errors import WaitTimeout
from pytest_openshell.objects import Obj

Predicate = Callable[[Obj], bool]
_SERIALIZER = k8s.ApiClient()


def as_dict(obj: Any) -> Obj:
    if isinstance(obj, dict):
        return obj
    out: Obj = _SERIALIZER.sanitize_for_serialization(obj)
    return out


@dataclass
class Observed:
    """The object that satisfied a wait, and when (monotonic) its event arrived."""

    obj: Obj
    at: float
    event: str


def watch_until(
    list_fn: Callable[..., Any],
    predicate: Predicate,
    *,
    timeout: float,
    what: str,
    diagnose: Callable[[], str] | None = None,
    deleted_ok: bool = False,
    **list_kwargs: Any,
) -> Observed:
    """Wait until an object listed by ``list_fn(**list_kwargs)`` satisfies ``predicate``.

    With ``deleted_ok`` a DELETED event satisfies the wait too (used to await deletion).
    """
    deadline = time.monotonic() + timeout
    while True:
        listing = as_dict(list_fn(**list_kwargs))
        now = time.monotonic()
        for item in listing.get("items") or []:
            if predicate(item):
                return Observed(item, now, "LIST")
        if deleted_ok and not listing.get("items"):
            return Observed({}, now, "ABSENT")
        rv = listing.get("metadata", {}).get("resourceVersion")
        try:
            found = _watch(list_fn, predicate, deadline, rv, deleted_ok, list_kwargs)
        except ApiException as exc:
            if exc.status == 410:  # resourceVersion too old: list again
                continue
            raise
        if found is not None:
            return found
        raise WaitTimeout(what, timeout, diagnose() if diagnose else "")


def _watch(
    list_fn: Callable[..., Any], predicate: Predicate, deadline: float, rv: str | None, deleted_ok: bool, kwargs: dict[str, Any]
) -> Observed | None:
    w = k8s_watch.Watch()
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            stream = w.stream(list_fn, resource_version=rv, timeout_seconds=max(1, int(remaining + 0.999)),
                              _request_timeout=remaining + 5, allow_watch_bookmarks=True, **kwargs)
            for event in stream:
                at = time.monotonic()
                kind = event["type"]
                obj = as_dict(event["object"])
                if kind == "ERROR":
                    raise ApiException(status=obj.get("code", 500), reason=obj.get("message"))
                rv = obj.get("metadata", {}).get("resourceVersion", rv)
                if kind == "BOOKMARK":
                    continue
                if kind == "DELETED" and deleted_ok:
                    return Observed(obj, at, kind)
                if kind != "DELETED" and predicate(obj):
                    return Observed(obj, at, kind)
                if time.monotonic() >= deadline:
                    return None
    finally:
        w.stop()
    return None


def condition(obj: Obj, ctype: str) -> Obj | None:
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return None


def has_condition(ctype: str, status: str = "True") -> Predicate:
    def check(obj: Obj) -> bool:
        cond = condition(obj, ctype)
        return cond is not None and cond.get("status") == status

    return check


def named(name: str) -> dict[str, str]:
    return {"field_selector": f"metadata.name={name}"}
