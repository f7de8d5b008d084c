"""Domain events on EventBridge."""

from __future__ import annotations

import json
from typing import Any

from skucast.aws import client

SOURCE = "skucast"


def publish(bus: str, detail_type: str, detail: dict[str, Any]) -> None:
    client("events").put_events(
        Entries=[{"Source": SOURCE, "DetailType": detail_type, "Detail": json.dumps(detail), "EventBusName": bus}]
    )
