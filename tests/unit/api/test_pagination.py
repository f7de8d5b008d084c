"""List cursors (skucast/pagination.py): what a list issued comes back; anything else is one 400."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from skucast import ids
from skucast.errors import BadRequest
from skucast.pagination import INVALID, MAX_CURSOR_LENGTH, decode_after, decode_cursor, encode_after, encode_cursor

RUN_ID = "run_0123456789abcdef0123"


def _raw(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _is_run(value: str) -> bool:
    return ids.is_id(value, "run")


def test_given_an_issued_cursor_when_read_by_its_list_then_the_position_comes_back() -> None:
    cursor = encode_after("runs", RUN_ID)
    assert cursor is not None and decode_after(cursor, "runs", _is_run) == RUN_ID
    sku = "Infinity Scarf #1/日本茶, \"quoted\""
    assert decode_after(encode_after("skus", sku), "skus") == sku
    state = {"run": RUN_ID, "shard": 3, "after": None}
    assert decode_cursor(encode_cursor("results", state), "results", lambda s: True) == state


def test_given_no_cursor_or_no_next_page_then_none() -> None:
    assert decode_after(None, "runs") is None and decode_after("", "runs") is None
    assert encode_after("runs", None) is None and encode_cursor("results", None) is None


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "%%%",
        "bm90LWpzb24",  # base64 of "not-json"
        "日本",
        _raw(["after", RUN_ID]),
        _raw({"after": RUN_ID}),  # no list: a cursor of another version, or forged
        str(encode_after("uploads", "upl_0123456789abcdef0123")),  # another list's cursor
        str(encode_after("skus", RUN_ID)),  # another list's, even with a well-formed run id
        str(encode_after("runs", "run_x#y")),
        str(encode_cursor("runs", {"after": RUN_ID, "shard": 0})),
        str(encode_cursor("runs", {"after": 7})),
        "A" * (MAX_CURSOR_LENGTH + 1),
        base64.urlsafe_b64encode(b"[" * 1500).decode(),  # nested deeper than the parser recurses
    ],
)
def test_given_a_cursor_this_list_did_not_issue_then_the_same_bad_request(cursor: str) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_after(cursor, "runs", _is_run)
    assert caught.value.detail == INVALID and caught.value.status == 400
