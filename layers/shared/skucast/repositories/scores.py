"""Scores of runs against actuals (services/scoring.py): the scored points, the sums they add to,
and the index of runs that actuals score.

Items (keys.py):
- index:  CLIENT#<c>#SCORING / RUN#<freq>#<run_id>   a finished run actuals may score (written in
          the transaction that finishes it: repositories/runs.transition)
- scores: CLIENT#<c>#RUN#<r>#SCORES#<shard> / SKU#<sku>   the SKU's scored points (compressed
          JSON), `version` (+1 per write), its class, method and MASE scale
- run:    CLIENT#<c>#RUN#<r>#ACCURACY / ALL | CLASS#<c> | METHOD#<m>   the sums of the run's
          scored points (flat numbers `<set>_<sum>`, set = metrics|naive|final), `skus`, and on ALL
          `dates` (the string set of the dates scored: actuals_through is its maximum)
- tenant: CLIENT#<c>#ACCURACY / <by>#<YYYY-MM>#<key>   the same sums per calendar month of the
          actuals' dates, by run, class or method

One write is one transaction: the changed score items, each on condition that it is still at the
version read, and the sums' deltas (new points' sums - old points' sums) ADDed to the run's and
the tenant's sums. So a sum always equals the sum over the stored points (up to the rounding of
adding float deltas), whatever the interleaving: a writer that read a stale item writes nothing
(VersionMoved) and scores again from a fresh read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.conditions import Key

from skucast.aws import table
from skucast.records import ScoreRecord, ScoringEntry
from skucast.repositories import dynamo
from skucast.repositories.keys import (
    RUN_ACCURACY_ALL,
    result_shard,
    run_accuracy_key_of,
    run_accuracy_pk,
    run_accuracy_sk,
    scores_pk,
    scoring_index_pk,
    scoring_index_prefix,
    scoring_index_sk,
    sku_of,
    sku_sk,
    tenant_accuracy_parts,
    tenant_accuracy_pk,
    tenant_accuracy_range,
    tenant_accuracy_sk,
)

BATCH_GET_LIMIT = 100
TINY = 1e-120  # a float delta this small is rounding noise (and below DynamoDB's Number range)


class VersionMoved(Exception):
    """A score item changed since it was read: nothing of the transaction was written."""


# ---------------------------------------------------------------- the index of scored runs
def index_action(client_id: str, entry: ScoringEntry) -> dict[str, Any]:
    """The Put that adds a finished run to the index (joins the transaction that finishes it)."""
    return {
        "Put": {
            "Item": {
                "pk": scoring_index_pk(client_id),
                "sk": scoring_index_sk(entry.frequency, entry.run_id),
                "schema_version": 1,
                "run_id": entry.run_id,
                "frequency": entry.frequency,
                "result_shards": entry.result_shards,
                "window_from": entry.window_from,
                "window_to": entry.window_to,
            }
        }
    }


def latest_runs(table_name: str, client_id: str, frequency: str, limit: int) -> list[ScoringEntry]:
    """The `limit` newest finished runs of a frequency in the index (one Query)."""
    answer = table(table_name).query(
        KeyConditionExpression=Key("pk").eq(scoring_index_pk(client_id))
        & Key("sk").begins_with(scoring_index_prefix(frequency)),
        ScanIndexForward=False,
        Limit=limit,
    )
    out = []
    for raw in answer.get("Items", []):
        item = dynamo.plain(dict(raw))
        out.append(
            ScoringEntry(
                run_id=str(item["run_id"]),
                frequency=str(item["frequency"]),
                result_shards=int(item["result_shards"]),
                window_from=str(item["window_from"]),
                window_to=str(item["window_to"]),
            )
        )
    return out


# ---------------------------------------------------------------- score items
def _score_key(client_id: str, run_id: str, shards: int, sku: str) -> dict[str, str]:
    return {"pk": scores_pk(client_id, run_id, result_shard(sku, shards)), "sk": sku_sk(sku)}


def bump_action(client_id: str, run_id: str, shards: int, sku: str) -> dict[str, Any]:
    """An Update that moves the SKU's score item to its next version (creating an empty one): an
    adjustment of the result carries it, so a scorer that read the result before cannot write."""
    return {
        "Update": {
            "Key": _score_key(client_id, run_id, shards, sku),
            "UpdateExpression": "ADD #v :one",
            "ExpressionAttributeNames": {"#v": "version"},
            "ExpressionAttributeValues": {":one": 1},
        }
    }


def score_record(item: Mapping[str, Any]) -> ScoreRecord:
    points = dynamo.unpack_json(item["points"]) if item.get("points") is not None else []
    scale = item.get("scale")
    return ScoreRecord(
        sku=sku_of(str(item["sk"])),
        version=int(item.get("version") or 0),
        points=tuple(points),
        demand_class=item.get("demand_class"),
        method=item.get("method"),
        scale=float(scale) if scale is not None else None,
    )


def get_scores(
    table_name: str, client_id: str, run_id: str, shards: int, skus: Iterable[str]
) -> dict[str, ScoreRecord]:
    """The score items of these SKUs in a run (strongly consistent), absent ones absent."""
    return {
        sku: score_record(item)
        for sku, item in batch_get(table_name, [_score_key(client_id, run_id, shards, s) for s in dict.fromkeys(skus)])
    }


def batch_get(table_name: str, keys: list[dict[str, str]]) -> Iterable[tuple[str, dict[str, Any]]]:
    """(sku, item) for these keys, 100 a call, strongly consistent."""
    client = table(table_name).meta.client
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        request: dict[str, Any] = {table_name: {"Keys": keys[start : start + BATCH_GET_LIMIT], "ConsistentRead": True}}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer["Responses"].get(table_name, []):
                yield sku_of(str(item["sk"])), dict(item)
            request = answer.get("UnprocessedKeys") or {}


@dataclass
class ScoreWrite:
    """A SKU's new points (lists), written on condition that its item is still at `version`."""

    sku: str
    version: int
    points: list[Any]
    demand_class: str | None
    method: str | None
    scale: float | None


@dataclass
class Deltas:
    """What to ADD to each sums item: (partition kind, sk) -> flat numbers; and the dates scored
    and SKUs newly scored, per run sums item."""

    numbers: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    dates: set[str] = field(default_factory=set)

    def add(self, where: tuple[str, str], flat: Mapping[str, float]) -> None:
        into = self.numbers.setdefault(where, {})
        for name, value in flat.items():
            into[name] = into.get(name, 0) + value


def run_item(dimension: str, key: str) -> tuple[str, str]:
    return ("run", RUN_ACCURACY_ALL if dimension == "all" else run_accuracy_sk(dimension, key))


def tenant_item(by: str, month: str, key: str) -> tuple[str, str]:
    return ("tenant", tenant_accuracy_sk(by, month, key))


def write_scores(
    table_name: str, client_id: str, run_id: str, shards: int, writes: list[ScoreWrite], deltas: Deltas
) -> None:
    """The score items and the sums' deltas in one transaction (module docstring). VersionMoved
    when a score item is no longer at the version read."""
    actions: list[dict[str, Any]] = []
    for w in writes:
        key = _score_key(client_id, run_id, shards, w.sku)
        item = {
            **key,
            "schema_version": 1,
            "version": w.version + 1,
            "points": dynamo.pack_json(w.points),
            "demand_class": w.demand_class,
            "method": w.method,
            "scale": dynamo.storable(w.scale, undefined_as_null=True),
        }
        condition = (
            "attribute_not_exists(pk) OR #v = :v"
            if w.version
            else "attribute_not_exists(pk) OR attribute_not_exists(#v)"
        )
        body: dict[str, Any] = {
            "Item": item,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#v": "version"},
        }
        if w.version:
            body["ExpressionAttributeValues"] = {":v": w.version}
        actions.append({"Put": body})
    for (kind, sk), numbers in sorted(deltas.numbers.items()):
        pk = run_accuracy_pk(client_id, run_id) if kind == "run" else tenant_accuracy_pk(client_id)
        update = _add_update(numbers, deltas.dates if (kind, sk) == ("run", RUN_ACCURACY_ALL) else set())
        if update is not None:
            actions.append({"Update": {"Key": {"pk": pk, "sk": sk}, **update}})
    if len(actions) > 100:
        raise ValueError("a scoring write takes at most 100 items")
    try:
        dynamo.transact_retrying(table_name, actions)
    except dynamo.ConditionFailed:
        raise VersionMoved from None


def _add_update(numbers: Mapping[str, float], dates: set[str]) -> dict[str, Any] | None:
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    parts: list[str] = []
    for i, (name, value) in enumerate(sorted(numbers.items())):
        if isinstance(value, float) and abs(value) < TINY:
            continue
        if value == 0:
            continue
        names[f"#a{i}"] = name
        values[f":a{i}"] = dynamo.number(value)
        parts.append(f"#a{i} :a{i}")
    if dates:
        names["#dates"] = "dates"
        values[":dates"] = set(dates)
        parts.append("#dates :dates")
    if not parts:
        return None
    return {
        "UpdateExpression": "ADD " + ", ".join(parts),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


# ---------------------------------------------------------------- reading the sums
@dataclass(frozen=True)
class SumsItem:
    dimension: str  # "all", "class", "method" (run items) or the `by` of a tenant item
    key: str
    month: str | None
    numbers: dict[str, float]
    dates: tuple[str, ...] = ()


def run_sums(table_name: str, client_id: str, run_id: str) -> list[SumsItem]:
    """Every sums item of a run (the whole run, per class, per method: a few dozen at most)."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(run_accuracy_pk(client_id, run_id)),
        "ConsistentRead": True,
    }
    out: list[SumsItem] = []
    while True:
        answer = table(table_name).query(**kwargs)
        for raw in answer.get("Items", []):
            dimension, key = run_accuracy_key_of(str(raw["sk"]))
            out.append(_sums_item(raw, dimension, key, None))
        if "LastEvaluatedKey" not in answer:
            return out
        kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def _sums_item(raw: Mapping[str, Any], dimension: str, key: str, month: str | None) -> SumsItem:
    plain = dynamo.plain({k: v for k, v in raw.items() if k not in ("pk", "sk", "dates")})
    numbers = {k: float(v) for k, v in plain.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    dates = tuple(sorted(str(d) for d in raw.get("dates") or ()))
    return SumsItem(dimension, key, month, numbers, dates)


def page_tenant_sums(
    table_name: str, client_id: str, by: str, first_month: str, last_month: str, limit: int, after: str | None
) -> tuple[list[SumsItem], str | None]:
    """The tenant's sums of one `by` over months first..last, in (month, key) order; the sk to go
    on after (None: the last page)."""
    low, high = tenant_accuracy_range(by, first_month, last_month)
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(tenant_accuracy_pk(client_id)) & Key("sk").between(low, high),
        "Limit": limit,
    }
    if after is not None:
        kwargs["ExclusiveStartKey"] = {"pk": tenant_accuracy_pk(client_id), "sk": after}
    out: list[SumsItem] = []
    while True:
        answer = table(table_name).query(**kwargs)
        for raw in answer.get("Items", []):
            item_by, month, key = tenant_accuracy_parts(str(raw["sk"]))
            out.append(_sums_item(raw, item_by, key, month))
        last = answer.get("LastEvaluatedKey")
        if len(out) >= limit or not last:
            return out[:limit], (str(last["sk"]) if last else None)
        kwargs["ExclusiveStartKey"] = last
        kwargs["Limit"] = limit - len(out)


def position_of(sk: str, by: str) -> bool:
    """Whether `sk` (from a cursor) is a position in the tenant's sums of `by`."""
    try:
        return tenant_accuracy_parts(sk)[0] == by
    except ValueError:
        return False
