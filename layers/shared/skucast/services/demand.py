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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from skucast.errors import NotFound, Unprocessable
from skucast.forecasting.classification import classify_periods
from skucast.forecasting.periods import GRAIN_NAMES
from skucast.forecasting.thresholds import ClassificationConfig
from skucast.ingestion import (
    ZERO_MISSING,
    AcceptedPoints,
    DemandSeries,
    SeriesPolicy,
    SkuPoints,
    fits_grain,
    infer_granularity,
    merge,
)
from skucast.pagination import decode_after, encode_after
from skucast.records import CatalogEntry
from skucast.repositories import catalog
from skucast.repositories import demand as repo
from skucast.repositories.demand import Owners, StoredSeries
from skucast.schemas.demand import DemandPoint, Granularity, Missing, Sku, SkuDemand, SkuList
from skucast.services import anomalies, attributes
from skucast.settings import Settings

# Provenance keeps at most this many distinct writers per series (10 bytes each); beyond that the
# oldest are folded into the newest of them, which can only make a very late, very old upload
# lose a day it would have won.
MAX_WRITERS = 4096
# A round is one BatchGetItem (at most 100 keys) and one transaction of 100 actions: 98 puts, the
# upload's merge progress and the fence (with one SKU more, every round took a second transaction).
SKUS_PER_ROUND = repo.TRANSACTION_PUTS - 1
CATALOG_FLUSH = 10_000  # catalog entries held before they are merged into the pages
LIST_MAX_PAGES = 20  # catalog pages one GET /skus reads at most (a rare class: a short page)


# ---------------------------------------------------------------- merging (pure)
def merge_owned(
    stored: StoredSeries | None, points: SkuPoints, upload_id: str, granularity: str = "D", missing: str = "zero"
) -> tuple[DemandSeries, Owners] | None:
    """The series and provenance after applying `upload_id`'s points (periods of the stored
    series' grain, or of `granularity` for a new series; `missing` becomes the series' policy);
    None when nothing changes."""
    if stored is None:
        series = merge(None, points, granularity, missing)
        index = np.zeros(len(series.values), np.uint16)
        index[series.period_index(points.dates)] = 1
        return series, Owners((upload_id,), index)
    existing = stored.series
    owners = stored.owners or Owners((), np.zeros(len(existing.values), np.uint16))
    position = existing.period_index(points.dates)
    inside = (position >= 0) & (position < len(existing.values))
    owner = np.zeros(len(position), np.int64)
    owner[inside] = owners.index[position[inside]]
    # Writers are sorted: those at indices 1..rank were created no later than this upload.
    allowed = owner <= bisect.bisect_right(owners.writers, upload_id)
    if not allowed.any():
        return None
    if not allowed.all():
        points = SkuPoints(points.dates[allowed], points.quantities[allowed])
    series = merge(existing, points, missing=missing)
    writers = sorted({*owners.writers, upload_id})
    slot = {w: i + 1 for i, w in enumerate(writers)}
    remap = np.array([0, *(slot[w] for w in owners.writers)], np.int64)
    index = np.zeros(len(series.values), np.int64)
    offset = existing.start_period - series.start_period
    index[offset : offset + len(existing.values)] = remap[owners.index]
    index[series.period_index(points.dates)] = slot[upload_id]
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
    """The SKU's classification at its own grain (a monthly SKU: ADI, CV2 and periods in months)."""
    c = classify_periods(series.values, config, series.granularity)  # trims leading zeros itself
    return {
        "sku": sku,
        "demand_class": c.demand_class,
        "adi": _number(c.adi),
        "cv2": _number(c.cv2),
        "n_periods": c.n_periods,
        "first_date": series.start.isoformat(),
        "last_date": series.end.isoformat(),
        "total_quantity": _number(float(series.values.sum())),
        "granularity": series.granularity,
    }


@dataclass(frozen=True)
class GrainMismatch:
    """An upload's points for a SKU that do not fit the SKU's grain: none of them were stored."""

    sku: str
    rows: int
    message: str


def _grain_for(
    sku: str, stored: StoredSeries | None, points: SkuPoints, declared: str | None, file_grain: str
) -> str | GrainMismatch:
    """The grain `points` are merged at, or why they cannot be. A SKU's grain is set by its first
    upload; later points must name periods of it (a daily SKU takes any date)."""
    if stored is None:
        grain = declared or file_grain
        if fits_grain(points.dates, grain):
            return grain
        return GrainMismatch(
            sku,
            len(points.dates),
            f"SKU {sku!r}: the upload is {GRAIN_NAMES[grain]} but its dates for "
            "this SKU do not all start such a period; nothing of it was stored.",
        )
    series = stored.series
    grain = series.granularity
    if (declared is None or declared == grain) and fits_grain(points.dates, grain, series.week_day):
        return grain
    week = f", weeks starting on {series.start:%A}s" if grain == "W" else ""
    return GrainMismatch(
        sku,
        len(points.dates),
        f"SKU {sku!r} is stored at {GRAIN_NAMES[grain]} grain{week}; "
        f"this upload's {len(points.dates)} row(s) for it are not, so none of them were stored.",
    )


# ---------------------------------------------------------------- merging into the store
@dataclass(frozen=True)
class MergeOutcome:
    changed: int  # series written
    granularity: str  # the upload's grain: declared, else inferred from its dates
    mismatches: list[GrainMismatch]


def apply_points(
    settings: Settings,
    client_id: str,
    upload_id: str,
    points: AcceptedPoints,
    heartbeat: Callable[[], None] = lambda: None,
    fence: dict[str, Any] | None = None,
    policy: SeriesPolicy = ZERO_MISSING,
    progress: Callable[[str, int], dict[str, Any]] | None = None,
    stored_as: Callable[[str, DemandSeries], None] | None = None,
) -> MergeOutcome:
    """Merge an upload's accepted points into the store.

    `policy.granularity` is the upload's declared grain; when None it is inferred from the
    upload's distinct dates (a single date shows none: new SKUs are then daily). A stored SKU
    keeps its grain: points that do not fit it are not stored and come back as mismatches.
    `policy.missing` becomes the policy of every series the upload touches.
    SKUs go in SKU order, in rounds of 98: one batch read, the merges, then transactional writes
    of the series that changed, each checking `fence` (the merge lock, repositories/uploads.fence).
    Every touched SKU's catalog entry follows its series into the catalog pages, CATALOG_FLUSH
    entries at a time. `heartbeat` runs between rounds. `progress(sku, n)`, when given, builds the
    action each series transaction also carries: the merge has now stored the upload's first `n`
    SKUs in SKU order, through `sku` (so a merge that dies can tell exactly which SKUs it wrote).
    `stored_as(sku, series)`, when given, hears each merged SKU's series as stored once its round
    is written (scoring reads them there instead of reading them again: services/scoring.py).
    """
    skus = sorted(points)

    def mark(through: str) -> dict[str, Any]:
        assert progress is not None
        return progress(through, bisect.bisect_right(skus, through))

    file_grain = policy.granularity or infer_granularity(points.dates) or "D"
    thresholds = settings.classification  # parsed from its JSON once, not per SKU
    changed = 0
    mismatches: list[GrainMismatch] = []
    entries: list[dict[str, Any]] = []
    for start in range(0, len(skus), SKUS_PER_ROUND):
        round_skus = skus[start : start + SKUS_PER_ROUND]
        stored = repo.get_stored_series(settings.table_name, client_id, round_skus)
        writes: dict[str, tuple[DemandSeries, Owners]] = {}
        for sku in round_skus:
            grain = _grain_for(sku, stored.get(sku), points[sku], policy.granularity, file_grain)
            if isinstance(grain, GrainMismatch):
                mismatches.append(grain)
                continue
            merged = merge_owned(stored.get(sku), points[sku], upload_id, grain, policy.missing)
            if merged is not None:
                writes[sku] = merged
            entries.append(catalog_entry(sku, merged[0] if merged else stored[sku].series, thresholds))
        flags = anomalies.flags_after(stored, writes, points)  # written with their series
        repo.put_merge_round(settings.table_name, client_id, writes, fence, mark if progress else None, flags)
        if stored_as is not None:
            _hand_over(round_skus, writes, stored, stored_as)
        changed += len(writes)
        if len(entries) >= CATALOG_FLUSH:
            catalog.merge_entries(settings.table_name, client_id, entries, fence)
            entries = []
        heartbeat()
    if entries:
        catalog.merge_entries(settings.table_name, client_id, entries, fence)
    return MergeOutcome(changed, file_grain, mismatches)


def _hand_over(
    skus: list[str],
    writes: dict[str, tuple[DemandSeries, Owners]],
    stored: dict[str, StoredSeries],
    stored_as: Callable[[str, DemandSeries], None],
) -> None:
    """Each SKU's series as the store now holds it (written this round, or unchanged)."""
    for sku in skus:
        now = writes[sku][0] if sku in writes else stored[sku].series if sku in stored else None
        if now is not None:
            stored_as(sku, now)


# ---------------------------------------------------------------- reading
def _to_sku(entry: CatalogEntry, held: dict[str, str] | None = None) -> Sku:
    return Sku.model_validate({**entry.model_dump(), "attributes": held or {}})


def list_skus(
    settings: Settings,
    client_id: str,
    limit: int,
    cursor: str | None,
    demand_class: str | None,
    filters: Mapping[str, str] | None = None,
    prefix: str = "",
) -> SkuList:
    """A page of the catalog, each SKU with its attributes; `filters` (attribute name -> value,
    all must hold) are checked per catalog page with one range read of that page's attributes;
    `prefix`: SKUs whose name starts with it (exactly as stored, case included)."""
    after = decode_after(cursor, "skus")
    keep = None
    if filters:
        if not attributes.filters_can_match(settings, client_id, filters):
            return SkuList(items=[], next_cursor=None)
        keep = attributes.keep_matching(settings, client_id, filters)
    items, last = catalog.page_entries(
        settings.table_name, client_id, limit, after, demand_class, LIST_MAX_PAGES, keep, prefix
    )
    held = attributes.current_of(settings, client_id, [i.sku for i in items])
    return SkuList(items=[_to_sku(i, held.get(i.sku)) for i in items], next_cursor=encode_after("skus", last))


def get_sku(settings: Settings, client_id: str, sku: str) -> Sku:
    item = catalog.get_entry(settings.table_name, client_id, sku) if sku else None
    if item is None:
        raise NotFound("No such SKU.")
    return _to_sku(item, attributes.current_of(settings, client_id, [sku]).get(sku))


def get_demand(settings: Settings, client_id: str, sku: str, start: dt.date | None, end: dt.date | None) -> SkuDemand:
    """The SKU's periods from `start` to `end` at its grain. `recorded` is False for a period that
    no upload had a row for (zero demand by default); series stored before provenance was kept
    cannot tell, and say True. `anomaly` is True for a period ingestion flagged as an outlier."""
    if start is not None and end is not None and start > end:
        raise Unprocessable("`start` is after `end`.")
    stored = repo.get_stored_series(settings.table_name, client_id, [sku]).get(sku) if sku else None
    if stored is None:
        raise NotFound("No such SKU.")
    series = stored.series
    dates = series.dates()
    first = 0 if start is None else int(np.searchsorted(dates, np.datetime64(start, "D")))
    last = len(dates) if end is None else int(np.searchsorted(dates, np.datetime64(end, "D"), side="right"))
    last = max(first, last)  # an `end` before the series begins: nothing, not a negative slice
    shown = np.datetime_as_string(dates[first:last]).tolist()
    quantities = series.values[first:last].tolist()
    recorded = (stored.owners.index[first:last] > 0).tolist() if stored.owners else [True] * len(shown)
    anomaly = np.zeros(len(series.values), bool)
    anomaly[anomalies.flagged_positions(stored)] = True
    return SkuDemand(
        sku=sku,
        granularity=cast(Granularity, series.granularity),
        missing=cast(Missing, series.missing),
        points=[
            DemandPoint(date=d, quantity=q, recorded=r, anomaly=a)
            for d, q, r, a in zip(shown, quantities, recorded, anomaly[first:last].tolist(), strict=True)
        ],
    )
