"""Planner adjustments: adjust a result (optimistic concurrency), list a result's adjustments, and
carry sticky adjustments into the runs planned after them (the arithmetic and the rules:
skucast/adjustments.py).

Concurrency: a result's ETag names its version. POST must send it as If-Match (none: 428); one
that is not the current version is 412. The write itself is conditional on that version
(repositories/adjustments.py), so two writers that read the same version cannot both win: the
second gets 412 too, however close together they come.

Carry-over, applied when a later run writes its results (exact and bounded):
- the planner reads the tenant's sticky registry once, strongly consistent, and records for each
  SKU of the run the sticky adjustments it carries: those saved before that read (the run is
  planned after them), made on a run of the same frequency, and whose expiry (`expires`, else
  `end`) is not before the run's creation date;
- the worker applies them, in the order they were made, to the SKU's means when it writes the
  result, in the same transaction: the result is born with its `final`, its carried adjustments
  listed (`carried_from`: the run each came from) and shown in its adjustments list and exports.
  Adjustments made on that run afterwards apply on top of them.
Cost: one registry read per run (at most MAX_STICKY_PER_TENANT items), one item per SKU that
carries something, and one BatchGetItem per batch holding such a SKU.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from skucast import adjustments as rules
from skucast import clock, ids
from skucast.errors import Conflict, PreconditionFailed, PreconditionRequired, Unprocessable
from skucast.observability import metrics
from skucast.pagination import decode_cursor, encode_cursor
from skucast.records import AdjustmentRecord, BatchRecord, Operation, PointChange, RunRecord, StoredResult
from skucast.repositories import adjustments as repo
from skucast.repositories.runs import Overlay
from skucast.schemas.forecast import Adjustment, AdjustmentChange, AdjustmentList, AdjustmentRequest, SkuResult
from skucast.services import scoring
from skucast.services.runs import load_result, load_run, to_result
from skucast.settings import Settings

MAX_ADJUSTMENTS = 100  # per result: its audit trail stays one small read
MAX_STICKY_PER_SKU = 20  # active at once: what a result carries stays a few KB
MAX_STICKY_PER_TENANT = 10_000  # active at once: what the planner reads for every run


# ---------------------------------------------------------------- preconditions
def check_precondition(if_match: str | None, current: str) -> None:
    """If-Match must name the current ETag (strong comparison; a list may name several)."""
    if not if_match or not if_match.strip():
        raise PreconditionRequired(
            "Adjusting a result needs If-Match: the ETag of the result you read (GET .../results/{sku})."
        )
    tags = [tag.strip() for tag in if_match.split(",")]
    if "*" in tags:
        raise PreconditionRequired("If-Match: * does not say which version you read: send the result's ETag.")
    if current not in tags:
        raise PreconditionFailed(
            "The result has changed since you read it: read it again (GET .../results/{sku}) for its "
            "current forecast and ETag, then decide on your adjustment."
        )


# ---------------------------------------------------------------- POST
def adjust(
    settings: Settings,
    client_id: str,
    run_id: str,
    sku: str,
    request: AdjustmentRequest,
    if_match: str | None,
    *,
    by: str,
    by_kind: str,
) -> SkuResult:
    run = load_run(settings, client_id, run_id)
    if not run.finished:
        raise Conflict(f"The run has not finished ({run.status}): adjust its results once it has.")
    _, stored = load_result(settings, client_id, run_id, sku, run)
    check_precondition(if_match, rules.etag(run_id, sku, stored.version))
    if not stored.forecast:
        code = (stored.document.get("error") or {}).get("code", "no_forecast")
        raise Conflict(f"This SKU has no forecast in this run ({code}): there is nothing to adjust.")
    operation, value = _operation(request)
    final, changes = _checked(run, stored, request, operation, value)
    if stored.version >= MAX_ADJUSTMENTS:
        raise Conflict(f"This result already has {MAX_ADJUSTMENTS} adjustments, the most one result takes.")
    if request.sticky:
        _check_sticky_room(settings, client_id, sku)
    record = AdjustmentRecord(
        adjustment_id=ids.new_sortable_id("adj"),
        by=by,
        by_kind="api_key" if by_kind == "api_key" else "user",
        at=clock.now_iso(),
        start=request.start.isoformat(),
        end=request.end.isoformat(),
        operation=operation,
        value=value,
        reason=request.reason,
        frequency=str(run.params.get("frequency", "D")),
        comment=request.comment or None,
        sticky=request.sticky,
        expires=request.expires.isoformat() if request.expires else None,
        changes=changes,
    )
    try:
        repo.add_adjustment(
            settings.table_name,
            client_id,
            run_id,
            run.result_shards,
            sku,
            version=stored.version,
            final=final,
            record=record,
            expires_at=_sticky_ttl(record) if record.sticky else None,
        )
    except repo.VersionMoved:
        raise PreconditionFailed(
            "The result changed while this adjustment was being saved: read it again for its current forecast and ETag."
        ) from None
    metrics.add_metric(name="Adjustments", unit="Count", value=1)
    scoring.rescore_final(settings, client_id, run, sku)  # actuals already scored take the new final
    return to_result(run_id, replace(stored, version=stored.version + 1, final=tuple(final)))


def _operation(request: AdjustmentRequest) -> tuple[Operation, float]:
    given = {"set": request.set, "add": request.add, "multiply": request.multiply}
    errors = rules.check_operation(given)
    if errors:
        raise Unprocessable("The adjustment is not valid.", errors=errors)
    operation: Operation = next(name for name in rules.OPERATIONS if given[name] is not None)
    return operation, float(given[operation] or 0.0)


def _checked(
    run: RunRecord, stored: StoredResult, request: AdjustmentRequest, operation: Operation, value: float
) -> tuple[list[float | None], tuple[PointChange, ...]]:
    """The final forecast after the adjustment and its changes, once every rule holds (422 otherwise)."""
    dates = [str(p["date"]) for p in stored.forecast]
    start, end = request.start.isoformat(), request.end.isoformat()
    expires = request.expires.isoformat() if request.expires else None
    errors = rules.check_dates(start, end, dates, str(run.params.get("frequency", "D")))
    errors += rules.check_sticky(request.sticky, expires, clock.today())
    if errors:
        raise Unprocessable("The adjustment is not valid.", errors=errors)
    final, changes = rules.apply(dates, stored.finals(), start, end, operation, value)
    errors = rules.check_result(operation, final)
    if errors:
        raise Unprocessable("The adjustment is not valid.", errors=errors)
    return final, changes


def _check_sticky_room(settings: Settings, client_id: str, sku: str) -> None:
    today = clock.today().isoformat()
    if repo.count_sticky(settings.table_name, client_id, today, sku) >= MAX_STICKY_PER_SKU:
        raise Conflict(f"This SKU already has {MAX_STICKY_PER_SKU} sticky adjustments in force, the most it takes.")
    if repo.count_sticky(settings.table_name, client_id, today) >= MAX_STICKY_PER_TENANT:
        raise Conflict(f"Your tenant already has {MAX_STICKY_PER_TENANT} sticky adjustments in force.")


def _sticky_ttl(record: AdjustmentRecord) -> int:
    last = dt.date.fromisoformat(rules.effective_expiry(record.end, record.expires))
    moment = dt.datetime.combine(last + dt.timedelta(days=repo.STICKY_TTL_DAYS), dt.time(), dt.UTC)
    return int(moment.timestamp())


# ---------------------------------------------------------------- GET
def _listed(state: dict[str, Any], run_id: str, sku: str) -> bool:
    offset = state.get("offset")
    return (
        set(state) == {"run", "sku", "offset"}
        and state["run"] == run_id
        and state["sku"] == sku
        and isinstance(offset, int)
        and not isinstance(offset, bool)
        and offset > 0
    )


def list_adjustments(
    settings: Settings, client_id: str, run_id: str, sku: str, limit: int, cursor: str | None
) -> AdjustmentList:
    """The carried adjustments first (they shaped the result as it was written), then the ones
    made on this run, in the order made. At most MAX_STICKY_PER_SKU + MAX_ADJUSTMENTS in all."""
    position = decode_cursor(cursor, "adjustments", lambda s: _listed(s, run_id, sku))
    _, stored = load_result(settings, client_id, run_id, sku)
    dates = [str(p["date"]) for p in stored.forecast]
    _, carried = rules.carry(dates, [p.get("mean") for p in stored.forecast], stored.carried)
    records = [*carried, *repo.list_adjustments(settings.table_name, client_id, run_id, sku)]
    offset = int(position["offset"]) if position else 0
    page = records[offset : offset + limit]
    after = offset + len(page)
    state = {"run": run_id, "sku": sku, "offset": after} if after < len(records) else None
    next_cursor = encode_cursor("adjustments", state)
    return AdjustmentList(items=[to_adjustment(r) for r in page], next_cursor=next_cursor)


def to_adjustment(record: AdjustmentRecord) -> Adjustment:
    return Adjustment(
        adjustment_id=record.adjustment_id,
        by=record.by,
        by_kind=record.by_kind,
        at=record.at,
        start=record.start,
        end=record.end,
        reason=record.reason,
        comment=record.comment,
        sticky=record.sticky,
        expires=record.expires,
        carried_from=record.carried_from,
        changes=[AdjustmentChange(date=c.date, before=c.before, after=c.after) for c in record.changes],
        **{record.operation: record.value},
    )


# ---------------------------------------------------------------- carry-over
def plan_carried(settings: Settings, client_id: str, run: RunRecord, skus: Sequence[str]) -> set[str]:
    """Record what each SKU of a run being planned carries; the SKUs that carry something."""
    frequency = str(run.params.get("frequency", "D"))
    created_on = run.created_at[:10]
    wanted = set(skus)
    carried: dict[str, list[AdjustmentRecord]] = {}
    for sku, entry in repo.sticky_entries(settings.table_name, client_id, created_on):
        if sku in wanted and entry.carried_from != run.run_id and rules.carries_into(entry, frequency, created_on):
            carried.setdefault(sku, []).append(entry)
    for entries in carried.values():
        entries.sort(key=lambda e: e.adjustment_id)  # sortable ids: the order they were made
    repo.put_carried(settings.table_name, client_id, run.run_id, carried)
    return set(carried)


def carried_overlays(
    settings: Settings, client_id: str, run: RunRecord, batch: BatchRecord, results: Sequence[dict[str, Any]]
) -> dict[str, Overlay]:
    """For each result of the batch that carries sticky adjustments: its final forecast and the
    adjustments that changed it (stored without their changes: they are recomputed when listed)."""
    if not batch.carried:
        return {}
    carried = repo.get_carried(settings.table_name, client_id, run.run_id, batch.skus)
    overlays: dict[str, Overlay] = {}
    for result in results:
        entries = carried.get(str(result["sku"]))
        points = result.get("forecast") or []
        if not entries or not points or result.get("error"):
            continue
        final, applied = rules.carry([str(p["date"]) for p in points], [p.get("mean") for p in points], entries)
        if applied:
            overlays[str(result["sku"])] = (final, tuple(replace(a, changes=()) for a in applied))
    return overlays
