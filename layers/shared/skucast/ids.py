"""Opaque ids: `<prefix>_<20 hex>`. Sortable ids start with the creation time in milliseconds."""

from __future__ import annotations

import re
import secrets
import time


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def new_sortable_id(prefix: str, now_ms: int | None = None) -> str:
    """12 hex digits of milliseconds (good until the year 10889), then 8 random: sorts by creation."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return f"{prefix}_{ms:012x}{secrets.token_hex(4)}"


def is_id(value: str, prefix: str) -> bool:
    return re.fullmatch(rf"{re.escape(prefix)}_[0-9a-f]{{20}}", value) is not None
