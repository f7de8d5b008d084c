"""Forecast runs, their batches and results; the tenant's active-run and in-flight counters.

Items (keys.py):
- run:      CLIENT#<c> / RUN#<run_id>          status, params, progress, counters, summary;
            gsi1 ACTIVE_RUNS / <progress deadline> while QUEUED or RUNNING (for the sweeper)
- counters: CLIENT#<c> / INFLIGHT              active_runs, batches_in_flight
- batch:    CLIENT#<c>#RUN#<r>#BATCHES / BATCH#<n>   skus, status PENDING|DONE|FAILED, metric sums
- result:   CLIENT#<c>#RUN#<r>#RESULTS#<shard> / SKU#<sku>

Exactly-once progress: a batch moves PENDING -> DONE in the same transaction that writes its
results and adds its counts to the run - on condition that the run is still RUNNING. So a
duplicate or concurrent delivery of the batch cannot count twice, and a batch still computing
when its run is cancelled (or fails) writes nothing: a finished run's results never change, and
they are exactly the SKUs its progress counts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from skucast.aws import table
from skucast.records import (
    ACTIVE_RUN,
    AdjustmentRecord,
    BatchRecord,
    BatchStatus,
    RunRecord,
    RunStatus,
    StoredResult,
)
from skucast.repositories import adjustments, dynamo
from skucast.repositories.keys import (
    ACTIVE_RUNS,
    BATCH_PREFIX,
    RUN_PREFIX,
    SKU_PREFIX,
    active_run_gsi1sk,
    batch_id_of,
    batch_sk,
    batches_pk,
    result_shard,
    results_pk,
    run_id_of,
    run_idempotency_sk,
    run_sk,
    run_slots_sk,
    sku_of,
    sku_sk,
    tenant_pk,
)

ACTIVE = tuple(sorted(ACTIVE_RUN))  # QUEUED, RUNNING: the states a run can be moved out of
# TransactWriteItems takes at most 100 actions and 4 MB: a batch's results plus the batch, the run
# and the tenant's counters (3 actions). A result document is a few KB compressed (a 366-day
# horizon with five levels is ~20 KB), so 97 of them stay far below 4 MB; one above
# MAX_RESULT_BYTES is refused before the write (`unstorable`), as DynamoDB would refuse its item.
MAX_RESULTS_PER_SETTLE = 97
MAX_RESULT_BYTES = 350_000
# A result's final forecast and the sticky adjustments it carried in (at most
# services/adjustments.MAX_STICKY_PER_SKU, a few KB) are written with it.
Overlay = tuple[list[float | None], tuple[AdjustmentRecord, ...]]


class LimitReached(Exception):
    """The tenant already has as many active runs as its tier allows."""


class AlsoRefused(Exception):
    """A transition's own conditions held, but a condition of the actions it carried (`also`) did not."""


class IdempotencyKeyUsed(Exception):
    def __init__(self, run_id: str, params_digest: str) -> None:
        super().__init__(run_id)
        self.run_id, self.params_digest = run_id, params_digest


def _key(client_id: str, run_id: str) -> dict[str, str]:
    return {"pk": tenant_pk(client_id), "sk": run_sk(run_id)}


def _counters_key(client_id: str) -> dict[str, str]:
    return {"pk": tenant_pk(client_id), "sk": run_slots_sk()}


def _release_slot(client_id: str) -> dict[str, Any]:
    """The transaction action that gives back one of the tenant's in-flight batch slots."""
    return {
        "Update": {
            "Key": _counters_key(client_id),
            "UpdateExpression": "ADD batches_in_flight :minus",
            "ExpressionAttributeValues": {":minus": -1},
        }
    }


# ---------------------------------------------------------------- runs
def create_run(
    table_name: str,
    client_id: str,
    run: RunRecord,
    *,
    expires_at: int,
    deadline: str,
    max_active: int,
    idempotency: tuple[str, str] | None = None,
) -> None:
    """Record a QUEUED run and take one of the tenant's active-run slots, atomically.

    The run joins the sweeper's work list with its progress `deadline`. `idempotency` is
    (key digest, params digest): the key is claimed in the same transaction, until `expires_at`.
    """
    created = {
        "run_id": run.run_id,
        "name": run.name,
        "status": run.status.value,
        "trigger": run.trigger,
        "params": run.params,
        "created_at": run.created_at,
        # No expires_at here: it is the table's TTL attribute, and a run is kept. Only its
        # Idempotency-Key claim below expires.
    }
    item = {
        **_key(client_id, run.run_id),
        "schema_version": 1,
        **dynamo.storable(created),
        "gsi1pk": ACTIVE_RUNS,
        "gsi1sk": active_run_gsi1sk(deadline, client_id, run.run_id),
    }
    actions: list[dict[str, Any]] = [
        {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(pk)"}},
        {
            "Update": {
                "Key": _counters_key(client_id),
                "UpdateExpression": "ADD active_runs :one",
                "ConditionExpression": "attribute_not_exists(active_runs) OR active_runs < :max",
                "ExpressionAttributeValues": {":one": 1, ":max": max_active},
            }
        },
    ]
    if idempotency:
        key_digest, params_digest = idempotency
        actions.append(
            {
                "Put": {
                    "Item": {
                        "pk": tenant_pk(client_id),
                        "sk": run_idempotency_sk(key_digest),
                        "run_id": run.run_id,
                        "params_digest": params_digest,
                        "expires_at": expires_at,
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        )
    try:
        dynamo.transact(table_name, actions)
    except dynamo.ConditionFailed as exc:
        if idempotency and 2 in exc.failed:
            earlier = dynamo.get(table_name, tenant_pk(client_id), run_idempotency_sk(idempotency[0]))
            if earlier:
                raise IdempotencyKeyUsed(str(earlier["run_id"]), str(earlier["params_digest"])) from None
        if 1 in exc.failed:
            raise LimitReached from None
        raise


def run_record(item: dict[str, Any]) -> RunRecord:
    """A run item as a RunRecord: numbers converted here, once; fields an older item lacks (a
    QUEUED run has no counters yet) read as their defaults."""
    plain = dynamo.plain(item)

    return RunRecord(
        run_id=str(plain["run_id"]),
        status=RunStatus(plain["status"]),
        created_at=str(plain["created_at"]),
        name=plain.get("name"),
        trigger="schedule" if plain.get("trigger") == "schedule" else "api",
        params=dict(plain.get("params") or {}),
        started_at=plain.get("started_at"),
        finished_at=plain.get("finished_at"),
        skus_total=dynamo.count(plain, "skus_total"),
        skus_done=dynamo.count(plain, "skus_done"),
        skus_failed=dynamo.count(plain, "skus_failed"),
        batches_total=dynamo.count(plain, "batches_total"),
        batches_done=dynamo.count(plain, "batches_done"),
        batches_sent=dynamo.count(plain, "batches_sent"),
        result_shards=dynamo.count(plain, "result_shards"),
        as_of=plain.get("as_of") or None,
        summary=plain.get("summary"),
        error=plain.get("error"),
        repairs=dynamo.count(plain, "repairs"),
        adjustments_made=dynamo.count(plain, "adjustments_made"),
        reconciliation=plain.get("reconciliation"),
        shards_total=dynamo.count(plain, "shards_total"),
        shards_settled=dynamo.count(plain, "shards_settled"),
    )


def get_run(table_name: str, client_id: str, run_id: str) -> RunRecord | None:
    item = dynamo.get(table_name, tenant_pk(client_id), run_sk(run_id))
    return run_record(item) if item else None


def page_runs(
    table_name: str, client_id: str, limit: int, after_run_id: str | None, status: RunStatus | None
) -> tuple[list[RunRecord], str | None]:
    """Newest first; run ids sort by creation time."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(tenant_pk(client_id)) & Key("sk").begins_with(RUN_PREFIX),
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if status:
        kwargs["FilterExpression"] = Attr("status").eq(RunStatus(status).value)
    if after_run_id:
        kwargs["ExclusiveStartKey"] = _key(client_id, after_run_id)
    items: list[RunRecord] = []
    while True:
        page = table(table_name).query(**kwargs)
        items.extend(run_record(dict(i)) for i in page.get("Items", []))
        last = page.get("LastEvaluatedKey")
        if len(items) >= limit or not last:
            break
        kwargs["ExclusiveStartKey"] = last
        kwargs["Limit"] = limit - len(items)
    next_after = run_id_of(str(last["sk"])) if last else None
    return items[:limit], next_after


def transition(
    table_name: str,
    client_id: str,
    run_id: str,
    *,
    to: RunStatus,
    allowed_from: Iterable[RunStatus],
    set_fields: dict[str, Any] | None = None,
    release_active: bool = False,
    also: list[dict[str, Any]] | None = None,
) -> bool:
    """Move a run's status if it is in one of `allowed_from`; False when it was not (someone else won).

    Leaving the active states also leaves the sweeper's work list and, with `release_active`,
    gives back the tenant's active-run slot - in the same transaction, so exactly once. `also`:
    more actions written in that transaction (a failed run's alert; a finished run joining the
    scoring index), so they happen exactly when the transition does; AlsoRefused (nothing written)
    when only their conditions failed.
    """
    fields = {"status": RunStatus(to).value, **(set_fields or {})}
    names = {f"#f{i}": k for i, k in enumerate(fields)}
    # Fields of a finished run include its summary metrics, which may be undefined (stored as null).
    stored = dynamo.storable(list(fields.values()), undefined_as_null=True)
    values: dict[str, Any] = {f":v{i}": v for i, v in enumerate(stored)}
    sets = ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
    allowed = [RunStatus(s).value for s in allowed_from]
    values.update({f":from{i}": s for i, s in enumerate(allowed)})
    condition = "#f0 IN (" + ", ".join(f":from{i}" for i in range(len(allowed))) + ")"
    update = f"SET {sets}" + ("" if to in ACTIVE else " REMOVE gsi1pk, gsi1sk")
    actions: list[dict[str, Any]] = [
        {
            "Update": {
                "Key": _key(client_id, run_id),
                "UpdateExpression": update,
                "ConditionExpression": f"attribute_exists(pk) AND {condition}",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
    ]
    if release_active:
        actions.append(
            {
                "Update": {
                    "Key": _counters_key(client_id),
                    "UpdateExpression": "ADD active_runs :minus",
                    "ExpressionAttributeValues": {":minus": -1},
                }
            }
        )
    own = len(actions)
    try:
        dynamo.transact(table_name, actions + list(also or []))
    except dynamo.ConditionFailed as exc:
        if also and min(exc.failed) >= own:
            raise AlsoRefused from None
        return False
    return True


def note_repair(table_name: str, client_id: str, run_id: str, max_repairs: int, deadline: str) -> bool:
    """Count one repair of a stalled active run and give it a new deadline; False past max_repairs."""
    return dynamo.conditional(
        table(table_name).update_item,
        Key=_key(client_id, run_id),
        UpdateExpression="ADD repairs :one SET gsi1sk = :deadline",
        ConditionExpression="#s IN (:queued, :running) AND (attribute_not_exists(repairs) OR repairs < :max)",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":one": 1,
            ":deadline": active_run_gsi1sk(deadline, client_id, run_id),
            ":queued": RunStatus.QUEUED.value,
            ":running": RunStatus.RUNNING.value,
            ":max": max_repairs,
        },
    )


# ---------------------------------------------------------------- batches
def put_batches(
    table_name: str,
    client_id: str,
    run_id: str,
    batches: list[list[str]],
    carried: Iterable[int] = (),
    node_batches: Iterable[int] = (),
    shards: list[str | None] | None = None,
) -> None:
    """Idempotent: a retried plan writes the same ids with the same SKUs. The batches at the
    indexes `carried` hold SKUs that carry sticky adjustments (repositories/adjustments.py); those
    at `node_batches` hold a hierarchy run's node ids (services/hierarchy.py); `shards[i]`: the
    training shard whose global model predicts batch i (None, or past its end: none)."""
    flagged = set(carried)
    nodes = set(node_batches)
    with table(table_name).batch_writer() as writer:
        for index, skus in enumerate(batches):
            item: dict[str, Any] = {
                "pk": batches_pk(client_id, run_id),
                "sk": batch_sk(batch_id(index)),
                "skus": skus,
                "status": BatchStatus.PENDING.value,
            }
            if index in flagged:
                item["carried"] = True
            if index in nodes:
                item["kind"] = "nodes"
            if shards and index < len(shards) and shards[index] is not None:
                item["shard"] = shards[index]
            writer.put_item(Item=item)


def batch_id(index: int) -> str:
    return f"b{index:07d}"


def batch_index(batch: str) -> int:
    return int(batch[1:])


def batch_record(item: dict[str, Any]) -> BatchRecord:
    """A batch item as a BatchRecord (numbers of its record converted here, once)."""
    plain = dynamo.plain(item)
    return BatchRecord(
        batch_id=batch_id_of(str(plain["sk"])),
        status=BatchStatus(plain["status"]),
        skus=tuple(str(s) for s in plain.get("skus") or ()),
        record=plain.get("record"),
        claim=plain.get("claim") or None,
        carried=bool(plain.get("carried")),
        kind=str(plain.get("kind") or "skus"),
        shard=plain.get("shard") or None,
    )


def get_batch(table_name: str, client_id: str, run_id: str, batch: str) -> BatchRecord | None:
    item = dynamo.get(table_name, batches_pk(client_id, run_id), batch_sk(batch))
    return batch_record(item) if item else None


def iter_batches(table_name: str, client_id: str, run_id: str) -> Iterator[BatchRecord]:
    items = dynamo.query_prefix(table_name, batches_pk(client_id, run_id), BATCH_PREFIX)
    return (batch_record(i) for i in items)


def settle_batch(
    table_name: str,
    client_id: str,
    run_id: str,
    batch: str,
    *,
    outcome: BatchStatus,
    done: int,
    failed: int,
    record: dict[str, Any],
    deadline: str,
    results: list[dict[str, Any]],
    shards: int,
    overlays: dict[str, Overlay] | None = None,
) -> bool:
    """PENDING -> `outcome` for the batch, its results written (with the sticky adjustments their
    SKUs carry, `overlays`) and its counts added to the running run, atomically.

    False when the batch was already settled (a duplicate delivery) or the run is no longer running:
    then nothing is written, results included.
    """
    by_sku = {str(r["sku"]): r for r in results}  # a run asked for a SKU twice: one item, once
    if len(by_sku) > MAX_RESULTS_PER_SETTLE:
        raise ValueError(f"a batch settles at most {MAX_RESULTS_PER_SETTLE} results in one transaction")
    overlays = overlays or {}
    actions: list[dict[str, Any]] = [
        {"Put": {"Item": result_item(client_id, run_id, shards, result, overlays.get(sku))}}
        for sku, result in by_sku.items()
    ]
    actions += [
        {
            "Update": {
                "Key": {"pk": batches_pk(client_id, run_id), "sk": batch_sk(batch)},
                "UpdateExpression": "SET #s = :outcome, #r = :record",
                "ConditionExpression": "#s = :pending",
                "ExpressionAttributeNames": {"#s": "status", "#r": "record"},
                "ExpressionAttributeValues": {
                    ":outcome": BatchStatus(outcome).value,
                    ":pending": BatchStatus.PENDING.value,
                    ":record": dynamo.storable(record, undefined_as_null=True),  # metric sums
                },
            }
        },
        {
            "Update": {
                "Key": _key(client_id, run_id),
                "UpdateExpression": "ADD skus_done :done, skus_failed :failed, batches_done :one "
                "SET gsi1sk = :deadline",
                "ConditionExpression": "#s = :running",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {
                    ":done": done,
                    ":failed": failed,
                    ":one": 1,
                    ":running": RunStatus.RUNNING.value,
                    ":deadline": active_run_gsi1sk(deadline, client_id, run_id),
                },
            }
        },
        _release_slot(client_id),
    ]
    try:
        dynamo.transact(table_name, actions)
    except dynamo.ConditionFailed:
        return False
    return True


def claim_next_batch(table_name: str, client_id: str, run_id: str, max_in_flight: int) -> int | None:
    """Take the tenant's next in-flight slot and this run's next unsent batch, atomically.

    None when the run has sent every batch, is not running, or the tenant is at its tier's cap
    (a batch settling later releases a slot and claims again). The claim stamps the batch with a
    token of this call, so when the answer of the write is lost (a timeout, retries exhausted)
    the caller can still tell whether the batch became its own.
    """
    run = get_run(table_name, client_id, run_id)
    if run is None or run.status is not RunStatus.RUNNING or run.all_sent:
        return None
    sent = run.batches_sent
    token = uuid.uuid4().hex
    try:
        dynamo.transact(table_name, _claim_actions(client_id, run_id, sent, max_in_flight, token))
    except dynamo.ConditionFailed as exc:
        if _claimed_by(table_name, client_id, run_id, sent) == token:
            return sent
        if 0 in exc.failed:  # another sender took this batch: try the next one
            return claim_next_batch(table_name, client_id, run_id, max_in_flight)
        return None  # the tenant has no free slot
    except ClientError:
        if _claimed_by(table_name, client_id, run_id, sent) == token:
            return sent
        raise
    return sent


def _claim_actions(client_id: str, run_id: str, index: int, max_in_flight: int, token: str) -> list[dict[str, Any]]:
    return [
        {
            "Update": {
                "Key": _key(client_id, run_id),
                "UpdateExpression": "SET batches_sent = :next",
                "ConditionExpression": "#s = :running AND (attribute_not_exists(batches_sent) OR batches_sent = :sent)",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":next": index + 1, ":sent": index, ":running": RunStatus.RUNNING.value},
            }
        },
        {
            "Update": {
                "Key": _counters_key(client_id),
                "UpdateExpression": "ADD batches_in_flight :one",
                "ConditionExpression": "attribute_not_exists(batches_in_flight) OR batches_in_flight < :max",
                "ExpressionAttributeValues": {":one": 1, ":max": max_in_flight},
            }
        },
        {
            "Update": {
                "Key": {"pk": batches_pk(client_id, run_id), "sk": batch_sk(batch_id(index))},
                "UpdateExpression": "SET claim = :token",
                "ConditionExpression": "attribute_not_exists(claim)",
                "ExpressionAttributeValues": {":token": token},
            }
        },
    ]


def _claimed_by(table_name: str, client_id: str, run_id: str, index: int) -> str | None:
    batch = get_batch(table_name, client_id, run_id, batch_id(index))
    return batch.claim if batch else None


def claimed_unsettled_batches(table_name: str, client_id: str, run_id: str) -> list[str]:
    """Batches sent (claimed) but not settled: what a repair sends again."""
    return [b.batch_id for b in iter_batches(table_name, client_id, run_id) if b.claim and b.pending]


def skip_batch(table_name: str, client_id: str, run_id: str, batch: str) -> bool:
    """PENDING -> SKIPPED for a batch of a run that stopped (cancelled, failed): frees its slot once."""
    try:
        dynamo.transact(
            table_name,
            [
                {
                    "Update": {
                        "Key": {"pk": batches_pk(client_id, run_id), "sk": batch_sk(batch)},
                        "UpdateExpression": "SET #s = :skipped",
                        "ConditionExpression": "#s = :pending",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {
                            ":skipped": BatchStatus.SKIPPED.value,
                            ":pending": BatchStatus.PENDING.value,
                        },
                    }
                },
                _release_slot(client_id),
            ],
        )
    except dynamo.ConditionFailed:
        return False
    return True


def runs_waiting_for_slots(table_name: str, client_id: str) -> list[str]:
    """The tenant's RUNNING runs that still have unsent batches, oldest first."""
    items, _ = page_runs(table_name, client_id, 1000, None, RunStatus.RUNNING)
    return sorted(r.run_id for r in items if not r.all_sent)


# ---------------------------------------------------------------- results
def put_results(table_name: str, client_id: str, run_id: str, shards: int, results: list[dict[str, Any]]) -> None:
    """Results written outside a settle (benchmarks seeding a finished run): idempotent overwrite."""
    with table(table_name).batch_writer(overwrite_by_pkeys=["pk", "sk"]) as writer:
        for result in results:
            writer.put_item(Item=result_item(client_id, run_id, shards, result))


def result_item(
    client_id: str, run_id: str, shards: int, result: dict[str, Any], overlay: Overlay | None = None
) -> dict[str, Any]:
    """A result's whole item: its document and the sticky adjustments it carries (`overlay`)."""
    return {**result_key(client_id, run_id, shards, result["sku"]), **_packed(result), **_overlay(overlay)}


def unstorable(result: dict[str, Any], record: dict[str, Any]) -> str | None:
    """Why a result, or a batch record holding its sums, cannot be stored (None when both can).

    The checks are DynamoDB's own: the serializer's number range and precision (a sum of 1e307s
    overflows it) and the item size."""
    try:
        json.dumps(record, allow_nan=False)  # an infinite or NaN sum is no number at all
        TypeSerializer().serialize(dynamo.storable(record))
    except (ArithmeticError, TypeError, ValueError) as exc:  # decimal.Overflow, Underflow, Inexact...
        return f"a number out of the store's range ({type(exc).__name__})"
    size = len(_packed(result)["document"].value)
    if size > MAX_RESULT_BYTES:
        return f"a result of {size} bytes, over {MAX_RESULT_BYTES}"
    return None


# A result travels as one compressed JSON document: a nested map of numbers costs DynamoDB (and
# its emulator) a typed attribute per number, several times the bytes - and write units - of the
# same values as JSON. The demand class stays a top-level attribute so a query can filter on it.
# The document is the result exactly (strings, keys, any finite float), except that undefined
# numbers (NaN, infinities: a metric over a constant history) are null (dynamo.defined).
# Adjustments never rewrite the document: they set `version`, `final` (repositories/adjustments.py)
# beside it; sticky adjustments carried in when the result was written are `carried`.
def _packed(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema_version": 2,
        "demand_class": result.get("demand_class"),
        "document": dynamo.pack_json(result),
    }


def _overlay(overlay: Overlay | None) -> dict[str, Any]:
    """The attributes of sticky adjustments a result carries from the moment it is written."""
    if overlay is None:
        return {}
    final, carried = overlay
    return {"final": dynamo.pack_json(list(final)), "carried": adjustments.pack_records(carried)}


def stored_result(item: dict[str, Any]) -> StoredResult:
    """A result item as a StoredResult: its document, and what adjustments made of it."""
    if "document" not in item:  # schema_version 1: every field a top-level attribute
        plain = {k: v for k, v in item.items() if k not in ("pk", "sk", "schema_version")}
        return StoredResult(document=dynamo.plain(plain))
    final = item.get("final")
    return StoredResult(
        document=dict(dynamo.unpack_json(item["document"])),
        version=int(item.get("version") or 0),
        final=tuple(dynamo.unpack_json(final)) if final is not None else None,
        carried=adjustments.unpack_records(item.get("carried")),
    )


def result_key(client_id: str, run_id: str, shards: int, sku: str) -> dict[str, str]:
    return {"pk": results_pk(client_id, run_id, result_shard(sku, shards)), "sk": sku_sk(sku)}


def get_result(table_name: str, client_id: str, run_id: str, shards: int, sku: str) -> StoredResult | None:
    key = result_key(client_id, run_id, shards, sku)
    item = dynamo.get(table_name, key["pk"], key["sk"])
    return stored_result(item) if item else None


def page_results(
    table_name: str,
    client_id: str,
    run_id: str,
    shards: int,
    limit: int,
    position: tuple[int, str | None],
    demand_class: str | None,
) -> tuple[list[StoredResult], tuple[int, str | None] | None]:
    """Results shard by shard, SKU order within a shard. `position` is (shard, last SKU seen)."""
    shard, after = position
    items: list[StoredResult] = []
    while shard < shards and len(items) < limit:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(results_pk(client_id, run_id, shard))
            & Key("sk").begins_with(SKU_PREFIX),
            "Limit": limit - len(items),
        }
        if demand_class:
            kwargs["FilterExpression"] = Attr("demand_class").eq(demand_class)
        if after is not None:
            kwargs["ExclusiveStartKey"] = {"pk": results_pk(client_id, run_id, shard), "sk": sku_sk(after)}
        page = table(table_name).query(**kwargs)
        items.extend(stored_result(dict(i)) for i in page.get("Items", []))
        last = page.get("LastEvaluatedKey")
        if last:
            after = sku_of(str(last["sk"]))
        else:
            shard, after = shard + 1, None
    if shard >= shards:
        return items, None
    return items, (shard, after)


def iter_results(table_name: str, client_id: str, run_id: str, shards: int) -> Iterator[StoredResult]:
    position: tuple[int, str | None] | None = (0, None)
    while position is not None:
        items, position = page_results(table_name, client_id, run_id, shards, 1000, position, None)
        yield from items


def get_results(
    table_name: str, client_id: str, run_id: str, shards: int, skus: Iterable[str]
) -> dict[str, StoredResult]:
    """The results of these SKUs in a run (absent ones absent), strongly consistent, 100 keys a
    call: their document, version and final forecast (not the adjustments they carried)."""
    keys = [result_key(client_id, run_id, shards, s) for s in dict.fromkeys(skus)]
    client = table(table_name).meta.client
    found: dict[str, StoredResult] = {}
    names = {"#d": "document", "#v": "version", "#f": "final"}
    for start in range(0, len(keys), 100):
        request: dict[str, Any] = {
            table_name: {
                "Keys": keys[start : start + 100],
                "ConsistentRead": True,
                "ProjectionExpression": "sk, #d, #v, #f",
                "ExpressionAttributeNames": names,
            }
        }
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer["Responses"].get(table_name, []):
                found[sku_of(str(item["sk"]))] = stored_result(dict(item))
            request = answer.get("UnprocessedKeys") or {}
    return found
