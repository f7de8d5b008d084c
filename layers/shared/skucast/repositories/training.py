"""A run's training shards (the global model's stage of the run: services/training.py).

Items (keys.py):
- shard: CLIENT#<c>#RUN#<r>#SHARDS / SHARD#<id>   first_batch, batches, skus, status
         PENDING|TRAINED|FAILED, lease (until when a trainer holds it)
The run item counts shards_total and shards_settled; its batches are sent once they are equal.

Exactly once: a shard moves PENDING -> TRAINED (or FAILED) in the transaction that adds one to
the run's shards_settled, on condition that it is still PENDING and the run RUNNING, so a
duplicate or late delivery cannot count twice. A trainer first takes the shard's lease: a
duplicate message arriving while the first trains finds it held and trains nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from skucast.aws import table
from skucast.records import RunStatus, ShardRecord, ShardStatus
from skucast.repositories import dynamo
from skucast.repositories.keys import (
    SHARD_PREFIX,
    active_run_gsi1sk,
    run_sk,
    shard_id_of,
    shard_sk,
    shards_pk,
    tenant_pk,
)


def shard_id(index: int) -> str:
    return f"s{index:05d}"


def _key(client_id: str, run_id: str, shard: str) -> dict[str, str]:
    return {"pk": shards_pk(client_id, run_id), "sk": shard_sk(shard)}


def shard_record(item: dict[str, Any]) -> ShardRecord:
    plain = dynamo.plain(item)
    return ShardRecord(
        shard_id=shard_id_of(str(plain["sk"])),
        status=ShardStatus(plain["status"]),
        first_batch=dynamo.count(plain, "first_batch"),
        batches=dynamo.count(plain, "batches"),
        skus=dynamo.count(plain, "skus"),
        lease=plain.get("lease") or None,
    )


def put_shards(table_name: str, client_id: str, run_id: str, shards: list[ShardRecord]) -> None:
    """Idempotent: a retried plan writes the same shards (a settled one is never rewritten)."""
    for shard in shards:
        dynamo.conditional(
            table(table_name).put_item,
            Item={
                **_key(client_id, run_id, shard.shard_id),
                "status": shard.status.value,
                "first_batch": shard.first_batch,
                "batches": shard.batches,
                "skus": shard.skus,
            },
            ConditionExpression="attribute_not_exists(pk) OR #s = :pending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":pending": ShardStatus.PENDING.value},
        )


def get_shard(table_name: str, client_id: str, run_id: str, shard: str) -> ShardRecord | None:
    item = dynamo.get(table_name, shards_pk(client_id, run_id), shard_sk(shard))
    return shard_record(item) if item else None


def iter_shards(table_name: str, client_id: str, run_id: str) -> Iterator[ShardRecord]:
    items = dynamo.query_prefix(table_name, shards_pk(client_id, run_id), SHARD_PREFIX)
    return (shard_record(i) for i in items)


def take_lease(table_name: str, client_id: str, run_id: str, shard: str, now: str, until: str) -> bool:
    """Hold a PENDING shard for training until `until` (ISO time); False when it is settled or
    another trainer's lease has not run out."""
    return dynamo.conditional(
        table(table_name).update_item,
        Key=_key(client_id, run_id, shard),
        UpdateExpression="SET lease = :until",
        ConditionExpression="#s = :pending AND (attribute_not_exists(lease) OR lease < :now)",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":until": until, ":now": now, ":pending": ShardStatus.PENDING.value},
    )


def release_lease(table_name: str, client_id: str, run_id: str, shard: str) -> None:
    """Give a PENDING shard back (its training failed: the retry may take it at once)."""
    dynamo.conditional(
        table(table_name).update_item,
        Key=_key(client_id, run_id, shard),
        UpdateExpression="REMOVE lease",
        ConditionExpression="#s = :pending",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":pending": ShardStatus.PENDING.value},
    )


def settle_shard(table_name: str, client_id: str, run_id: str, shard: str, outcome: ShardStatus, deadline: str) -> bool:
    """PENDING -> `outcome` and one more settled shard on the running run, atomically; False when
    the shard was settled already or the run is no longer running."""
    try:
        dynamo.transact(
            table_name,
            [
                {
                    "Update": {
                        "Key": _key(client_id, run_id, shard),
                        "UpdateExpression": "SET #s = :outcome REMOVE lease",
                        "ConditionExpression": "#s = :pending",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {
                            ":outcome": outcome.value,
                            ":pending": ShardStatus.PENDING.value,
                        },
                    }
                },
                {
                    "Update": {
                        "Key": {"pk": tenant_pk(client_id), "sk": run_sk(run_id)},
                        "UpdateExpression": "ADD shards_settled :one SET gsi1sk = :deadline",
                        "ConditionExpression": "#s = :running",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {
                            ":one": 1,
                            ":running": RunStatus.RUNNING.value,
                            ":deadline": active_run_gsi1sk(deadline, client_id, run_id),
                        },
                    }
                },
            ],
        )
    except dynamo.ConditionFailed:
        return False
    return True
