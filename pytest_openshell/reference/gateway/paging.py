"""Keyset paging for ListSandboxes: opaque page tokens that name where the previous page ended.

A token carries the sort key of the last sandbox returned ((created_at_ms, name), the store's
order) and the label selector it was issued for, so a page never repeats or skips a sandbox that
existed throughout the listing, even when others are created or deleted between pages. A token
for another selector, or one this gateway never issued, is INVALID_ARGUMENT rather than a silent
first page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence

import grpc

from pytest_openshell.reference.gateway.store import SandboxRecord
from pytest_openshell.reference.status import StatusError

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def encode(last: SandboxRecord, selector: str) -> str:
    body = json.dumps({"c": last.created_at_ms, "n": last.name, "s": selector}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def _decode(token: str, selector: str) -> tuple[int, str]:
    try:
        body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        key = (int(body["c"]), str(body["n"]))
        issued_for = str(body["s"])
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise StatusError(grpc.StatusCode.INVALID_ARGUMENT, "page_token is not one this gateway returned") from exc
    if issued_for != selector:
        raise StatusError(grpc.StatusCode.INVALID_ARGUMENT, "page_token was issued for another label_selector")
    return key


def page(records: Sequence[SandboxRecord], page_size: int, page_token: str, selector: str) -> tuple[list[SandboxRecord], str]:
    """The records of one page (``records`` in store order) and the token of the next ("" on the last)."""
    if page_size < 0:
        raise StatusError(grpc.StatusCode.INVALID_ARGUMENT, f"page_size must not be negative (got {page_size})")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    rest = list(records)
    if page_token:
        after = _decode(page_token, selector)
        rest = [r for r in rest if (r.created_at_ms, r.name) > after]
    chosen = rest[:size]
    return chosen, encode(chosen[-1], selector) if len(rest) > size else ""
