"""Adjustments of results: the conditional write, the audit trail, the sticky registry, and the
sticky adjustments a run carries.

Items (keys.py):
- result:  CLIENT#<c>#RUN#<r>#RESULTS#<shard> / SKU#<sku>   (runs.py) with `version` (the
           adjustments made to it; absent: 0) and `final` (compressed JSON, one value per point)
- audit:   CLIENT#<c>#RUN#<r>#ADJUSTMENTS#<sku> / ADJ#<version>   the adjustment that made that
           version, with every changed period's final before and after (compressed JSON)
- run:     CLIENT#<c> / RUN#<r>   `adjustments_made`: the run's revision (exports are keyed by it)
- sticky:  CLIENT#<c>#STICKY / SKU#<sku>#<adjustment_id>   a sticky adjustment, until it expires
           (`expires_on`, an ISO date; `expires_at`, the table's TTL, two days later)
- carried: CLIENT#<c>#RUN#<r>#CARRIED / SKU#<sku>   the sticky adjustments the planner found for
           this SKU of this run; the worker applies them when it writes the result

One adjustment is one transaction: the result moves from version v to v + 1 on condition that
it is still at v, its audit item is added, the run's revision counts it, and a sticky one joins
the registry. All or nothing: of two writers that read version v one wins and the other finds
the condition failed (VersionMoved); a write that fails leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from boto3.dynamodb.types import Binary

from skucast.adjustments import effective_expiry
from skucast.aws import table
from skucast.records import AdjustmentRecord, PointChange
from skucast.repositories import dynamo, scores
from skucast.repositories.keys import (
    ADJUSTMENT_PREFIX,
    adjustment_sk,
    adjustments_pk,
    carried_pk,
    result_shard,
    results_pk,
    run_sk,
    sku_of,
    sku_sk,
    sticky_pk,
    sticky_prefix,
    sticky_sk,
    tenant_pk,
)

BATCH_GET_LIMIT = 100  # DynamoDB BatchGetItem
STICKY_TTL_DAYS = 2  # the registry item outlives its last day of carrying by this much (TTL is lazy)


class VersionMoved(Exception):
    """The result is no longer at the version the adjustment was computed from: nothing written."""


# ---------------------------------------------------------------- the stored shape
def record_document(record: AdjustmentRecord) -> dict[str, Any]:
    return {
        "adjustment_id": record.adjustment_id,
        "by": record.by,
        "by_kind": record.by_kind,
        "at": record.at,
        "start": record.start,
        "end": record.end,
        "operation": record.operation,
        "value": record.value,
        "reason": record.reason,
        "frequency": record.frequency,
        "comment": record.comment,
        "sticky": record.sticky,
        "expires": record.expires,
        "carried_from": record.carried_from,
        "changes": [[c.date, c.before, c.after] for c in record.changes],
    }


def adjustment_record(document: dict[str, Any]) -> AdjustmentRecord:
    return AdjustmentRecord(
        adjustment_id=str(document["adjustment_id"]),
        by=str(document["by"]),
        by_kind="api_key" if document.get("by_kind") == "api_key" else "user",
        at=str(document["at"]),
        start=str(document["start"]),
        end=str(document["end"]),
        operation=document["operation"],
        value=float(document["value"]),
        reason=document["reason"],
        frequency=str(document.get("frequency") or "D"),
        comment=document.get("comment"),
        sticky=bool(document.get("sticky")),
        expires=document.get("expires"),
        carried_from=document.get("carried_from"),
        changes=tuple(PointChange(str(d), b, a) for d, b, a in document.get("changes") or ()),
    )


def pack_records(records: Iterable[AdjustmentRecord]) -> Binary:
    return dynamo.pack_json([record_document(r) for r in records])


def unpack_records(raw: Any) -> tuple[AdjustmentRecord, ...]:
    if raw is None:
        return ()
    return tuple(adjustment_record(d) for d in dynamo.unpack_json(raw))


# ---------------------------------------------------------------- one adjustment
def add_adjustment(
    table_name: str,
    client_id: str,
    run_id: str,
    shards: int,
    sku: str,
    *,
    version: int,
    final: Sequence[float | None],
    record: AdjustmentRecord,
    expires_at: int | None = None,
) -> None:
    """Record `record` as the adjustment that takes the result from `version` to `version + 1`,
    with the final forecast it leads to, in one transaction; a sticky one also joins the tenant's
    registry until `expires_at` (epoch seconds). VersionMoved when the result is no longer at
    `version` (or is gone): nothing is written."""
    names = {"#v": "version", "#f": "final"}
    values: dict[str, Any] = {":next": version + 1, ":final": dynamo.pack_json(list(final))}
    if version:
        condition = "attribute_exists(pk) AND #v = :expected"
        values[":expected"] = version
    else:
        condition = "attribute_exists(pk) AND attribute_not_exists(#v)"
    actions: list[dict[str, Any]] = [
        {
            "Update": {
                "Key": {"pk": results_pk(client_id, run_id, result_shard(sku, shards)), "sk": sku_sk(sku)},
                "UpdateExpression": "SET #v = :next, #f = :final",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        },
        {
            "Put": {
                "Item": {
                    "pk": adjustments_pk(client_id, run_id, sku),
                    "sk": adjustment_sk(version + 1),
                    "schema_version": 1,
                    "adjustment_id": record.adjustment_id,
                    "document": dynamo.pack_json(record_document(record)),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {
            "Update": {
                "Key": {"pk": tenant_pk(client_id), "sk": run_sk(run_id)},
                "UpdateExpression": "ADD adjustments_made :one",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": {":one": 1},
            }
        },
    ]
    # The SKU's scored points move to a new version: a scorer that read the result before this
    # adjustment cannot store its stale `final` (services/scoring.py re-scores it after).
    actions.append(scores.bump_action(client_id, run_id, shards, sku))
    if record.sticky:  # in the registry, it names the run it came from
        registered = replace(record, carried_from=run_id, changes=())
        actions.append({"Put": {"Item": _sticky_item(client_id, sku, registered, expires_at)}})
    try:
        # Adjustments of other SKUs of the run count on the same run item at the same instant.
        dynamo.transact_retrying(table_name, actions)
    except dynamo.ConditionFailed:
        # A retry of this very transaction whose first answer was lost (a timeout) finds its own
        # write in place: that is success, not someone else's version.
        if _made(table_name, client_id, run_id, sku, version + 1) != record.adjustment_id:
            raise VersionMoved from None


def _made(table_name: str, client_id: str, run_id: str, sku: str, version: int) -> str | None:
    """The id of the adjustment that made `version` of the result (None: no such version yet)."""
    item = dynamo.get(table_name, adjustments_pk(client_id, run_id, sku), adjustment_sk(version))
    return str(item["adjustment_id"]) if item else None


def list_adjustments(table_name: str, client_id: str, run_id: str, sku: str) -> list[AdjustmentRecord]:
    """Every adjustment made to the result, in the order made (strongly consistent)."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(adjustments_pk(client_id, run_id, sku))
        & Key("sk").begins_with(ADJUSTMENT_PREFIX),
        "ConsistentRead": True,
    }
    return [adjustment_record(dynamo.unpack_json(i["document"])) for i in _query(table_name, kwargs)]


def _query(table_name: str, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
    while True:
        page = table(table_name).query(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# ---------------------------------------------------------------- the sticky registry
def _sticky_item(client_id: str, sku: str, record: AdjustmentRecord, expires_at: int | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": sticky_pk(client_id),
        "sk": sticky_sk(sku, record.adjustment_id),
        "schema_version": 1,
        "sku": sku,
        "expires_on": effective_expiry(record.end, record.expires),
        "document": dynamo.pack_json(record_document(record)),
    }
    if expires_at is not None:
        item["expires_at"] = expires_at
    return item


def sticky_entries(table_name: str, client_id: str, today: str) -> Iterator[tuple[str, AdjustmentRecord]]:
    """(sku, adjustment) of every sticky adjustment of the tenant still carried on `today` (an
    ISO date), strongly consistent. A SKU's adjustments come in the order they were made."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(sticky_pk(client_id)),
        "FilterExpression": Attr("expires_on").gte(today),
        "ConsistentRead": True,
    }
    for item in _query(table_name, kwargs):
        yield str(item["sku"]), adjustment_record(dynamo.unpack_json(item["document"]))


def count_sticky(table_name: str, client_id: str, today: str, sku: str | None = None) -> int:
    """The tenant's sticky adjustments still carried on `today`, of one SKU or of all."""
    condition = Key("pk").eq(sticky_pk(client_id))
    flt = Attr("expires_on").gte(today)
    if sku is not None:
        condition &= Key("sk").begins_with(sticky_prefix(sku))
        flt &= Attr("sku").eq(sku)  # the prefix also finds SKUs that begin with `sku#`
    kwargs: dict[str, Any] = {"KeyConditionExpression": condition, "FilterExpression": flt, "Select": "COUNT"}
    total = 0
    while True:
        page = table(table_name).query(**kwargs)
        total += int(page.get("Count", 0))
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# ---------------------------------------------------------------- what a run carries
def put_carried(table_name: str, client_id: str, run_id: str, carried: dict[str, list[AdjustmentRecord]]) -> None:
    """The sticky adjustments each SKU of the run carries (idempotent: a retried plan overwrites)."""
    with table(table_name).batch_writer(overwrite_by_pkeys=["pk", "sk"]) as writer:
        for sku, records in carried.items():
            writer.put_item(
                Item={"pk": carried_pk(client_id, run_id), "sk": sku_sk(sku), "records": pack_records(records)}
            )


def get_carried(table_name: str, client_id: str, run_id: str, skus: Iterable[str]) -> dict[str, list[AdjustmentRecord]]:
    """What these SKUs of the run carry (SKUs that carry nothing are absent), 100 keys a call."""
    wanted = list(dict.fromkeys(skus))
    client = table(table_name).meta.client
    out: dict[str, list[AdjustmentRecord]] = {}
    for start in range(0, len(wanted), BATCH_GET_LIMIT):
        keys = [{"pk": carried_pk(client_id, run_id), "sk": sku_sk(s)} for s in wanted[start : start + BATCH_GET_LIMIT]]
        request: dict[str, Any] = {table_name: {"Keys": keys, "ConsistentRead": True}}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer["Responses"].get(table_name, []):
                out[sku_of(str(item["sk"]))] = list(unpack_records(item["records"]))
            request = answer.get("UnprocessedKeys") or {}
    return out
