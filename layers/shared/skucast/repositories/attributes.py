"""Item attributes and hierarchy declarations (the only code touching boto3 for them).

Layout (keys.py):
- CLIENT#<c>#ATTRS / META: `version` (the tenant's attribute version, +1 per write round that
  changes a value), `rounds` (+1 per write round) and `n_<name>` (how many SKUs hold each
  attribute name now);
- CLIENT#<c>#ATTRS / SKU#<sku>: one item per SKU with attributes: `attributes` (a map of the
  current values, for filtering), `blob` (skucast.attributes.encode_attributes: writers and the
  versioned history) and `version` (its latest change);
- CLIENT#<c>#HIERARCHIES / HIERARCHY#<name>: a declared hierarchy.

Writes are rounds: read META, read the round's SKU items, then one transaction of the items and
an update of META conditioned on the round counter read. Two writers of one tenant cannot both commit a
round from the same read (the second retries from a fresh read), so a version's changes are
exactly one round's and a reader that took version V sees no later change by filtering on it.
The price: one tenant's attribute writes are serial (see README "Item attributes").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import Binary

from skucast.attributes import StoredAttributes, decode_attributes, encode_attributes
from skucast.aws import table
from skucast.records import HierarchyRecord
from skucast.repositories import dynamo
from skucast.repositories.demand import BATCH_GET_LIMIT, binary
from skucast.repositories.keys import (
    HIERARCHY_PREFIX,
    SKU_PREFIX,
    attributes_meta_sk,
    attributes_pk,
    hierarchies_pk,
    hierarchy_name_of,
    hierarchy_sk,
    sku_of,
    sku_sk,
)

COUNT_PREFIX = "n_"  # META's per-name counts: n_<attribute name>
ROUND_ITEMS = 50
ROUND_BYTES = 3_000_000  # a transaction holds at most 4 MB
CONFLICT_RETRIES = 5


@dataclass(frozen=True)
class AttributesMeta:
    version: int  # the tenant's attribute version: +1 per round that changed a value
    rounds: int  # +1 per round written (the optimistic-concurrency token of every writer)
    counts: dict[str, int]  # SKUs holding each attribute name now (names with none left out)


class RoundConflict(Exception):
    """Another round of this tenant committed since META was read: read again."""


def meta(table_name: str, client_id: str) -> AttributesMeta:
    """The tenant's attribute version, round counter and per-name counts (strongly consistent)."""
    item = dynamo.get(table_name, attributes_pk(client_id), attributes_meta_sk())
    if not item:
        return AttributesMeta(0, 0, {})
    plain = dynamo.plain(item)
    counts = {k[len(COUNT_PREFIX) :]: int(v) for k, v in plain.items() if k.startswith(COUNT_PREFIX) and int(v) > 0}
    return AttributesMeta(int(plain.get("version") or 0), int(plain.get("rounds") or 0), dict(sorted(counts.items())))


def get_many(table_name: str, client_id: str, skus: Iterable[str]) -> dict[str, StoredAttributes]:
    """The stored attributes of each of these SKUs that has an item (strongly consistent)."""
    wanted = list(dict.fromkeys(skus))
    client = table(table_name).meta.client
    found: dict[str, StoredAttributes] = {}
    for start in range(0, len(wanted), BATCH_GET_LIMIT):
        keys = [{"pk": attributes_pk(client_id), "sk": sku_sk(s)} for s in wanted[start : start + BATCH_GET_LIMIT]]
        request: dict[str, Any] = {table_name: {"Keys": keys, "ConsistentRead": True}}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer["Responses"].get(table_name, []):
                found[sku_of(str(item["sk"]))] = decode_attributes(binary(item["blob"]))
            request = answer.get("UnprocessedKeys") or {}
    return found


def current_in_range(table_name: str, client_id: str, first: str, last: str) -> dict[str, dict[str, str]]:
    """The current attributes of every SKU in [first, last] (SKU order), reading only the map
    (one query per 1 MB: the SKUs of one catalog page)."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(attributes_pk(client_id))
        & Key("sk").between(sku_sk(first), sku_sk(last)),
        "ProjectionExpression": "sk, #a",
        "ExpressionAttributeNames": {"#a": "attributes"},
        "ConsistentRead": True,
    }
    found: dict[str, dict[str, str]] = {}
    while True:
        answer = table(table_name).query(**kwargs)
        for item in answer.get("Items", []):
            found[sku_of(str(item["sk"]))] = {str(k): str(v) for k, v in (item.get("attributes") or {}).items()}
        if "LastEvaluatedKey" not in answer:
            return found
        kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def iter_stored(table_name: str, client_id: str) -> Iterable[tuple[str, StoredAttributes]]:
    """Every SKU with attributes, in SKU order, with its history (for reading as of a version)."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(attributes_pk(client_id)) & Key("sk").begins_with(SKU_PREFIX),
        "ConsistentRead": True,
    }
    while True:
        answer = table(table_name).query(**kwargs)
        for item in answer.get("Items", []):
            yield sku_of(str(item["sk"])), decode_attributes(binary(item["blob"]))
        if "LastEvaluatedKey" not in answer:
            return
        kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def write_round(
    table_name: str,
    client_id: str,
    read: AttributesMeta,
    writes: list[tuple[str, StoredAttributes]],
    deltas: dict[str, int],
    upload_id: str,
    changed: bool,
) -> None:
    """One round: the SKU items and META in one transaction, conditioned on META's round counter
    as read (every round moves it; the version moves only when `changed`, a value changed);
    raises RoundConflict when another round committed since."""
    actions: list[dict[str, Any]] = []
    for sku, stored in writes:
        actions.append(
            {
                "Put": {
                    "Item": {
                        "pk": attributes_pk(client_id),
                        "sk": sku_sk(sku),
                        "schema_version": 1,
                        "attributes": stored.current,
                        "blob": Binary(encode_attributes(stored)),
                        "version": stored.version,
                        "last_upload_id": upload_id,
                    }
                }
            }
        )
    names = {f"#c{i}": COUNT_PREFIX + n for i, n in enumerate(sorted(deltas))}
    values: dict[str, Any] = {f":c{i}": deltas[n] for i, n in enumerate(sorted(deltas))}
    values[":v"], values[":n"] = read.version + (1 if changed else 0), read.rounds + 1
    adds = ", ".join(f"#c{i} :c{i}" for i in range(len(deltas)))
    update = "SET version = :v, rounds = :n" + (f" ADD {adds}" if adds else "")
    if read.rounds:
        condition, values[":r"] = "rounds = :r", read.rounds
    else:
        condition = "attribute_not_exists(rounds)"
    meta_update: dict[str, Any] = {
        "Key": {"pk": attributes_pk(client_id), "sk": attributes_meta_sk()},
        "UpdateExpression": update,
        "ConditionExpression": condition,
        "ExpressionAttributeValues": values,
    }
    if names:
        meta_update["ExpressionAttributeNames"] = names
    actions.append({"Update": meta_update})
    try:
        dynamo.transact_retrying(table_name, actions, CONFLICT_RETRIES)
    except dynamo.ConditionFailed:
        raise RoundConflict(client_id) from None


# ---------------------------------------------------------------- hierarchies
def _hierarchy(item: dict[str, Any]) -> HierarchyRecord:
    plain = dynamo.plain(item)
    return HierarchyRecord(
        name=hierarchy_name_of(str(plain["sk"])),
        levels=tuple(str(x) for x in plain["levels"]),
        created_at=str(plain.get("created_at") or ""),
        updated_at=str(plain.get("updated_at") or ""),
    )


def list_hierarchies(table_name: str, client_id: str) -> list[HierarchyRecord]:
    answer = table(table_name).query(
        KeyConditionExpression=Key("pk").eq(hierarchies_pk(client_id)) & Key("sk").begins_with(HIERARCHY_PREFIX),
        ConsistentRead=True,
    )
    return [_hierarchy(i) for i in answer.get("Items", [])]


def get_hierarchy(table_name: str, client_id: str, name: str) -> HierarchyRecord | None:
    item = dynamo.get(table_name, hierarchies_pk(client_id), hierarchy_sk(name))
    return _hierarchy(item) if item else None


def put_hierarchy(table_name: str, client_id: str, name: str, levels: list[str], at: str) -> bool:
    """Declare or replace; True when it was created."""
    answer = table(table_name).update_item(
        Key={"pk": hierarchies_pk(client_id), "sk": hierarchy_sk(name)},
        UpdateExpression="SET levels = :l, updated_at = :t, schema_version = :s, "
        "created_at = if_not_exists(created_at, :t)",
        ExpressionAttributeValues={":l": levels, ":t": at, ":s": 1},
        ReturnValues="ALL_OLD",
    )
    return not answer.get("Attributes")


def delete_hierarchy(table_name: str, client_id: str, name: str) -> bool:
    """False when there was none."""
    return dynamo.conditional(
        table(table_name).delete_item,
        Key={"pk": hierarchies_pk(client_id), "sk": hierarchy_sk(name)},
        ConditionExpression="attribute_exists(pk)",
    )
