"""Alerts, their conditions (deduplication) and the tenant's alert settings.

Items (keys.py):
- alert:     CLIENT#<c>#ALERTS / ALERT#<alert_id>   kind, sku, run_id, created_at, status, detail;
             gsi1 UNPUBLISHED_ALERTS / <created_at>#<c>#<alert_id> until its event is published
             (the outbox); once acknowledged, `expires_at` (the table's TTL) ACK_RETENTION_DAYS later
- condition: CLIENT#<c>#ALERTS / ALERTCOND#<kind>#<scope>#<subject>   the condition's alert:
             `alert_id`, `status` (open | acknowledged), `one_shot`, `until` (the last date of the
             evidence that raised it, for re-arming conditions)
- settings:  CLIENT#<c> / ALERT_SETTINGS

A new alert is one transaction: its condition is written on condition that it does not exist,
or - for a re-arming condition - that its alert was acknowledged and the new evidence starts after
the old ended; the alert is put beside it, on the outbox list. So of any number of concurrent
raises of one condition, exactly one writes an alert, and an alert exists only with its outbox
entry: its event cannot be lost between the write and the publish.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from skucast.alerts import Condition
from skucast.aws import table
from skucast.records import AlertRecord, AlertStatus
from skucast.repositories import dynamo
from skucast.repositories.keys import (
    ALERT_PREFIX,
    UNPUBLISHED_ALERTS,
    alert_condition_sk,
    alert_id_of,
    alert_settings_sk,
    alert_sk,
    alerts_pk,
    tenant_pk,
    unpublished_alert_gsi1sk,
)

# An acknowledged alert (and its condition) is kept this long, then expires (the table's TTL).
ACK_RETENTION_DAYS = 90


def _condition_key(client_id: str, condition: Condition) -> dict[str, str]:
    return {"pk": alerts_pk(client_id), "sk": alert_condition_sk(condition.kind, condition.scope, condition.subject)}


def _alert_key(client_id: str, alert_id: str) -> dict[str, str]:
    return {"pk": alerts_pk(client_id), "sk": alert_sk(alert_id)}


def new_alert_actions(
    client_id: str, alert: AlertRecord, condition: Condition, since: str | None, until: str | None
) -> list[dict[str, Any]]:
    """The transaction actions that raise `alert` for `condition` (condition first, then the alert)."""
    values: dict[str, Any] = {}
    names: dict[str, str] = {}
    check = "attribute_not_exists(pk)"
    if not condition.one_shot:
        names["#s"] = "status"
        values[":ack"] = AlertStatus.ACKNOWLEDGED.value
        check += " OR (#s = :ack"
        if since is not None:
            names["#u"] = "until"
            values[":since"] = since
            check += " AND (attribute_not_exists(#u) OR #u < :since)"
        check += ")"
    condition_put: dict[str, Any] = {
        "Item": {
            **_condition_key(client_id, condition),
            "alert_id": alert.alert_id,
            "status": AlertStatus.OPEN.value,
            "one_shot": condition.one_shot,
            **({"until": until} if until is not None else {}),
        },
        "ConditionExpression": check,
    }
    if names:
        condition_put["ExpressionAttributeNames"] = names
        condition_put["ExpressionAttributeValues"] = values
    item = {
        **_alert_key(client_id, alert.alert_id),
        "schema_version": 1,
        **dynamo.storable(_document(alert), undefined_as_null=True),
        "scope": condition.scope,
        "subject": condition.subject,
        "gsi1pk": UNPUBLISHED_ALERTS,
        "gsi1sk": unpublished_alert_gsi1sk(alert.created_at, client_id, alert.alert_id),
    }
    return [{"Put": condition_put}, {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}]


def create(
    table_name: str, client_id: str, alert: AlertRecord, condition: Condition, since: str | None, until: str | None
) -> bool:
    """Raise `alert`; False (nothing written) when its condition already has an open alert, or an
    acknowledged one whose evidence reaches `since`, or is one-shot and was raised before."""
    try:
        dynamo.transact_retrying(table_name, new_alert_actions(client_id, alert, condition, since, until))
    except dynamo.ConditionFailed:
        return False
    return True


def _document(alert: AlertRecord) -> dict[str, Any]:
    return {
        "alert_id": alert.alert_id,
        "kind": alert.kind,
        "created_at": alert.created_at,
        "status": alert.status.value,
        "sku": alert.sku,
        "run_id": alert.run_id,
        "detail": alert.detail,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": alert.acknowledged_by,
    }


def alert_record(item: dict[str, Any]) -> AlertRecord:
    plain = dynamo.plain(item)
    return AlertRecord(
        alert_id=str(plain["alert_id"]),
        kind=str(plain["kind"]),
        created_at=str(plain["created_at"]),
        status=AlertStatus(plain.get("status") or AlertStatus.OPEN.value),
        sku=plain.get("sku"),
        run_id=plain.get("run_id"),
        detail=dict(plain.get("detail") or {}),
        acknowledged_at=plain.get("acknowledged_at"),
        acknowledged_by=plain.get("acknowledged_by"),
        published="gsi1pk" not in plain,
    )


def get(table_name: str, client_id: str, alert_id: str) -> AlertRecord | None:
    item = dynamo.get(table_name, alerts_pk(client_id), alert_sk(alert_id))
    return alert_record(item) if item else None


def page(
    table_name: str, client_id: str, limit: int, after_alert_id: str | None, status: AlertStatus | None
) -> tuple[list[AlertRecord], str | None]:
    """Newest first (alert ids sort by creation), optionally only one status."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(alerts_pk(client_id)) & Key("sk").begins_with(ALERT_PREFIX),
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if status:
        kwargs["FilterExpression"] = Attr("status").eq(AlertStatus(status).value)
    if after_alert_id:
        kwargs["ExclusiveStartKey"] = _alert_key(client_id, after_alert_id)
    items: list[AlertRecord] = []
    while True:
        answer = table(table_name).query(**kwargs)
        items.extend(alert_record(dict(i)) for i in answer.get("Items", []))
        last = answer.get("LastEvaluatedKey")
        if len(items) >= limit or not last:
            break
        kwargs["ExclusiveStartKey"] = last
        kwargs["Limit"] = limit - len(items)
    return items[:limit], alert_id_of(str(last["sk"])) if last else None


def acknowledge(table_name: str, client_id: str, alert_id: str, *, by: str, at: str, expires_at: int) -> bool:
    """Move an open alert to acknowledged, and its condition with it (a re-arming condition may
    then alert again on new evidence); False when the alert is not open (or does not exist)."""
    item = dynamo.get(table_name, alerts_pk(client_id), alert_sk(alert_id))
    if item is None:
        return False
    condition_key = {
        "pk": alerts_pk(client_id),
        "sk": alert_condition_sk(str(item["kind"]), str(item["scope"]), str(item["subject"])),
    }
    actions = [
        {
            "Update": {
                "Key": _alert_key(client_id, alert_id),
                "UpdateExpression": "SET #s = :ack, acknowledged_at = :at, acknowledged_by = :by, expires_at = :ttl",
                "ConditionExpression": "#s = :open",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {
                    ":ack": AlertStatus.ACKNOWLEDGED.value,
                    ":open": AlertStatus.OPEN.value,
                    ":at": at,
                    ":by": by,
                    ":ttl": expires_at,
                },
            }
        },
        {
            "Update": {
                "Key": condition_key,
                "UpdateExpression": "SET #s = :ack, expires_at = :ttl",
                "ConditionExpression": "alert_id = :id",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {
                    ":ack": AlertStatus.ACKNOWLEDGED.value,
                    ":id": alert_id,
                    ":ttl": expires_at,
                },
            }
        },
    ]
    try:
        dynamo.transact_retrying(table_name, actions)
    except dynamo.ConditionFailed:
        return False
    return True


def mark_published(table_name: str, client_id: str, alert_id: str) -> None:
    """The alert's event was sent: it leaves the outbox."""
    dynamo.conditional(
        table(table_name).update_item,
        Key=_alert_key(client_id, alert_id),
        UpdateExpression="REMOVE gsi1pk, gsi1sk",
        ConditionExpression="attribute_exists(pk)",
    )


# ---------------------------------------------------------------- settings
def get_settings(table_name: str, client_id: str) -> dict[str, Any] | None:
    item = dynamo.get(table_name, tenant_pk(client_id), alert_settings_sk())
    if item is None:
        return None
    plain = dynamo.plain(item)
    return {k: v for k, v in plain.items() if k not in ("pk", "sk", "schema_version")}


def put_settings(table_name: str, client_id: str, settings: dict[str, Any]) -> None:
    table(table_name).put_item(
        Item={"pk": tenant_pk(client_id), "sk": alert_settings_sk(), "schema_version": 1, **dynamo.storable(settings)}
    )
