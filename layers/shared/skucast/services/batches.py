"""A run's life off the request path: planning, forecasting batches, dead letters, completion.

Fan-out and fairness: a run's SKUs are split into batches of BATCH_SIZE; only as many batches as
the tenant's tier allows, and no more than the worker pool runs at once, are in flight (queued or
running, across all its runs). Each
settled batch releases its slot and sends the next batch of the tenant's oldest waiting run, so a
huge run of one tenant cannot fill the queue ahead of another tenant's small run, and one
tenant's cost is bounded. Messages name the tenant as their group (SQS fair queues on AWS).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from skucast import tiers
from skucast.clock import now_iso
from skucast.forecasting.metrics import MetricSums
from skucast.observability import logger, metrics
from skucast.records import BatchRecord, BatchStatus, RunRecord, RunStatus
from skucast.repositories import catalog, demand, events, objects, queues
from skucast.repositories import runs as repo
from skucast.repositories.keys import client_id_of, run_id_of, run_skus_key
from skucast.schemas.messages import BatchMessage, PlanMessage
from skucast.services import adjustments, analog, anomalies, features, hierarchy, scoring, training
from skucast.services.runs import fail_run, progress_deadline, tier_of
from skucast.settings import Settings

if TYPE_CHECKING:  # the engine loads statsforecast: only the worker imports it, on first use
    from skucast.forecasting.engine import SeriesInput

# SKUs per message: a few seconds of work at the default policy's speed (bench/accuracy/REPORT.md,
# Speed), long enough to amortise the message and the writes, short enough that a retry or a slow
# series costs little and runs finish evenly.
BATCH_SIZE = 40
# Results of one run spread over shards so that no partition takes more than DynamoDB's 1,000 WCU a
# second while the whole worker pool writes results, in settle transactions that cost twice their
# write units (the arithmetic: README, "Results are sharded").
SKUS_PER_RESULT_SHARD = 5_000
MAX_RESULT_SHARDS = 512


def result_shards(n_skus: int) -> int:
    return max(1, min(MAX_RESULT_SHARDS, math.ceil(n_skus / SKUS_PER_RESULT_SHARD)))


# ---------------------------------------------------------------- planning
def plan_run(message: PlanMessage, settings: Settings) -> None:
    client_id, run_id = message.client_id, message.run_id
    run = repo.get_run(settings.table_name, client_id, run_id)
    if run is not None and run.status is RunStatus.RUNNING:
        if not run.trained:  # a retry after a failure past the plan itself: the shards may be unsent
            training.send_training(settings, client_id, run_id)
        continue_tenant(settings, client_id, run_id)
        return
    if run is None or run.status is not RunStatus.QUEUED:
        logger.info("plan skipped", extra={"status": run and run.status.value})
        return  # the run was cancelled (or failed) before planning
    skus, data_end = _run_skus(settings, client_id, run_id, run.params)
    # New SKUs' group profiles, before any batch can read them (services/analog.py).
    analog.plan_profiles(settings, client_id, run, skus, run.params.get("as_of") or data_end)
    # Batches carved inside the global model's training shards, when the run trains one.
    layout = training.plan(settings, client_id, run_id, run.params, skus)
    batches = list(layout.batches)
    # The sticky adjustments saved before this moment are carried into the run (services/adjustments.py).
    carrying = adjustments.plan_carried(settings, client_id, run, skus)
    flagged = [i for i, batch in enumerate(batches) if carrying.intersection(batch)]
    node_batches: list[list[str]] = []
    if run.params.get("hierarchy"):  # a hierarchy run's node batches follow its SKU batches
        as_of = run.params.get("as_of") or data_end
        node_batches = hierarchy.plan_nodes(settings, client_id, run, skus, as_of, len(batches))
    node_indexes = range(len(batches), len(batches) + len(node_batches))
    batches += node_batches
    repo.put_batches(settings.table_name, client_id, run_id, batches, flagged, node_indexes, shards=layout.batch_shards)
    started = repo.transition(
        settings.table_name,
        client_id,
        run_id,
        to=RunStatus.RUNNING,
        allowed_from=(RunStatus.QUEUED,),
        set_fields={
            "started_at": now_iso(),
            "skus_total": len(skus),
            "skus_done": 0,
            "skus_failed": 0,
            "batches_total": len(batches),
            "batches_done": 0,
            "batches_sent": 0,
            "result_shards": result_shards(len(skus)),
            "shards_total": len(layout.shards),
            "shards_settled": 0,
            # One origin for every SKU of the run: as asked, else the end of the tenant's data.
            "as_of": run.params.get("as_of") or data_end,
        },
    )
    if not started:
        # Another planner started it, or this transition went in and its answer was lost (a retry
        # then finds it RUNNING): either way, dispatching is idempotent.
        now = repo.get_run(settings.table_name, client_id, run_id)
        started = now is not None and now.status is RunStatus.RUNNING
    if started:
        if layout.shards:
            training.send_training(settings, client_id, run_id)
        continue_tenant(settings, client_id, run_id)


def _run_skus(settings: Settings, client_id: str, run_id: str, params: dict[str, Any]) -> tuple[list[str], str | None]:
    """The run's SKUs, and the end of the tenant's data: the latest date of any of its SKUs.
    A scenario run forecasts exactly its base run's SKUs, in the base's batches (its origin is
    the base's, in its params)."""
    scenario = params.get("scenario")
    if scenario:
        base = scenario["base_run_id"]
        batches = repo.iter_batches(settings.table_name, client_id, base)
        # Only its SKU batches: a hierarchy run's node batches list nodes, which it plans afresh.
        base_skus = [s for b in batches if b.kind == "skus" for s in b.skus]
        return base_skus, params.get("as_of")
    every_sku = params.get("skus") == "all"
    skus: list[str] = []
    data_end: str | None = None
    for entry in catalog.iter_entries(settings.table_name, client_id):
        if every_sku:
            skus.append(entry.sku)
        if entry.last_date and (data_end is None or entry.last_date > data_end):
            data_end = entry.last_date
    if every_sku:
        return skus, data_end
    listed = objects.get_json(settings.data_bucket, run_skus_key(client_id, run_id)) or []
    return [str(s) for s in listed], data_end


# ---------------------------------------------------------------- dispatch and completion
def continue_tenant(settings: Settings, client_id: str, run_id: str) -> None:
    """Send batches while the tenant has free slots (its oldest waiting run first), then see
    whether `run_id` is complete. Idempotent: safe to repeat after any partial failure."""
    limits = tier_of(settings, client_id)
    for waiting in [run_id, *repo.runs_waiting_for_slots(settings.table_name, client_id)]:
        if not _dispatch(settings, client_id, waiting, limits):
            break
    maybe_complete(settings, client_id, run_id)


def batch_slots(settings: Settings, limits: tiers.TierLimits) -> int:
    """A tenant's batches in flight: its tier's cap, but never more than the worker pool can run at
    once. Messages beyond the pool would only wait in the queue ahead of other tenants' batches."""
    return min(limits.max_batches_in_flight, settings.worker_concurrency)


def _dispatch(settings: Settings, client_id: str, run_id: str, limits: tiers.TierLimits) -> bool:
    """Send this run's next batches into free slots; False when the tenant has no slot left."""
    slots = batch_slots(settings, limits)
    run = repo.get_run(settings.table_name, client_id, run_id)
    if run is not None and run.status is RunStatus.RUNNING and not run.trained:
        return True  # still training: its batches wait, the tenant's other runs may go
    while True:
        index = repo.claim_next_batch(settings.table_name, client_id, run_id, slots)
        if index is None:
            run = repo.get_run(settings.table_name, client_id, run_id)
            # Nothing more to send for this run (the tenant may have slots left), or no slot left.
            return run is None or run.status is not RunStatus.RUNNING or run.all_sent
        message = BatchMessage(client_id=client_id, run_id=run_id, batch_id=repo.batch_id(index))
        queues.send_batch(settings.forecast_queue_url, message)


def maybe_complete(settings: Settings, client_id: str, run_id: str) -> None:
    run = repo.get_run(settings.table_name, client_id, run_id)
    if run is None or run.status is not RunStatus.RUNNING or not run.all_settled:
        return
    if run.params.get("hierarchy") and run.reconciliation is None:
        hierarchy.request_reconciliation(settings, client_id, run_id)  # it completes the run when done
        return
    summary = summarise(repo.iter_batches(settings.table_name, client_id, run_id))
    status = RunStatus.PARTIAL if run.skus_failed else RunStatus.SUCCEEDED
    fields: dict[str, Any] = {"finished_at": now_iso(), "summary": summary}
    if run.reconciliation is not None:
        summary["reconciliation"] = run.reconciliation
        if run.reconciliation.get("error"):  # the base SKU forecasts stand, unreconciled
            status, fields["error"] = RunStatus.PARTIAL, run.reconciliation["error"]
    finished = repo.transition(
        settings.table_name,
        client_id,
        run_id,
        to=status,
        allowed_from=(RunStatus.RUNNING,),
        set_fields=fields,
        release_active=True,
        also=scoring.index_actions(run, status, client_id),  # actuals arriving later score it
    )
    if not finished:
        return  # another worker completed it
    metrics.add_metric(name="RunsFinished", unit="Count", value=1)
    metrics.add_metric(name="SkusForecast", unit="Count", value=run.skus_done)
    events.publish(
        settings.event_bus_name,
        "ForecastRunCompleted",
        {"client_id": client_id, "run_id": run_id, "status": status.value, "skus_total": run.skus_total},
    )


def summarise(batches: Iterable[BatchRecord]) -> dict[str, Any]:
    by_class: Counter[str] = Counter()
    by_method: Counter[str] = Counter()
    sums: list[MetricSums] = []
    cleaned: int | None = None
    for batch in batches:
        record = batch.record or {}
        by_class.update(record.get("by_class", {}))
        by_method.update(record.get("by_method", {}))
        if record.get("metric_sums"):
            sums.append(MetricSums.from_dict(record["metric_sums"]))
        if "points_cleaned" in record:
            cleaned = (cleaned or 0) + int(record["points_cleaned"])
    summary = {
        "by_class": dict(sorted(by_class.items())),
        "by_method": dict(sorted(by_method.items())),
        "metrics": MetricSums.merge(sums).finalize() if sums else {},
    }
    if cleaned is not None:  # a run with history_cleaning: flagged
        summary["points_cleaned"] = cleaned
    return summary


# ---------------------------------------------------------------- one batch
def process_batch(message: BatchMessage, settings: Settings) -> None:
    client_id, run_id, batch_id = message.client_id, message.run_id, message.batch_id
    if batch_id == hierarchy.RECONCILE:
        hierarchy.reconcile_run(settings, client_id, run_id)
        return
    run = repo.get_run(settings.table_name, client_id, run_id)
    batch = repo.get_batch(settings.table_name, client_id, run_id, batch_id) if run else None
    if run is None or batch is None:
        logger.warning("batch for an unknown run dropped")
        return
    if not batch.pending:
        continue_tenant(settings, client_id, run_id)  # a duplicate: finish what the first may not have
        return
    if run.status is not RunStatus.RUNNING:
        repo.skip_batch(settings.table_name, client_id, run_id, batch_id)  # cancelled or failed run
        return
    if batch.kind == "nodes":  # a hierarchy run's node batch: base forecasts to the bucket, no SKU counts
        record = hierarchy.forecast_nodes(settings, client_id, run, batch)
        _settle(settings, client_id, run, batch_id, BatchStatus.DONE, [], 0, 0, record)
        return
    model_run = training.model_run(run_id, run.params)
    if batch.shard is not None and training.shard_failed(settings, client_id, model_run, batch.shard):
        why = "The global model of this SKU's training shard failed every retry."
        results = [error_result(s, "training_failed", why) for s in batch.skus]
        record = {"training_failed": True}
        _settle(settings, client_id, run, batch_id, BatchStatus.FAILED, results, 0, len(results), record)
        return
    started = time.perf_counter()
    results, record = forecast_skus(
        settings, client_id, run.params, list(batch.skus), run.as_of, shard=batch.shard, run_id=run_id
    )
    if results:
        metrics.add_metric(name="SecondsPerSku", unit="Seconds", value=(time.perf_counter() - started) / len(results))
    failed = sum(1 for r in results if r.get("error"))
    overlays = adjustments.carried_overlays(settings, client_id, run, batch, results)
    _settle(
        settings, client_id, run, batch_id, BatchStatus.DONE, results, len(results) - failed, failed, record, overlays
    )


def _settle(
    settings: Settings,
    client_id: str,
    run: RunRecord,
    batch_id: str,
    outcome: BatchStatus,
    results: list[dict[str, Any]],
    done: int,
    failed: int,
    record: dict[str, Any],
    overlays: dict[str, repo.Overlay] | None = None,
) -> None:
    """Write the batch's results (with the sticky adjustments they carry) and settle it in one
    transaction, if its run is still RUNNING."""
    run_id = run.run_id
    settled = repo.settle_batch(
        settings.table_name,
        client_id,
        run_id,
        batch_id,
        outcome=outcome,
        done=done,
        failed=failed,
        record=record,
        deadline=progress_deadline(settings),
        results=results,
        shards=run.result_shards,
        overlays=overlays,
    )
    if not settled:
        # Either a concurrent duplicate settled it, or the run stopped meanwhile: free the slot.
        repo.skip_batch(settings.table_name, client_id, run_id, batch_id)
    continue_tenant(settings, client_id, run_id)


def forecast_skus(
    settings: Settings,
    client_id: str,
    params: dict[str, Any],
    skus: list[str],
    as_of: str | None = None,
    *,
    shard: str | None = None,
    run_id: str = "",
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The engine on these SKUs' stored series from the run's origin `as_of` (ISO date; None:
    each SKU's own last period): one result per SKU, and the batch's partial sums. `shard`: the
    training shard whose global model (of run `run_id`, or the run it reuses) adds a candidate."""
    from skucast.forecasting.engine import EngineConfig, forecast_batch

    stored = demand.get_stored_series(settings.table_name, client_id, skus)
    cleaning = params.get("history_cleaning", "none") == "flagged"
    inputs = [series_input(s, stored[s], cleaning) for s in skus if s in stored]
    # Drivers and calendar at the run's frequency, a scenario's changes applied to the future.
    found = features.features_for(settings, client_id, params, inputs, as_of)
    inputs = [dataclasses.replace(i, features=found.get(i.sku)) for i in inputs]
    # New SKUs with an attribute group: their group's launch profile (the run's profile step).
    inputs = analog.with_profiles(inputs, analog.profiles_for(settings, client_id, run_id, params))
    cleaned = {s: anomalies.flagged_positions(item).size if cleaning else 0 for s, item in stored.items()}
    spec = training.run_spec(params, as_of)
    predicted = None
    if shard is not None and inputs:
        inputs, predicted = training.with_global_model(settings, client_id, run_id, params, shard, inputs, as_of)
    config = EngineConfig(classification=settings.classification)  # as the catalog classifies
    forecasts = {f.sku: f for f in forecast_batch(inputs, spec, config)} if inputs else {}
    results: list[dict[str, Any]] = []
    by_class: Counter[str] = Counter()
    by_method: Counter[str] = Counter()
    sums: MetricSums | None = None
    points_cleaned = 0  # history points replaced in the SKUs forecast (history_cleaning: flagged)
    for sku in skus:
        f = forecasts.get(sku)
        if f is None:
            results.append(error_result(sku, "unknown_sku", "No demand history for this SKU."))
            continue
        result: dict[str, Any] = {
            "sku": sku,
            "demand_class": f.demand_class,
            "method": f.method,
            "forecast": f.forecast,
            "metrics": f.metrics,
            "candidates": f.candidates,
            "reason": f.reason,
            "error": f.error,
            # What scoring against actuals needs from run time (services/scoring.py).
            "scale": f.scale,
            "naive": f.naive,
            # Drivers (#19): what the forecast used, what each feature adds, and what was assumed.
            "drivers_used": f.drivers_used,
            "effects": f.effects,
            "warnings": f.warnings,
        }
        if f.analog is not None:  # which group a new SKU's forecast was borrowed from (#21)
            result["analog"] = f.analog
        if cleaning:
            result["history_cleaned"] = cleaned[sku]
        # A poison series fails alone: a result (or its share of the batch's sums) that the store
        # cannot hold becomes this SKU's own error instead of failing the batch's write every retry.
        # Its own sums are checked as well as the batch's: a tiny sum vanishes into the others'
        # but fails a batch where it comes first, and the outcome must not depend on the order.
        with_it = f.metric_sums if f.error or sums is None else sums + f.metric_sums
        problem = repo.unstorable(result, {"own": f.metric_sums.to_dict(), "batch": with_it.to_dict()})
        if problem:
            logger.warning("unstorable result", extra={"problem": problem})
            why = f"This SKU's forecast cannot be stored: {problem}."
            results.append(error_result(sku, "result_not_storable", why))
            continue
        results.append(result)
        if not f.error:
            by_class[f.demand_class] += 1
            by_method[f.method] += 1
            sums = with_it
            points_cleaned += cleaned[sku]
    record: dict[str, Any] = {
        "by_class": dict(by_class),
        "by_method": dict(by_method),
        "metric_sums": sums.to_dict() if sums is not None else None,
    }
    if cleaning:
        record["points_cleaned"] = points_cleaned
    if predicted is not None:  # which shard's model predicted how many of this batch's SKUs
        record["global_model"] = {"shard": shard, "skus": predicted}
    return results, record


def series_input(sku: str, stored: demand.StoredSeries, cleaning: bool = False) -> SeriesInput:
    """The engine's input for a stored series: its periods at its grain, and which had a row when
    its upload said a period without one is unknown (series stored before provenance: all had).
    `cleaning`: the periods ingestion flagged take their robust fitted values (services/anomalies.py)."""
    from skucast.forecasting.engine import SeriesInput

    series = stored.series
    recorded = None
    if series.missing == "unknown":
        recorded = stored.owners.index > 0 if stored.owners else np.ones(len(series.values), bool)
    values = anomalies.cleaned_values(stored)[0] if cleaning else series.values
    return SeriesInput(sku, series.start, values, series.granularity, recorded)


def error_result(sku: str, code: str, message: str) -> dict[str, Any]:
    return {
        "sku": sku,
        "demand_class": None,
        "method": None,
        "forecast": [],
        "metrics": {},
        "error": {"code": code, "message": message},
    }


# ---------------------------------------------------------------- dead letters
def record_dead_letter(message: BatchMessage, settings: Settings) -> None:
    """A batch that failed every retry: its SKUs get an error result, the run goes on (PARTIAL)."""
    client_id, run_id, batch_id = message.client_id, message.run_id, message.batch_id
    if batch_id == hierarchy.RECONCILE:
        hierarchy.reconciliation_dead_lettered(settings, client_id, run_id)
        return
    run = repo.get_run(settings.table_name, client_id, run_id)
    batch = repo.get_batch(settings.table_name, client_id, run_id, batch_id) if run else None
    if run is None or batch is None or not batch.pending:
        return
    if run.status is not RunStatus.RUNNING:
        repo.skip_batch(settings.table_name, client_id, run_id, batch_id)
        return
    if batch.kind == "nodes":  # its nodes take their SKUs' summed base forecasts (services/hierarchy.py)
        _settle(settings, client_id, run, batch_id, BatchStatus.FAILED, [], 0, 0, {"dead_lettered": True})
        return
    skus = list(batch.skus)
    results = [error_result(s, "batch_failed", "This SKU's batch failed every retry.") for s in skus]
    metrics.add_metric(name="BatchesDeadLettered", unit="Count", value=1)
    _settle(settings, client_id, run, batch_id, BatchStatus.FAILED, results, 0, len(skus), {"dead_lettered": True})


# A run past its progress deadline is repaired this many times before it is failed.
MAX_REPAIRS = 2


def sweep_stalled(settings: Settings, stalled: list[dict[str, Any]], now: datetime) -> dict[str, int]:
    """Runs whose progress deadline passed: send again what may have been lost (the plan, or
    batches claimed but never settled - a sender that died between claiming and sending), then
    fail the ones that still make no progress. Re-sending is safe: settling is exactly-once."""
    outcome = {"repaired": 0, "failed": 0}
    for item in stalled:
        client_id = client_id_of(str(item["pk"]))
        run_id = run_id_of(str(item["sk"]))
        run = repo.get_run(settings.table_name, client_id, run_id)
        if run is None or not run.active:
            continue
        if repo.note_repair(settings.table_name, client_id, run_id, MAX_REPAIRS, progress_deadline(settings, now)):
            _resend(settings, client_id, run_id, run.status)
            outcome["repaired"] += 1
        elif fail_run(settings, client_id, run_id, "stalled", "The run made no progress and was stopped."):
            outcome["failed"] += 1
    return outcome


def _resend(settings: Settings, client_id: str, run_id: str, status: RunStatus) -> None:
    if status is RunStatus.QUEUED:
        queues.send_plan(settings.plan_queue_url, PlanMessage(client_id=client_id, run_id=run_id))
        return
    training.send_training(settings, client_id, run_id)  # shards whose training message was lost
    for batch_id in repo.claimed_unsettled_batches(settings.table_name, client_id, run_id):
        queues.send_batch(
            settings.forecast_queue_url, BatchMessage(client_id=client_id, run_id=run_id, batch_id=batch_id)
        )
    continue_tenant(settings, client_id, run_id)
