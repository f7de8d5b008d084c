"""The clock, and the one timestamp format skucast stores and serves.

Timestamps are ISO 8601 in UTC to the second with a `Z` (`2025-01-31T06:00:00Z`, the contract's
format): they sort as text, which the work lists on gsi1 rely on (repositories/keys.py). Leases,
TTLs and token times are epoch seconds. Every module reads the time here.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def now() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    """Today's date in UTC."""
    return now().date()


def epoch_seconds() -> int:
    return int(time.time())


def iso(moment: datetime) -> str:
    """`moment` as skucast writes times (a moment without a time zone is taken as UTC)."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.strftime(ISO_FORMAT)


def now_iso(seconds_ahead: float = 0) -> str:
    """Now (or `seconds_ahead` from now) as skucast writes times."""
    return iso(now() + timedelta(seconds=seconds_ahead))


def parse_iso(text: str) -> datetime:
    """A time written by `iso`, back as an aware UTC datetime; ValueError for any other text."""
    return datetime.strptime(text, ISO_FORMAT).replace(tzinfo=UTC)
