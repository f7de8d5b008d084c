"""GET /runs/{run_id}/compare?to=: per-SKU and total deltas of two runs of the tenant (the
arithmetic is skucast/scenarios.py's `compare`); without `to`, a scenario run against its base.

Both runs must have finished (409 otherwise): a finished run's means never change (adjustments
change `final`), so the comparison is computed once, kept in the data bucket, and its pages are
read from there - a 100,000-SKU comparison is not recomputed for each of its pages.
"""

from __future__ import annotations

from typing import Any

from skucast import scenarios
from skucast.errors import Conflict, FieldError, Unprocessable
from skucast.pagination import decode_cursor, encode_cursor
from skucast.records import RunRecord
from skucast.repositories import objects
from skucast.repositories import runs as repo
from skucast.repositories.keys import compare_key
from skucast.schemas.forecast import CompareItem, CompareTotals, RunComparison
from skucast.services.runs import load_run
from skucast.settings import Settings


def totals_of(settings: Settings, client_id: str, run: RunRecord) -> dict[str, float]:
    """SKU -> sum of `mean` over the horizon, for the SKUs the run forecast without error."""
    return {
        stored.sku: scenarios.forecast_total(stored.forecast)
        for stored in repo.iter_results(settings.table_name, client_id, run.run_id, run.result_shards)
        if not stored.document.get("error")
    }


def _computed(settings: Settings, client_id: str, run: RunRecord, to: RunRecord) -> dict[str, Any]:
    key = compare_key(client_id, run.run_id, to.run_id)
    cached = objects.get_json(settings.data_bucket, key)
    if cached is not None:
        return dict(cached)
    items, totals = scenarios.compare(totals_of(settings, client_id, run), totals_of(settings, client_id, to))
    computed = {"totals": totals, "items": [[d.sku, d.run_total, d.to_total] for d in items]}
    objects.put_json(settings.data_bucket, key, computed)
    return computed


def compare_runs(
    settings: Settings, client_id: str, run_id: str, to_id: str | None, limit: int, cursor: str | None
) -> RunComparison:
    """`to_id` None: a scenario run against its base run."""
    run = load_run(settings, client_id, run_id)
    if to_id is None:
        to_id = (run.params.get("scenario") or {}).get("base_run_id")
        if to_id is None:
            why = "Name the run to compare with: ?to=<run_id> (only a scenario run has a default, its base)."
            raise Unprocessable(why, errors=[FieldError("to", "missing", "required unless the run is a scenario")])
    to = load_run(settings, client_id, to_id)
    for which in (run, to):
        if not which.finished:
            raise Conflict(f"Run {which.run_id} has not finished ({which.status}): compare finished runs.")
    state = decode_cursor(
        cursor,
        "compare",
        lambda s: (
            set(s) == {"run", "to", "offset"}
            and (s["run"], s["to"]) == (run_id, to_id)
            and isinstance(s["offset"], int)
            and not isinstance(s["offset"], bool)
            and s["offset"] > 0
        ),
    )
    offset = state["offset"] if state else 0
    computed = _computed(settings, client_id, run, to)
    rows = computed["items"]
    page = [scenarios.Delta(sku, run_total, to_total) for sku, run_total, to_total in rows[offset : offset + limit]]
    following = offset + limit
    return RunComparison(
        run_id=run_id,
        to=to_id,
        totals=CompareTotals(**computed["totals"]),
        items=[
            CompareItem(sku=d.sku, run_total=d.run_total, to_total=d.to_total, delta=d.delta, delta_pct=d.delta_pct)
            for d in page
        ],
        next_cursor=encode_cursor("compare", {"run": run_id, "to": to_id, "offset": following})
        if following < len(rows)
        else None,
    )
