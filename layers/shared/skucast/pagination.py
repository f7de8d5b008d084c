"""Opaque list cursors (`?cursor=`): base64url JSON of where the next page starts.

A cursor never names a partition or a tenant; the service rebuilds the key from the verified
tenant, so a cursor from one tenant is useless to another.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from skucast.errors import BadRequest


def encode_cursor(state: dict[str, Any] | None) -> str | None:
    if state is None:
        return None
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise BadRequest("The cursor is not valid.") from None
    if not isinstance(state, dict):
        raise BadRequest("The cursor is not valid.")
    return state
