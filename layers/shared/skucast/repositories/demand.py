"""The canonical demand store: one compressed daily series per (tenant, SKU), and the SKU catalog.

Layout (keys.py): series items under CLIENT#<id>#SERIES#<shard> / SKU#<sku> hold the encoded
DemandSeries (skucast.ingestion.series: a few KB for years of daily data, far below DynamoDB's
400 KB item limit). The catalog (the classification the API lists, without the series, so listing
SKUs never reads the series) is in pages of many SKUs: repositories/catalog.py.

Ingestion (services/demand.py) writes series items of schema_version 2, which add `owners`: which
upload last wrote each day (encoded below), and `anomalies`: the days flagged as outliers
(skucast/anomalies.py), written in the same put as the series they were computed from, so flags
and series never disagree. Merges of one tenant are serialised by its ingest lock
(repositories/uploads.py), and a merge writes its series and catalog pages in transactions that
also check the lock is still the writer's (the fence): a writer that stalled past its lease while
another merged cannot overwrite that merge with series it read before it. Transactions cost twice
the write units of batch writes; that is the price of never losing a point to a stale writer.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import Binary

from skucast.anomalies import StoredFlags
from skucast.aws import table
from skucast.ingestion.series import DemandSeries, decode, encode
from skucast.repositories import dynamo
from skucast.repositories.keys import SERIES_SHARDS, series_pk, series_shard_pk, sku_of, sku_sk

BATCH_GET_LIMIT = 100  # DynamoDB BatchGetItem
# TransactWriteItems takes 100 actions and 4 MB: 99 puts and the fence, under 3.5 MB of items.
TRANSACTION_PUTS = 99
TRANSACTION_BYTES = 3_500_000
CONFLICT_RETRIES = 5  # a conflict is another request on the lock item at that instant: brief


class Fenced(Exception):
    """The writer no longer holds the tenant's merge lock: the transaction wrote nothing."""


def _series_items(table_name: str, client_id: str, skus: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(sku, item) of every stored series among these SKUs, strongly consistent, 100 keys a call."""
    wanted = list(dict.fromkeys(skus))
    client = table(table_name).meta.client
    for start in range(0, len(wanted), BATCH_GET_LIMIT):
        keys = [{"pk": series_pk(client_id, s), "sk": sku_sk(s)} for s in wanted[start : start + BATCH_GET_LIMIT]]
        request: dict[str, Any] = {table_name: {"Keys": keys, "ConsistentRead": True}}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer["Responses"].get(table_name, []):
                yield sku_of(str(item["sk"])), item
            request = answer.get("UnprocessedKeys") or {}


def iter_series(table_name: str, client_id: str) -> Iterator[tuple[str, DemandSeries]]:
    """Every stored series of the tenant, shard by shard (strongly consistent; rebuilding the catalog)."""
    for shard in range(SERIES_SHARDS):
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(series_shard_pk(client_id, shard)),
            "ConsistentRead": True,
        }
        while True:
            answer = table(table_name).query(**kwargs)
            for item in answer.get("Items", []):
                yield sku_of(str(item["sk"])), decode(binary(item["series"]))
            if "LastEvaluatedKey" not in answer:
                break
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def get_series(table_name: str, client_id: str, skus: Iterable[str]) -> dict[str, DemandSeries]:
    """The stored series of these SKUs (absent SKUs are absent from the answer)."""
    return {sku: decode(binary(item["series"])) for sku, item in _series_items(table_name, client_id, skus)}


def put_series(table_name: str, client_id: str, series: dict[str, DemandSeries], upload_id: str) -> None:
    """Plain batch writes, without provenance or fence: loading demand outside an upload (tests, benches)."""
    with table(table_name).batch_writer() as batch:
        for sku, s in series.items():
            batch.put_item(
                Item={
                    "pk": series_pk(client_id, sku),
                    "sk": sku_sk(sku),
                    "schema_version": 1,
                    "series": Binary(encode(s)),
                    "last_upload_id": upload_id,
                }
            )


def binary(value: Any) -> bytes:
    return value.value if isinstance(value, Binary) else bytes(value)


# ---------------------------------------------------------------- provenance and merge writes
@dataclass(frozen=True, eq=False)
class Owners:
    """Which upload last wrote each day of a series: `index[d]` is 0 for a day no upload wrote
    (a gap, or data stored before provenance existed), else `writers[index[d] - 1]`. Writers are
    upload ids in ascending order, which is creation order."""

    writers: tuple[str, ...]
    index: np.ndarray  # uint16, one per day of the series


@dataclass(frozen=True)
class StoredSeries:
    series: DemandSeries
    owners: Owners | None  # None for items written before provenance (any upload may replace them)
    # The anomaly flags written with this series (skucast/anomalies.py); None: never flagged
    # (stored before flagging, or by a writer that does not flag).
    anomalies: StoredFlags | None = None


_OWNERS_HEADER = struct.Struct("<BHI")  # format version, number of writers, number of days
_OWNERS_VERSION = 1
_ID_PREFIX = "upl_"
_ID_BYTES = 10  # upload ids are upl_ + 20 hex digits


def encode_owners(owners: Owners) -> bytes:
    ids = b"".join(bytes.fromhex(w[len(_ID_PREFIX) :]) for w in owners.writers)
    if len(ids) != _ID_BYTES * len(owners.writers):
        raise ValueError("writers must be sortable upload ids")
    days = np.ascontiguousarray(owners.index, dtype="<u2").tobytes()
    header = _OWNERS_HEADER.pack(_OWNERS_VERSION, len(owners.writers), len(owners.index))
    return header + ids + zlib.compress(days, 6)


def decode_owners(blob: bytes) -> Owners:
    if len(blob) < _OWNERS_HEADER.size:
        raise ValueError("encoded owners are truncated")
    version, n_writers, n_days = _OWNERS_HEADER.unpack_from(blob)
    if version != _OWNERS_VERSION:
        raise ValueError(f"unknown owners format version {version}")
    start = _OWNERS_HEADER.size
    ids = blob[start : start + n_writers * _ID_BYTES]
    writers = tuple(_ID_PREFIX + ids[i : i + _ID_BYTES].hex() for i in range(0, len(ids), _ID_BYTES))
    inflater = zlib.decompressobj()
    days = inflater.decompress(blob[start + len(ids) :], n_days * 2 + 1)  # bounded inflate
    if len(writers) != n_writers or len(days) != n_days * 2 or not inflater.eof:
        raise ValueError("encoded owners are corrupt")
    return Owners(writers, np.frombuffer(days, "<u2").astype(np.uint16))


# Anomaly flags (attribute `anomalies`): format version, detector version, then the flagged
# periods' numbers as little-endian int32, ascending (4 bytes a flag).
_FLAGS_HEADER = struct.Struct("<BB")
_FLAGS_VERSION = 1


def encode_flags(flags: StoredFlags) -> bytes:
    return _FLAGS_HEADER.pack(_FLAGS_VERSION, flags.version) + np.asarray(flags.flagged, "<i4").tobytes()


def decode_flags(blob: bytes) -> StoredFlags:
    if len(blob) < _FLAGS_HEADER.size or (len(blob) - _FLAGS_HEADER.size) % 4:
        raise ValueError("encoded flags are truncated")
    version, detector = _FLAGS_HEADER.unpack_from(blob)
    if version != _FLAGS_VERSION:
        raise ValueError(f"unknown flags format version {version}")
    flagged = np.frombuffer(blob, "<i4", offset=_FLAGS_HEADER.size)
    return StoredFlags(tuple(int(p) for p in flagged), detector)


def get_stored_series(table_name: str, client_id: str, skus: Iterable[str]) -> dict[str, StoredSeries]:
    """The stored series of these SKUs with their provenance and flags (strongly consistent)."""
    found: dict[str, StoredSeries] = {}
    for sku, item in _series_items(table_name, client_id, skus):
        owners = decode_owners(binary(item["owners"])) if "owners" in item else None
        flags = decode_flags(binary(item["anomalies"])) if "anomalies" in item else None
        found[sku] = StoredSeries(decode(binary(item["series"])), owners, flags)
    return found


def put_merge_round(
    table_name: str,
    client_id: str,
    series: dict[str, tuple[DemandSeries, Owners]],
    fence: dict[str, Any] | None,
    progress: Callable[[str], dict[str, Any]] | None = None,
    flags: dict[str, StoredFlags] | None = None,
) -> None:
    """Series with their provenance (and, for the SKUs in `flags`, their anomaly flags), in
    transactions that each also run `fence` (a ConditionCheck on the merge lock) and, when given,
    `progress(last SKU of the transaction)`: an action that records, in the same all-or-nothing
    write, how far the merge has got. Raises Fenced, having written nothing of that transaction,
    when the lock has passed to another writer."""
    skus = list(series)
    items = []
    for sku, (values, owners) in series.items():
        item = {
            "pk": series_pk(client_id, sku),
            "sk": sku_sk(sku),
            "schema_version": 2,
            "series": Binary(encode(values)),
            "owners": Binary(encode_owners(owners)),
            "last_upload_id": owners.writers[-1],
        }
        if flags and sku in flags:
            item["anomalies"] = Binary(encode_flags(flags[sku]))
        items.append([item])
    write_groups(table_name, items, fence, (lambda end: progress(skus[end - 1])) if progress else None)


def write_groups(
    table_name: str,
    groups: list[list[dict[str, Any]]],
    fence: dict[str, Any] | None,
    extra: Callable[[int], dict[str, Any]] | None = None,
) -> None:
    """Put items in fenced transactions, packing whole groups: the items of a group (a catalog
    page and the pages split from it) always go in the same transaction. `extra(end)`, when
    given, is one more action for the transaction that ends with groups[end - 1]."""
    puts = TRANSACTION_PUTS - (1 if extra else 0)
    chunk: list[dict[str, Any]] = []
    size = 0
    for end, group in enumerate(groups):
        group_size = sum(_item_size(item) for item in group)
        if len(group) > puts or group_size > TRANSACTION_BYTES:
            raise ValueError("a group of items does not fit one transaction")
        if chunk and (len(chunk) + len(group) > puts or size + group_size > TRANSACTION_BYTES):
            _transact_fenced(table_name, chunk, fence, extra(end) if extra else None)
            chunk, size = [], 0
        chunk.extend(group)
        size += group_size
    if chunk:
        _transact_fenced(table_name, chunk, fence, extra(len(groups)) if extra else None)


def _item_size(item: dict[str, Any]) -> int:
    """An upper bound on DynamoDB's size of an item of strings, numbers and binaries."""
    size = 0
    for name, value in item.items():
        size += len(name) + (len(binary(value)) if isinstance(value, Binary | bytes) else len(str(value).encode()) + 2)
    return size


def _transact_fenced(
    table_name: str, items: list[dict[str, Any]], fence: dict[str, Any] | None, extra: dict[str, Any] | None = None
) -> None:
    actions = [{"Put": {"Item": item}} for item in items] + [a for a in (extra, fence) if a]
    try:
        dynamo.transact_retrying(table_name, actions, CONFLICT_RETRIES)
    except dynamo.ConditionFailed:
        raise Fenced from None  # the puts have no condition: only the fence can fail
