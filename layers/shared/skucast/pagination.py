"""List cursors (`?cursor=`), one helper for every list route: base64url JSON of where the next
page starts, and of which list it is a page.

A cursor never names a partition or a tenant; the service rebuilds the key from the verified
tenant, so a cursor from one tenant is useless to another. It names its list (and a run's results
their run), so a cursor of another list is refused, not read as a position in this one. Every
cursor the server did not issue for this list - not base64, not JSON, too long, another list's,
a position of the wrong type - is the same 400 problem on every route.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from skucast.errors import BadRequest

MAX_CURSOR_LENGTH = 2048
INVALID = "The cursor is not valid: pass the next_cursor of a page of this same list, unchanged."


def encode_cursor(list_name: str, state: dict[str, Any] | None) -> str | None:
    """The cursor of the page after `state` in `list_name`; None (no next page) for None."""
    if state is None:
        return None
    raw = json.dumps({**state, "list": list_name}, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str | None, list_name: str, valid: Callable[[dict[str, Any]], bool]
) -> dict[str, Any] | None:
    """The state `encode_cursor(list_name, ...)` put in `cursor` (None: the first page).

    `valid` checks the state's fields; anything else raises the one bad-cursor problem."""
    if not cursor:
        return None
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise BadRequest(INVALID)
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        raise BadRequest(INVALID) from None
    if not isinstance(state, dict) or state.pop("list", None) != list_name or not valid(state):
        raise BadRequest(INVALID)
    return state


def encode_after(list_name: str, after: str | None) -> str | None:
    """The cursor of a list paged by the last item's id or name (`after`; None: no next page)."""
    return encode_cursor(list_name, {"after": after} if after else None)


def decode_after(cursor: str | None, list_name: str, valid: Callable[[str], bool] = bool) -> str | None:
    """The `after` of an `encode_after` cursor of `list_name`, checked by `valid` (None: first page)."""
    state = decode_cursor(
        cursor, list_name, lambda s: set(s) == {"after"} and isinstance(s["after"], str) and valid(s["after"])
    )
    return None if state is None else str(state["after"])
