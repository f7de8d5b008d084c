"""Scores of runs against actuals (services/scoring.py): the scored points, the sums they add to,
and the index of runs that actuals score.

Items (keys.py):
- index:  CLIENT#<c>#SCORING / RUN#<freq>#<run_id>   a finished run actuals may score (written in
          the transaction that finishes it: repositories/runs.transition)
- scores: CLIENT#<c>#RUN#<r>#SCORES#<shard> / SKU#<sku>   `version` (+1 per write) and `doc`
          (compressed JSON): the SKU's scored points, its class, method and MASE scale
- run:    CLIENT#<c>#RUN#<r>#ACCURACY / ALL   the sums of the run's scored points: `version` and
          `sums` (compressed JSON: per group - "all", "class/<c>", "method/<m>" - flat numbers
          `<set>_<sum>`, set = metrics|naive|final, and `skus`; the dates scored)
- tenant: CLIENT#<c>#ACCURACY / run#<YYYY-MM>#<run_id>   a run's sums of one calendar month of
          the actuals' dates; class#<YYYY-MM># and method#<YYYY-MM>#   the month's sums per class,
          per method (one item each: a handful of classes and methods)

One write is one transaction: the changed score items and the sums items they move (each sums
item read, its deltas - new points' sums less old points' sums - added), every item on condition
that it is still at the version read. So a sum always equals the sum over the stored points (up
to the rounding of adding float deltas), whatever the interleaving: a writer that read a stale
item writes nothing (VersionMoved) and scores again from a fresh read. (Sums as numbers ADDed by
UpdateExpression would need no read, but an ADD of ~60 attributes per item cost the emulator
~60 ms per update, 6x the whole ingest: bench/scoring.py.)
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
    run_accuracy_pk,
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
    body = dynamo.unpack_json(item["doc"]) if item.get("doc") is not None else {}
    scale = body.get("scale")
    return ScoreRecord(
        sku=sku_of(str(item["sk"])),
        version=int(item.get("version") or 0),
        points=tuple(body.get("points") or ()),
        demand_class=body.get("demand_class"),
        method=body.get("method"),
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


def batch_get(
    table_name: str, keys: list[dict[str, str]], *, sku_keys: bool = True
) -> Iterable[tuple[str, dict[str, Any]]]:
    """(sku, item) for these keys (sk the SKU's; else (sk, item)), 100 a call, strongly consistent."""
    client = table(table_name).meta.client
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        request: dict[str, Any] = {table_name: {"Keys": keys[start : start + BATCH_GET_LIMIT], "ConsistentRead": True}}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer["Responses"].get(table_name, []):
                yield (sku_of(str(item["sk"])) if sku_keys else str(item["sk"])), dict(item)
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


SumsKey = tuple[str, str]  # ("run", sk in the run's accuracy partition) or ("tenant", sk in the tenant's)
Flat = dict[str, float]


def run_item() -> SumsKey:
    """The run's sums item: groups "all", "class/<c>" and "method/<m>"."""
    return ("run", RUN_ACCURACY_ALL)


def tenant_item(by: str, month: str, key: str = "") -> SumsKey:
    """A tenant's sums item of one month: by run, one item per run (key: the run id; one group
    ""); by class or method, one item for the month (key ""), a group per class or method."""
    return ("tenant", tenant_accuracy_sk(by, month, key))


@dataclass
class SumsState:
    """A sums item as read (`version` 0: absent) and as it is to be written: flat named sums per
    group, and on the run's item the dates scored."""

    version: int = 0
    groups: dict[str, Flat] = field(default_factory=dict)
    dates: set[str] = field(default_factory=set)

    def add(self, groups: Mapping[str, Mapping[str, float]]) -> None:
        for group, flat in groups.items():
            into = self.groups.setdefault(group, {})
            for name, value in flat.items():
                into[name] = into.get(name, 0) + value


def _sums_pk(client_id: str, run_id: str, kind: str) -> str:
    return run_accuracy_pk(client_id, run_id) if kind == "run" else tenant_accuracy_pk(client_id)


def get_sums(table_name: str, client_id: str, run_id: str, keys: Iterable[SumsKey]) -> dict[SumsKey, SumsState]:
    """The sums items at these keys (strongly consistent); absent ones at version 0."""
    wanted = list(dict.fromkeys(keys))
    found = {k: SumsState() for k in wanted}
    by_key = {(_sums_pk(client_id, run_id, kind), sk): (kind, sk) for kind, sk in wanted}
    for _, raw in batch_get(table_name, [{"pk": pk, "sk": sk} for pk, sk in by_key], sku_keys=False):
        found[by_key[(str(raw["pk"]), str(raw["sk"]))]] = _state(raw)
    return found


def _state(raw: Mapping[str, Any]) -> SumsState:
    body = dynamo.unpack_json(raw["sums"]) if raw.get("sums") is not None else {}
    return SumsState(
        version=int(raw.get("version") or 0),
        groups={
            str(g): {str(k): float(v) for k, v in flat.items() if v is not None}
            for g, flat in (body.get("groups") or {}).items()
        },
        dates=set(body.get("dates") or ()),
    )


def write_scores(
    table_name: str,
    client_id: str,
    run_id: str,
    shards: int,
    writes: list[ScoreWrite],
    sums: Mapping[SumsKey, SumsState],
) -> None:
    """The score items and the sums items they move, in one transaction, each on condition that
    it is still at the version read (module docstring). VersionMoved otherwise: nothing written."""
    actions: list[dict[str, Any]] = []
    for w in writes:
        # One compressed document beside the key and version: few attributes to (de)serialise.
        body = {"points": w.points, "demand_class": w.demand_class, "method": w.method, "scale": w.scale}
        item = {
            **_score_key(client_id, run_id, shards, w.sku),
            "schema_version": 1,
            "version": w.version + 1,
            "doc": dynamo.pack_json(body),
        }
        actions.append({"Put": _versioned(item, w.version)})
    for (kind, sk), state in sorted(sums.items()):
        sums_body: dict[str, Any] = {"groups": state.groups, "dates": sorted(state.dates)}
        item = {
            "pk": _sums_pk(client_id, run_id, kind),
            "sk": sk,
            "schema_version": 1,
            "version": state.version + 1,
            "sums": dynamo.pack_json(sums_body),
        }
        actions.append({"Put": _versioned(item, state.version)})
    if len(actions) > MAX_ACTIONS:
        raise ValueError(f"a scoring write takes at most {MAX_ACTIONS} items")
    try:
        dynamo.transact_retrying(table_name, actions)
    except dynamo.ConditionFailed:
        raise VersionMoved from None


MAX_ACTIONS = 100  # TransactWriteItems


def _versioned(item: dict[str, Any], version: int) -> dict[str, Any]:
    """A Put on condition that the item is still at `version` (0: absent, or without a version)."""
    body: dict[str, Any] = {"Item": item, "ExpressionAttributeNames": {"#v": "version"}}
    if version:
        body["ConditionExpression"] = "#v = :v"
        body["ExpressionAttributeValues"] = {":v": version}
    else:
        body["ConditionExpression"] = "attribute_not_exists(#v)"
    return body


# ---------------------------------------------------------------- reading the sums
def run_sums(table_name: str, client_id: str, run_id: str) -> SumsState:
    """The run's sums item (version 0 and no groups before any actual)."""
    return get_sums(table_name, client_id, run_id, [run_item()])[run_item()]


@dataclass(frozen=True)
class MonthSums:
    """A tenant sums item: its month, its key ("" for class/method items), its groups."""

    month: str
    key: str
    groups: dict[str, Flat]


def page_tenant_sums(
    table_name: str, client_id: str, by: str, first_month: str, last_month: str, limit: int, after: str | None
) -> tuple[list[MonthSums], str | None]:
    """The tenant's sums items of one `by` over months first..last, in (month, key) order; the
    sk to go on after (None: the last page)."""
    low, high = tenant_accuracy_range(by, first_month, last_month)
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(tenant_accuracy_pk(client_id)) & Key("sk").between(low, high),
        "Limit": limit,
    }
    if after is not None:
        kwargs["ExclusiveStartKey"] = {"pk": tenant_accuracy_pk(client_id), "sk": after}
    out: list[MonthSums] = []
    while True:
        answer = table(table_name).query(**kwargs)
        for raw in answer.get("Items", []):
            _, month, key = tenant_accuracy_parts(str(raw["sk"]))
            out.append(MonthSums(month, key, _state(raw).groups))
        last = answer.get("LastEvaluatedKey")
        if len(out) >= limit or not last:
            return out[:limit], (str(last["sk"]) if last else None)
        kwargs["ExclusiveStartKey"] = last
        kwargs["Limit"] = limit - len(out)


def month_sk(by: str, month: str, key: str = "") -> str:
    return tenant_accuracy_sk(by, month, key)


def position_of(sk: str, by: str) -> bool:
    """Whether `sk` (from a cursor) is a position in the tenant's sums of `by`."""
    try:
        return tenant_accuracy_parts(sk)[0] == by
    except ValueError:
        return False
