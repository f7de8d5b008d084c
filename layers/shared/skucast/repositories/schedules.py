"""A tenant's scheduled reforecast: one item, listed on gsi1 (SCHEDULES) while enabled."""

from __future__ import annotations

from typing import Any

from skucast.aws import table
from skucast.repositories import dynamo
from skucast.repositories.keys import SCHEDULES, schedule_gsi1sk, schedule_sk, tenant_pk


def get_schedule(table_name: str, client_id: str) -> dict[str, Any] | None:
    item = dynamo.get(table_name, tenant_pk(client_id), schedule_sk())
    if item is None:
        return None
    return {k: v for k, v in item.items() if k not in ("pk", "sk", "gsi1pk", "gsi1sk", "schema_version")}


def put_schedule(table_name: str, client_id: str, schedule: dict[str, Any]) -> None:
    item: dict[str, Any] = {"pk": tenant_pk(client_id), "sk": schedule_sk(), "schema_version": 1, **schedule}
    if schedule.get("enabled") and schedule.get("next_run_at"):
        item["gsi1pk"], item["gsi1sk"] = SCHEDULES, schedule_gsi1sk(schedule["next_run_at"], client_id)
    table(table_name).put_item(Item=item)


def advance(table_name: str, client_id: str, slot: str, following: str) -> bool:
    """Move the schedule past `slot`, unless someone already did (or the schedule changed)."""
    return dynamo.conditional(
        table(table_name).update_item,
        Key={"pk": tenant_pk(client_id), "sk": schedule_sk()},
        UpdateExpression="SET next_run_at = :next, gsi1sk = :gsi",
        ConditionExpression="next_run_at = :slot AND enabled = :on",
        ExpressionAttributeValues={
            ":next": following,
            ":gsi": schedule_gsi1sk(following, client_id),
            ":slot": slot,
            ":on": True,
        },
    )
