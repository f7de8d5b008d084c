"""Platform-wide work lists on the sparse gsi1 index (read by scheduled functions only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Key

from skucast import clock
from skucast.aws import table
from skucast.repositories.keys import ACTIVE_RUNS, PROCESSING_UPLOADS, SCHEDULES, UNPUBLISHED_ALERTS, due_before


def _due(table_name: str, partition: str, now: datetime) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "IndexName": "gsi1",
        "KeyConditionExpression": Key("gsi1pk").eq(partition) & Key("gsi1sk").lt(due_before(clock.iso(now))),
    }
    while True:
        page = table(table_name).query(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def due_schedules(table_name: str, now: datetime) -> list[dict[str, Any]]:
    """Schedules whose next firing time (gsi1sk) has passed."""
    return _due(table_name, SCHEDULES, now)


def stalled_runs(table_name: str, now: datetime) -> list[dict[str, Any]]:
    """Active runs whose progress deadline (gsi1sk) has passed."""
    return _due(table_name, ACTIVE_RUNS, now)


def stalled_uploads(table_name: str, now: datetime) -> list[dict[str, Any]]:
    """Uploads still PROCESSING past their stall deadline (gsi1sk), or failed but not yet let go."""
    return _due(table_name, PROCESSING_UPLOADS, now)


def unpublished_alerts(table_name: str, created_before: datetime) -> list[dict[str, Any]]:
    """Alerts created before `created_before` whose EventBridge event was not sent (the outbox)."""
    return _due(table_name, UNPUBLISHED_ALERTS, created_before)
