"""Domain events on EventBridge."""

from __future__ import annotations

import json
from typing import Any

from skucast.aws import client

SOURCE = "skucast"


class NotPublished(Exception):
    """EventBridge did not take the event (PutEvents answered a failed entry)."""


def publish(bus: str, detail_type: str, detail: dict[str, Any]) -> None:
    client("events").put_events(
        Entries=[{"Source": SOURCE, "DetailType": detail_type, "Detail": json.dumps(detail), "EventBusName": bus}]
    )


def publish_checked(bus: str, source: str, detail_type: str, detail: dict[str, Any]) -> None:
    """One event on `bus`; NotPublished when EventBridge refuses it (PutEvents reports a refused
    entry in its answer, not as an error, so the answer is checked)."""
    answer = client("events").put_events(
        Entries=[{"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail), "EventBusName": bus}]
    )
    if answer.get("FailedEntryCount"):
        entry = (answer.get("Entries") or [{}])[0]
        raise NotPublished(f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")
