"""Failed-login counters, one item per (scope, subject, window), gone by TTL after the window."""

from __future__ import annotations

from skucast.aws import table
from skucast.repositories import dynamo
from skucast.repositories.keys import login_failures_pk, login_failures_sk


def failures(table_name: str, scope: str, subject_digest: str, window: int) -> int:
    item = dynamo.get(table_name, login_failures_pk(scope, subject_digest), login_failures_sk(window))
    return int(item["failures"]) if item else 0


def add_failure(table_name: str, scope: str, subject_digest: str, window: int, expires_at: int) -> int:
    """Count one failure (atomic ADD); returns the new count."""
    result = table(table_name).update_item(
        Key={"pk": login_failures_pk(scope, subject_digest), "sk": login_failures_sk(window)},
        UpdateExpression="ADD failures :one SET expires_at = :exp",
        ExpressionAttributeValues={":one": 1, ":exp": expires_at},
        ReturnValues="UPDATED_NEW",
    )
    return int(result["Attributes"]["failures"])


def clear(table_name: str, scope: str, subject_digest: str, window: int) -> None:
    table(table_name).delete_item(Key={"pk": login_failures_pk(scope, subject_digest), "sk": login_failures_sk(window)})
