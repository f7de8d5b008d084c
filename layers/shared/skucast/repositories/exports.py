"""A run's export being prepared off the request path (big runs; small ones are written at once).

Item (keys.py): CLIENT#<c> / EXPORT#<run_id>#<format>
    status PREPARING|READY|FAILED, started_at (epoch seconds), reason (FAILED), expires_at (TTL)

The export object itself (keys.export_key) is the truth for "ready": the item only makes
concurrent requests start one job, and tells a later request why the last job failed.
"""

from __future__ import annotations

from typing import Any

from skucast import clock
from skucast.aws import table
from skucast.records import ExportRecord, ExportStatus
from skucast.repositories import dynamo
from skucast.repositories.keys import export_sk, tenant_pk

# The bucket expires exports after 7 days (template.yaml); the item need not outlive them.
KEEP_SECONDS = 7 * 24 * 3600


def _key(client_id: str, run_id: str, file_format: str) -> dict[str, str]:
    return {"pk": tenant_pk(client_id), "sk": export_sk(run_id, file_format)}


def get(table_name: str, client_id: str, run_id: str, file_format: str) -> ExportRecord | None:
    item = dynamo.get(table_name, tenant_pk(client_id), export_sk(run_id, file_format))
    if not item:
        return None
    plain = dynamo.plain(item)
    return ExportRecord(
        run_id=run_id,
        format=file_format,
        status=ExportStatus(plain["status"]),
        started_at=int(plain.get("started_at") or 0),
        reason=plain.get("reason"),
    )


def claim(table_name: str, client_id: str, run_id: str, file_format: str, stale_after: int) -> bool:
    """Mark the export PREPARING; False when another request already did and its job is not stale.

    A job that died without a word (killed, timed out every retry) leaves PREPARING behind: after
    `stale_after` seconds the next request starts a new one. Two jobs for one export write the
    same object from the same results, so a late duplicate is harmless.
    """
    now = clock.epoch_seconds()
    return dynamo.conditional(
        table(table_name).put_item,
        Item={
            **_key(client_id, run_id, file_format),
            "status": ExportStatus.PREPARING.value,
            "started_at": now,
            "expires_at": now + KEEP_SECONDS,
        },
        ConditionExpression="attribute_not_exists(pk) OR #s <> :preparing OR started_at < :stale",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":preparing": ExportStatus.PREPARING.value, ":stale": now - stale_after},
    )


def settle(table_name: str, client_id: str, run_id: str, file_format: str, reason: str | None) -> None:
    """READY (reason None) or FAILED with a reason a user may read."""
    item: dict[str, Any] = {
        **_key(client_id, run_id, file_format),
        "status": (ExportStatus.FAILED if reason else ExportStatus.READY).value,
        "started_at": clock.epoch_seconds(),
        "expires_at": clock.epoch_seconds() + KEEP_SECONDS,
    }
    if reason:
        item["reason"] = reason
    table(table_name).put_item(Item=item)
