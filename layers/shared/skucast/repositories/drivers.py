"""Declared drivers, their values and the tenant's calendar (the only code touching boto3 for them).

Layout (keys.py):
- declarations: CLIENT#<c>#DRIVERS / DRIVER#<name> (kind, aggregate, generation, counts, dates);
- values: CLIENT#<c>#DRIVER#<name>#<generation>#<shard> / SKU#<sku>, one item per (driver, SKU)
  holding its dated values with, per date, the upload that wrote it (skucast.drivers.encode_values)
  and a `version` for optimistic concurrency;
- deletion in progress: CLIENT#<c>#DRIVERS / PURGE#<name>#<generation>;
- the calendar: CLIENT#<c> / CALENDAR.

Writes of values are transactions of up to VALUES_PER_ROUND items, each conditioned on the
version it was read at (or on not existing), plus one update of the declaration that counts the
new items and checks the generation: a concurrent writer of the same item makes the round retry
from a fresh read; a driver deleted meanwhile makes it stop (DriverGone) with nothing written, so
no value is ever written under a generation after its purge began.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import Binary

from skucast.aws import table
from skucast.drivers import StoredValues, decode_values, encode_values
from skucast.records import DriverRecord
from skucast.repositories import dynamo
from skucast.repositories.demand import BATCH_GET_LIMIT, binary
from skucast.repositories.keys import (
    DRIVER_PREFIX,
    DRIVER_PURGE_PREFIX,
    SERIES_SHARDS,
    calendar_sk,
    driver_purge_of,
    driver_purge_sk,
    driver_sk,
    driver_values_pk,
    driver_values_shard_pk,
    drivers_pk,
    sku_of,
    sku_sk,
    tenant_pk,
)

VALUES_PER_ROUND = 50  # items of up to ~60 KB: a transaction stays under its 4 MB
CONFLICT_RETRIES = 5


class DriverGone(Exception):
    """The driver was deleted (or declared afresh) while values were being written."""


class ValuesConflict(Exception):
    """Another writer changed one of the round's items since it was read: read again."""


def _record(item: dict[str, Any]) -> DriverRecord:
    plain = dynamo.plain(item)
    return DriverRecord(
        name=str(plain["name"]),
        kind=str(plain["kind"]),
        aggregate=str(plain["aggregate"]),
        known_in_advance=bool(plain["known_in_advance"]),
        generation=str(plain["generation"]),
        description=plain.get("description"),
        created_at=str(plain.get("created_at") or ""),
        updated_at=str(plain.get("updated_at") or ""),
        skus_with_values=dynamo.count(plain, "skus_with_values"),
        first_date=plain.get("first_date"),
        last_date=plain.get("last_date"),
    )


def _key(client_id: str, name: str) -> dict[str, str]:
    return {"pk": drivers_pk(client_id), "sk": driver_sk(name)}


def get_driver(table_name: str, client_id: str, name: str) -> DriverRecord | None:
    item = dynamo.get(table_name, drivers_pk(client_id), driver_sk(name))
    return _record(item) if item else None


def list_drivers(table_name: str, client_id: str) -> list[DriverRecord]:
    """Every declared driver, by name (strongly consistent: a declaration is read right after)."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(drivers_pk(client_id)) & Key("sk").begins_with(DRIVER_PREFIX),
        "ConsistentRead": True,
    }
    found: list[DriverRecord] = []
    while True:
        answer = table(table_name).query(**kwargs)
        found += [_record(i) for i in answer.get("Items", [])]
        if "LastEvaluatedKey" not in answer:
            return found
        kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def create_driver(table_name: str, client_id: str, fields: dict[str, Any]) -> bool:
    """A new declaration; False when the name is already declared."""
    item = {**_key(client_id, fields["name"]), "schema_version": 1, **dynamo.storable(fields)}
    return dynamo.conditional(table(table_name).put_item, Item=item, ConditionExpression="attribute_not_exists(pk)")


def replace_driver(table_name: str, client_id: str, name: str, fields: dict[str, Any]) -> bool:
    """A declaration's settings replaced (its values, generation and counts kept); False when the
    name is not declared."""
    names = {f"#{k}": k for k in fields}
    sets = ", ".join(f"#{k} = :{k}" for k in fields)
    return dynamo.conditional(
        table(table_name).update_item,
        Key=_key(client_id, name),
        UpdateExpression=f"SET {sets}",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":{k}": v for k, v in dynamo.storable(fields).items()},
        ConditionExpression="attribute_exists(pk)",
    )


def delete_driver(table_name: str, client_id: str, driver: DriverRecord, at: str) -> bool:
    """The declaration gone and its generation marked for purging, in one transaction; False when
    it was already deleted or declared afresh (another generation)."""
    try:
        dynamo.transact(
            table_name,
            [
                {
                    "Delete": {
                        "Key": _key(client_id, driver.name),
                        "ConditionExpression": "generation = :g",
                        "ExpressionAttributeValues": {":g": driver.generation},
                    }
                },
                {
                    "Put": {
                        "Item": {
                            "pk": drivers_pk(client_id),
                            "sk": driver_purge_sk(driver.name, driver.generation),
                            "schema_version": 1,
                            "deleted_at": at,
                        }
                    }
                },
            ],
        )
    except dynamo.ConditionFailed:
        return False
    return True


def pending_purges(table_name: str, client_id: str) -> list[tuple[str, str]]:
    """(name, generation) of deleted drivers whose values are not all removed yet."""
    answer = table(table_name).query(
        KeyConditionExpression=Key("pk").eq(drivers_pk(client_id)) & Key("sk").begins_with(DRIVER_PURGE_PREFIX),
        ConsistentRead=True,
    )
    return [driver_purge_of(str(i["sk"])) for i in answer.get("Items", [])]


def purge(table_name: str, client_id: str, name: str, generation: str, deadline: float) -> bool:
    """Remove a deleted generation's value items, shard by shard, until `deadline` (monotonic);
    True when all are gone (its purge mark removed too), False when time ran out (call again)."""
    db = table(table_name)
    for shard in range(SERIES_SHARDS):
        pk = driver_values_pk(client_id, name, generation, shard)
        while True:
            if time.monotonic() > deadline:
                return False
            answer = db.query(
                KeyConditionExpression=Key("pk").eq(pk), ProjectionExpression="pk, sk", Limit=500, ConsistentRead=True
            )
            items = answer.get("Items", [])
            if not items:
                break
            with db.batch_writer() as batch:
                for item in items:
                    batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
    db.delete_item(Key={"pk": drivers_pk(client_id), "sk": driver_purge_sk(name, generation)})
    return True


# ---------------------------------------------------------------- values
def get_values(
    table_name: str, client_id: str, name: str, generation: str, skus: Iterable[str]
) -> dict[str, tuple[StoredValues, int]]:
    """(values, version) of each of these SKUs that has values (strongly consistent)."""
    wanted = list(dict.fromkeys(skus))
    client = table(table_name).meta.client
    found: dict[str, tuple[StoredValues, int]] = {}
    for start in range(0, len(wanted), BATCH_GET_LIMIT):
        keys = [
            {"pk": driver_values_shard_pk(client_id, name, generation, s), "sk": sku_sk(s)}
            for s in wanted[start : start + BATCH_GET_LIMIT]
        ]
        request: dict[str, Any] = {table_name: {"Keys": keys, "ConsistentRead": True}}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer["Responses"].get(table_name, []):
                found[sku_of(str(item["sk"]))] = (decode_values(binary(item["values"])), int(item["version"]))
            request = answer.get("UnprocessedKeys") or {}
    return found


def get_sku_values(
    table_name: str, client_id: str, drivers: Iterable[DriverRecord], sku: str
) -> dict[str, StoredValues]:
    """One SKU's values of each of these drivers that has any, in one batch read (at most 50 drivers)."""
    wanted = {driver_values_shard_pk(client_id, d.name, d.generation, sku): d.name for d in drivers}
    client = table(table_name).meta.client
    found: dict[str, StoredValues] = {}
    keys = [{"pk": pk, "sk": sku_sk(sku)} for pk in wanted]
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        request: dict[str, Any] = {table_name: {"Keys": keys[start : start + BATCH_GET_LIMIT], "ConsistentRead": True}}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer["Responses"].get(table_name, []):
                found[wanted[str(item["pk"])]] = decode_values(binary(item["values"]))
            request = answer.get("UnprocessedKeys") or {}
    return found


def write_values(
    table_name: str,
    client_id: str,
    name: str,
    generation: str,
    writes: list[tuple[str, StoredValues, int | None]],
    upload_id: str,
) -> None:
    """One round: (sku, values, version read or None for a new item). All or nothing; raises
    ValuesConflict (read again) or DriverGone (stop)."""
    actions: list[dict[str, Any]] = []
    for sku, values, version in writes:
        item = {
            "pk": driver_values_shard_pk(client_id, name, generation, sku),
            "sk": sku_sk(sku),
            "schema_version": 1,
            "values": Binary(encode_values(values)),
            "version": (version or 0) + 1,
            "last_upload_id": upload_id,
        }
        if version is None:
            actions.append({"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(pk)"}})
        else:
            actions.append(
                {
                    "Put": {
                        "Item": item,
                        "ConditionExpression": "version = :v",
                        "ExpressionAttributeValues": {":v": version},
                    }
                }
            )
    new = sum(1 for _, _, v in writes if v is None)
    actions.append(
        {
            "Update": {
                "Key": _key(client_id, name),
                "UpdateExpression": "ADD skus_with_values :n",
                "ConditionExpression": "generation = :g",
                "ExpressionAttributeValues": {":n": new, ":g": generation},
            }
        }
    )
    try:
        dynamo.transact_retrying(table_name, actions, CONFLICT_RETRIES)
    except dynamo.ConditionFailed as exc:
        if len(actions) - 1 in exc.failed:
            raise DriverGone(name) from None
        raise ValuesConflict(name) from None


def widen_dates(table_name: str, client_id: str, name: str, generation: str, first: str, last: str) -> None:
    """The declaration's first/last date widened to cover [first, last] (ISO dates compare as text)."""
    for attribute, value, beyond in (("first_date", first, ">"), ("last_date", last, "<")):
        dynamo.conditional(
            table(table_name).update_item,
            Key=_key(client_id, name),
            UpdateExpression=f"SET {attribute} = :d",
            ConditionExpression=f"generation = :g AND (attribute_not_exists({attribute}) OR {attribute} {beyond} :d)",
            ExpressionAttributeValues={":d": value, ":g": generation},
        )


# ---------------------------------------------------------------- calendar
def get_calendar(table_name: str, client_id: str) -> dict[str, Any] | None:
    item = dynamo.get(table_name, tenant_pk(client_id), calendar_sk())
    return dynamo.unpack_json(item["calendar"]) if item else None


def put_calendar(table_name: str, client_id: str, calendar: dict[str, Any], at: str) -> None:
    table(table_name).put_item(
        Item={
            "pk": tenant_pk(client_id),
            "sk": calendar_sk(),
            "schema_version": 1,
            "calendar": dynamo.pack_json(calendar),
            "updated_at": at,
        }
    )
