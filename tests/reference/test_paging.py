"""Page tokens of the reference gateway's ListSandboxes (pure logic of reference/gateway/paging.py)."""

from __future__ import annotations

import grpc
import pytest

from pytest_openshell.reference.gateway import paging
from pytest_openshell.reference.gateway.store import SandboxRecord
from pytest_openshell.reference.status import StatusError

RECORDS = [SandboxRecord(f"id{i}", f"s{i}", created_at_ms=1000 + i // 2) for i in range(5)]  # ties on created_at_ms


def walk(records: list[SandboxRecord], size: int, selector: str = "") -> list[list[str]]:
    pages, token = [], ""
    while True:
        chosen, token = paging.page(records, size, token, selector)
        pages.append([r.name for r in chosen])
        if not token:
            return pages


def test_pages_cover_every_record_once_in_order() -> None:
    assert walk(RECORDS, 2) == [["s0", "s1"], ["s2", "s3"], ["s4"]]
    assert walk(RECORDS, 5) == [["s0", "s1", "s2", "s3", "s4"]]  # an exact fit has no empty trailing page
    assert walk(RECORDS, 0) == [["s0", "s1", "s2", "s3", "s4"]]  # 0 means the default size
    assert walk([], 2) == [[]]


def test_a_token_survives_changes_between_pages() -> None:
    first, token = paging.page(RECORDS, 2, "", "")
    changed = [r for r in RECORDS if r.name != "s1"] + [SandboxRecord("idx", "late", created_at_ms=2000)]
    second, _ = paging.page(changed, 10, token, "")
    assert [r.name for r in first + second] == ["s0", "s1", "s2", "s3", "s4", "late"]


@pytest.mark.parametrize(("size", "token", "selector", "message"), [
    (-1, "", "", "page_size must not be negative (got -1)"),
    (2, "not a token", "", "page_token is not one this gateway returned"),
    (2, paging.encode(RECORDS[0], "a=b"), "", "page_token was issued for another label_selector"),
])
def test_bad_paging_input_is_invalid_argument(size: int, token: str, selector: str, message: str) -> None:
    with pytest.raises(StatusError) as err:
        paging.page(RECORDS, size, token, selector)
    assert (err.value.code, err.value.details) == (grpc.StatusCode.INVALID_ARGUMENT, message)
