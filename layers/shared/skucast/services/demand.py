"""The tenant's demand store: merge an upload's accepted points in; read SKUs and their series.

Ordering rule for uploads applied out of order (S3 events carry no order guarantee, and a
retried or redriven ingest can land late): every stored day remembers the upload that last wrote
it. An upload writes a day when no upload wrote it before, or when the one that did was created
no later than itself (upload ids sort by creation time; an equal id is the same upload applied
again, which writes the same value). So each day ends up with the value from the latest-created
upload that contains it, whatever order uploads are applied in: the store equals applying them
in creation order. Days inside the span that no upload wrote are 0.

Idempotency: re-applying an upload changes nothing, and an unchanged series or catalog page is
not written at all, so a duplicate or retried ingest leaves every item byte-for-byte as it was.
Catalog entries are computed for every SKU an upload touches and merged into the catalog pages
after their series: a crash between the two is repaired by the retry, which finds the series
unchanged and merges the same entries again.

The caller holds the tenant's merge lock (services/uploads.py): reads, merges and writes of one
tenant's series never interleave. Its writes carry the lock's fence, so if the caller stalls past
its lease and another merge takes the lock, the caller's next write (computed from what it read
before that merge) is refused (Fenced) instead of overwriting it; its upload is then retried.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from skucast.errors import NotFound, Unprocessable
from skucast.forecasting.classification import classify_periods
from skucast.forecasting.thresholds import ClassificationConfig
from skucast.ingestion import AcceptedPoints, DemandSeries, SkuPoints, merge
from skucast.pagination import decode_cursor, encode_cursor
from skucast.repositories import catalog
from skucast.repositories import demand as repo
from skucast.repositories.demand import Owners, StoredSeries
from skucast.schemas.demand import DemandPoint, Sku, SkuDemand, SkuList
from skucast.settings import Settings

# Provenance keeps at most this many distinct writers per series (10 bytes each); beyond that the
# oldest are folded into the newest of them, which can only make a very late, very old upload
# lose a day it would have won.
MAX_WRITERS = 4096
# A round is one BatchGetItem (at most 100 keys) and one transaction (99 puts and the fence): with
# 100 a round, every round took a second transaction for its hundredth series.
SKUS_PER_ROUND = repo.TRANSACTION_PUTS
CATALOG_FLUSH = 10_000  # catalog entries held before they are merged into the pages
LIST_MAX_PAGES = 20  # catalog pages one GET /skus reads at most (a rare class: a short page)
_EPOCH = np.datetime64("1970-01-01", "D")


# ---------------------------------------------------------------- merging (pure)
def merge_owned(stored: StoredSeries | None, points: SkuPoints, upload_id: str) -> tuple[DemandSeries, Owners] | None:
    """The series and provenance after applying `upload_id`'s points; None when nothing changes."""
    days = (points.dates.astype("datetime64[D]") - _EPOCH).astype(np.int64)
    if stored is None:
        series = merge(None, points)
        index = np.zeros(len(series.values), np.uint16)
        index[days - series.start_day] = 1
        return series, Owners((upload_id,), index)
    existing = stored.series
    owners = stored.owners or Owners((), np.zeros(len(existing.values), np.uint16))
    position = days - existing.start_day
    inside = (position >= 0) & (position < len(existing.values))
    owner = np.zeros(len(days), np.int64)
    owner[inside] = owners.index[position[inside]]
    # Writers are sorted: those at indices 1..rank were created no later than this upload.
    allowed = owner <= bisect.bisect_right(owners.writers, upload_id)
    if not allowed.any():
        return None
    if not allowed.all():
        points, days = SkuPoints(points.dates[allowed], points.quantities[allowed]), days[allowed]
    series = merge(existing, points)
    writers = sorted({*owners.writers, upload_id})
    slot = {w: i + 1 for i, w in enumerate(writers)}
    remap = np.array([0, *(slot[w] for w in owners.writers)], np.int64)
    index = np.zeros(len(series.values), np.int64)
    offset = existing.start_day - series.start_day
    index[offset : offset + len(existing.values)] = remap[owners.index]
    index[days - series.start_day] = slot[upload_id]
    merged = _compact(writers, index)
    unchanged = (
        stored.owners is not None
        and series == existing
        and merged.writers == owners.writers
        and np.array_equal(merged.index, owners.index)
    )
    return None if unchanged else (series, merged)


def _compact(writers: list[str], index: np.ndarray) -> Owners:
    """Drop writers that no longer own a day; fold the oldest beyond MAX_WRITERS."""
    used = np.unique(index[index > 0])
    if len(used) > MAX_WRITERS:
        cut = used[len(used) - MAX_WRITERS]
        index = np.where((index > 0) & (index < cut), cut, index)
        used = used[used >= cut]
    remap = np.zeros(len(writers) + 1, np.int64)
    remap[used] = np.arange(1, len(used) + 1)
    return Owners(tuple(writers[u - 1] for u in used), remap[index].astype(np.uint16))


def _number(value: float | None) -> float | None:
    """A finite number, or None (a catalog page is JSON: no NaN or infinities)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def catalog_entry(
    sku: str, series: DemandSeries, config: ClassificationConfig = ClassificationConfig()
) -> dict[str, Any]:
    # classify_daily(start, values, "D") without its per-day date list (3 ms for a 10-year series):
    # at D, aggregation and pro-rating are the identity and classify_periods trims leading zeros.
    c = classify_periods(series.values, config, "D")
    return {
        "sku": sku,
        "demand_class": c.demand_class,
        "adi": _number(c.adi),
        "cv2": _number(c.cv2),
        "n_periods": c.n_periods,
        "first_date": series.start.isoformat(),
        "last_date": series.end.isoformat(),
        "total_quantity": _number(float(series.values.sum())),
    }


# ---------------------------------------------------------------- merging into the store
def apply_points(
    settings: Settings,
    client_id: str,
    upload_id: str,
    points: AcceptedPoints,
    heartbeat: Callable[[], None] = lambda: None,
    fence: dict[str, Any] | None = None,
) -> int:
    """Merge an upload's accepted points into the store; returns how many series changed.

    SKUs go in SKU order, in rounds of 99: one batch read, the merges, then transactional writes
    of the series that changed, each checking `fence` (the merge lock, repositories/uploads.fence).
    Every touched SKU's catalog entry follows its series into the catalog pages, CATALOG_FLUSH
    entries at a time. `heartbeat` runs between rounds.
    """
    skus = sorted(points)
    thresholds = settings.classification  # parsed from its JSON once, not per SKU
    changed = 0
    entries: list[dict[str, Any]] = []
    for start in range(0, len(skus), SKUS_PER_ROUND):
        round_skus = skus[start : start + SKUS_PER_ROUND]
        stored = repo.get_stored_series(settings.table_name, client_id, round_skus)
        writes: dict[str, tuple[DemandSeries, Owners]] = {}
        for sku in round_skus:
            merged = merge_owned(stored.get(sku), points[sku], upload_id)
            if merged is not None:
                writes[sku] = merged
            entries.append(catalog_entry(sku, merged[0] if merged else stored[sku].series, thresholds))
        repo.put_merge_round(settings.table_name, client_id, writes, fence)
        changed += len(writes)
        if len(entries) >= CATALOG_FLUSH:
            catalog.merge_entries(settings.table_name, client_id, entries, fence)
            entries = []
        heartbeat()
    if entries:
        catalog.merge_entries(settings.table_name, client_id, entries, fence)
    return changed


# ---------------------------------------------------------------- reading
def _to_sku(item: dict[str, Any]) -> Sku:
    def num(key: str) -> float | None:
        value = item.get(key)
        return float(value) if value is not None else None

    n_periods = item.get("n_periods")
    return Sku(
        sku=str(item.get("sku") or str(item["sk"]).split("#", 1)[1]),
        demand_class=item.get("demand_class"),
        adi=num("adi"),
        cv2=num("cv2"),
        n_periods=int(n_periods) if n_periods is not None else None,
        first_date=item.get("first_date"),
        last_date=item.get("last_date"),
        total_quantity=num("total_quantity"),
    )


def list_skus(settings: Settings, client_id: str, limit: int, cursor: str | None, demand_class: str | None) -> SkuList:
    state = decode_cursor(cursor) or {}
    after = state.get("after")
    if after is not None and not isinstance(after, str):
        raise Unprocessable("The cursor is not valid.")
    items, last = catalog.page_entries(settings.table_name, client_id, limit, after, demand_class, LIST_MAX_PAGES)
    return SkuList(items=[_to_sku(i) for i in items], next_cursor=encode_cursor({"after": last} if last else None))


def get_sku(settings: Settings, client_id: str, sku: str) -> Sku:
    item = catalog.get_entry(settings.table_name, client_id, sku) if sku else None
    if item is None:
        raise NotFound("No such SKU.")
    return _to_sku(item)


def get_demand(settings: Settings, client_id: str, sku: str, start: dt.date | None, end: dt.date | None) -> SkuDemand:
    if start is not None and end is not None and start > end:
        raise Unprocessable("`start` is after `end`.")
    series = repo.get_series(settings.table_name, client_id, [sku]).get(sku) if sku else None
    if series is None:
        raise NotFound("No such SKU.")
    first = 0 if start is None else max(0, (start - series.start).days)
    last = len(series.values) if end is None else min(len(series.values), (end - series.start).days + 1)
    last = max(first, last)  # an `end` before the series begins: nothing, not a negative slice
    dates = np.datetime_as_string(series.dates()[first:last]).tolist()
    quantities = series.values[first:last].tolist()
    return SkuDemand(sku=sku, points=[DemandPoint(date=d, quantity=q) for d, q in zip(dates, quantities, strict=True)])
