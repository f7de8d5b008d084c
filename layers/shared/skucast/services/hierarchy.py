"""Hierarchy runs: node forecasts and their reconciliation with the SKUs' (contract: "Attributes,
hierarchies and new items"; the domain: forecasting/reconciliation.py).

A run with `hierarchy` goes through three stages on the existing run machinery:
1. Plan (services/batches.plan_run calls `plan_nodes`): the run's SKUs' attributes as of the
   attribute version the run recorded when it was created, the hierarchy's nodes, and every
   node's history - the sum of its SKUs' histories at the run's frequency, aligned on the run's
   origin - written to the data bucket one object per node batch (claim check), with the SKUs'
   recent history for the reconciliation's residuals. Node batches follow the SKU batches in the
   run's batch list, so they share its slots, fairness, exactly-once settling, dead letters and
   repairs.
2. Node batches (`forecast_nodes`): the same engine (forecast_batch) on the node histories;
   the base forecasts go to the bucket; the batch settles with no SKU counts.
3. Reconciliation (`reconcile_run`): once every batch has settled, batches.maybe_complete sends
   one RECONCILE message instead of completing. It reads every SKU's base forecast and every
   node's, reconciles them, writes the node results and rewrites each SKU result's forecast to the
   reconciled one (keeping `base_forecast`), then marks the run reconciled (once, conditionally)
   and completes it. It is computed from the base forecasts only, so a retry or a duplicate
   writes the same values. A reconciliation that fails in the domain (the library cannot solve
   it) ends the run PARTIAL with the error `reconciliation_failed` and the base SKU forecasts; a
   reconciliation message that fails every retry does the same, restoring any SKU forecast it
   had rewritten.
Documented outcomes: a SKU missing an attribute of the hierarchy sits under that level's
unassigned node (key value null); a SKU without history or whose forecast failed is not in the
reconciled hierarchy (nodes left without SKUs have no result); a node whose base forecast failed
takes the sum of its SKUs' base forecasts as its base (counted in `base_fallbacks`); sticky
adjustments a SKU carried in were applied to its base means (its `final`), not re-applied.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from skucast.attributes import VersionGone
from skucast.errors import FieldError, NotFound, Unprocessable
from skucast.forecasting.methods import SEASON_LENGTHS
from skucast.forecasting.periods import next_period, period_start
from skucast.observability import logger, metrics
from skucast.pagination import decode_cursor, encode_cursor
from skucast.records import BatchRecord, RunRecord, RunStatus, StoredResult
from skucast.repositories import demand, objects, queues
from skucast.repositories import hierarchy as repo
from skucast.repositories import runs as runs_repo
from skucast.repositories.keys import run_hierarchy_key
from skucast.schemas.forecast import CreateRunRequest, NodeList, NodeResult
from skucast.schemas.messages import BatchMessage
from skucast.services import attributes
from skucast.settings import Settings

if TYPE_CHECKING:  # scipy and hierarchicalforecast: only the worker loads them, on first use
    from skucast.forecasting import reconciliation as rec

NODE_BATCH_SIZE = 40  # nodes per message: a node is one series to the engine, as a SKU is
RECONCILE = "reconcile"  # the batch id of a run's reconciliation message
READ_CHUNK = 100  # SKUs whose stored series are read at once while aggregating
# Children a node's item lists (node ids, or SKUs under the deepest level): a node item stays far
# below DynamoDB's 400 KB whatever the hierarchy's fan-out; `children_total` counts them all, and
# GET /skus?attr.<name>=<value> lists every SKU of a node.
MAX_CHILDREN = 5_000


# ---------------------------------------------------------------- POST /runs
def run_params(settings: Settings, client_id: str, request: CreateRunRequest) -> dict[str, Any]:
    """The run's hierarchy parameters: the declared levels and the attribute version it reads
    (a later attribute change does not alter the run); {} without a hierarchy. 422 naming an
    undeclared hierarchy, or a reconciliation asked for without one."""
    if request.hierarchy is None:
        if request.reconciliation is not None:
            why = "A reconciliation needs a hierarchy to reconcile."
            raise Unprocessable(why, errors=[FieldError("reconciliation", "no_hierarchy", why)])
        return {}
    declared = attributes.get_hierarchy(settings, client_id, request.hierarchy)
    if declared is None:
        why = f"No hierarchy named {request.hierarchy!r} is declared (PUT /hierarchies/{{name}} first)."
        raise Unprocessable(why, errors=[FieldError("hierarchy", "unknown_hierarchy", why)])
    return {
        "hierarchy": request.hierarchy,
        "reconciliation": request.reconciliation or "min_trace",
        "hierarchy_levels": list(declared.levels),
        "attributes_version": attributes.current_version(settings, client_id),
    }


# ---------------------------------------------------------------- stage 1: plan
def _key(client_id: str, run_id: str, name: str) -> str:
    return run_hierarchy_key(client_id, run_id, name)


def _spec(params: dict[str, Any], as_of: str | None) -> Any:
    from skucast.forecasting.engine import ForecastSpec

    return ForecastSpec.from_params(params, as_of)


def _run_first(as_of: dt.date, frequency: str) -> dt.date:
    """The run's first forecast period in calendar periods (what a node's series is aligned on)."""
    return next_period(period_start(as_of, frequency), frequency)


def _attributes(settings: Settings, client_id: str, version: int, skus: list[str]) -> dict[str, dict[str, str]]:
    try:
        return attributes.attributes_as_of(settings, client_id, version, skus)
    except VersionGone:  # a SKU's kept history no longer reaches the run's version: its current values
        logger.warning("attributes version gone; current attributes used")
        return attributes.current_of(settings, client_id, sorted(skus))


def _data_end(settings: Settings, client_id: str, skus: list[str]) -> str | None:
    """The latest period start of these SKUs' stored series: the nodes' origin when the run has
    none (a catalog without dates); each SKU is then forecast from its own end, as the engine does."""
    end: dt.date | None = None
    for start in range(0, len(skus), READ_CHUNK):
        for item in demand.get_stored_series(settings.table_name, client_id, skus[start : start + READ_CHUNK]).values():
            series = item.series
            if series.values.size:
                last = next_period(series.start, series.granularity, series.values.size - 1)
                end = last if end is None or last > end else end
    return end.isoformat() if end else None


def _aligned(hist: Any, width: int) -> np.ndarray:
    """A SKU's history at the run's frequency as `width` periods ending at the run's origin."""
    row = np.zeros(width)
    end = width - min(hist.skip, width)  # unknown trailing periods are not zero demand
    take = min(hist.y.size, end)
    if take:
        row[end - take : end] = hist.y[hist.y.size - take :]
    return row


def _aggregate(
    settings: Settings, client_id: str, params: dict[str, Any], spec: Any, structure: rec.Structure
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Node histories summed SKU by SKU as their series are read (READ_CHUNK at a time); the SKUs
    that have a history, and their recent periods (float32) for the residuals. Memory: the nodes'
    histories and those recent periods, never every SKU's whole history."""
    from skucast.forecasting import reconciliation as rec
    from skucast.forecasting.engine import EngineConfig, history_at_frequency
    from skucast.services.batches import series_input

    width = EngineConfig().max_history[spec.frequency]
    recent = rec.RESIDUAL_PERIODS + SEASON_LENGTHS[spec.frequency]
    cleaning = params.get("history_cleaning", "none") == "flagged"
    columns = structure.S[: structure.n_nodes].tocsc()
    node_hist = np.zeros((structure.n_nodes, width))
    kept: list[str] = []
    tails: list[np.ndarray] = []
    skus = list(structure.skus) if spec.as_of else []
    for start in range(0, len(skus), READ_CHUNK):
        chunk = skus[start : start + READ_CHUNK]
        stored = demand.get_stored_series(settings.table_name, client_id, chunk)
        for j, sku in enumerate(chunk, start):
            hist = history_at_frequency(series_input(sku, stored[sku], cleaning), spec) if sku in stored else None
            if hist is None:
                continue  # no history: the SKU's own result is an error, it adds nothing to a node
            row = _aligned(hist, width)
            node_hist[columns.indices[columns.indptr[j] : columns.indptr[j + 1]]] += row
            kept.append(sku)
            tails.append(row[-recent:].astype(np.float32))
    return node_hist, kept, np.vstack(tails) if tails else np.zeros((0, recent), np.float32)


def plan_nodes(
    settings: Settings, client_id: str, run: RunRecord, skus: list[str], as_of: str | None, first_index: int
) -> list[list[str]]:
    """Aggregate the node histories and store them per node batch (batch ids from `first_index`);
    the node ids of each node batch. Idempotent: a retried plan writes the same objects."""
    from skucast.forecasting import reconciliation as rec

    params = run.params
    levels = [str(v) for v in params["hierarchy_levels"]]
    found = _attributes(settings, client_id, int(params["attributes_version"]), skus) if skus else {}
    spec = _spec(params, as_of or _data_end(settings, client_id, skus))
    structure = rec.build_structure(levels, skus, found)
    node_hist, kept, tails = _aggregate(settings, client_id, params, spec, structure)
    frequency, width = spec.frequency, node_hist.shape[1]
    first = _run_first(spec.as_of, frequency) if spec.as_of else None
    start_day = next_period(first, frequency, -width).isoformat() if first else None
    ids = [n.node_id for n in structure.nodes] if kept else []
    chunks = [ids[i : i + NODE_BATCH_SIZE] for i in range(0, len(ids), NODE_BATCH_SIZE)]
    for k, chunk in enumerate(chunks):
        histories = {
            n: {"start": start_day, "values": node_hist[k * NODE_BATCH_SIZE + i].tolist()} for i, n in enumerate(chunk)
        }
        key = _key(client_id, run.run_id, f"history-{runs_repo.batch_id(first_index + k)}.json")
        objects.put_json(settings.data_bucket, key, histories)
    buffer = io.BytesIO()
    np.save(buffer, tails, allow_pickle=False)
    objects.put_bytes(settings.data_bucket, _key(client_id, run.run_id, "tail.npy"), buffer.getvalue())
    plan = {
        "levels": levels,
        "skus": kept,  # the rows of tail.npy
        "paths": {s: [found.get(s, {}).get(level) for level in levels] for s in kept},
        "node_batches": [runs_repo.batch_id(first_index + k) for k in range(len(chunks))],
    }
    objects.put_json(settings.data_bucket, _key(client_id, run.run_id, "plan.json"), plan)
    return chunks


# ---------------------------------------------------------------- stage 2: node batches
def forecast_nodes(settings: Settings, client_id: str, run: RunRecord, batch: BatchRecord) -> dict[str, Any]:
    """The engine on one node batch's histories; the base forecasts stored; the batch's record."""
    from skucast.forecasting.engine import EngineConfig, SeriesInput, forecast_batch

    spec = _spec(run.params, run.as_of)
    key = _key(client_id, run.run_id, f"history-{batch.batch_id}.json")
    histories = objects.get_json(settings.data_bucket, key) or {}
    inputs = [
        SeriesInput(node, dt.date.fromisoformat(h["start"]), np.asarray(h["values"], dtype=np.float64), spec.frequency)
        for node, h in histories.items()
        if h.get("start")
    ]
    config = EngineConfig(classification=settings.classification)
    forecasts = forecast_batch(inputs, spec, config) if inputs else []
    base = {
        f.sku: {"forecast": f.forecast, "method": f.method, "demand_class": f.demand_class, "error": f.error}
        for f in forecasts
    }
    objects.put_json(settings.data_bucket, _key(client_id, run.run_id, f"base-{batch.batch_id}.json"), base)
    failed = sum(1 for f in forecasts if f.error)
    return {"nodes": len(forecasts), "nodes_failed": failed}


# ---------------------------------------------------------------- stage 3: reconciliation
def request_reconciliation(settings: Settings, client_id: str, run_id: str) -> None:
    """Ask for the run's reconciliation. Sent again by whoever finds the run settled but not
    reconciled (a lost message is re-sent by the sweeper's repair): reconciling is idempotent."""
    message = BatchMessage(client_id=client_id, run_id=run_id, batch_id=RECONCILE)
    queues.send_batch(settings.forecast_queue_url, message)


def reconcile_run(settings: Settings, client_id: str, run_id: str) -> None:
    from skucast.services.batches import maybe_complete

    run = runs_repo.get_run(settings.table_name, client_id, run_id)
    if run is None or run.status is not RunStatus.RUNNING or not run.all_settled:
        return
    if run.reconciliation is None:
        outcome = _reconcile(settings, client_id, run)
        if repo.mark_reconciled(settings.table_name, client_id, run_id, outcome):
            metrics.add_metric(name="RunsReconciled", unit="Count", value=1)
    maybe_complete(settings, client_id, run_id)


def reconciliation_dead_lettered(settings: Settings, client_id: str, run_id: str) -> None:
    """The reconciliation failed every retry: the SKU results go back to their base forecasts and
    the run ends PARTIAL with the error."""
    from skucast.services.batches import maybe_complete

    run = runs_repo.get_run(settings.table_name, client_id, run_id)
    if run is None or run.status is not RunStatus.RUNNING or run.reconciliation is not None:
        return
    for stored in runs_repo.iter_results(settings.table_name, client_id, run_id, run.result_shards):
        doc = stored.document
        if "base_forecast" in doc:
            restored = {k: v for k, v in doc.items() if k not in ("base_forecast", "reconciled")}
            restored["forecast"] = doc["base_forecast"]
            repo.put_result_document(settings.table_name, client_id, run_id, run.result_shards, restored)
    error = {
        "code": "reconciliation_failed",
        "message": "The reconciliation failed every retry; results are the base forecasts.",
    }
    repo.mark_reconciled(settings.table_name, client_id, run_id, {"error": error})
    maybe_complete(settings, client_id, run_id)


Bands = dict[int, tuple[np.ndarray, np.ndarray]]  # level -> (lo, hi)


def _points(dates: list[str], mean: np.ndarray, bounds: Bands) -> list[dict[str, Any]]:
    """One series' forecast points from its mean and (lo, hi) per level (1-D, per period)."""
    points = []
    for t, day in enumerate(dates):
        point: dict[str, Any] = {"date": day, "mean": float(mean[t])}
        for lv, (lo, hi) in bounds.items():
            point[f"lo_{lv}"], point[f"hi_{lv}"] = float(lo[t]), float(hi[t])
        points.append(point)
    return points


def _row(bands: Bands, i: int) -> Bands:
    return {lv: (lo[i], hi[i]) for lv, (lo, hi) in bands.items()}


def _values(points: list[dict[str, Any]], levels: list[int], horizon: int) -> np.ndarray:
    """A forecast's points as one small array: its mean, then lo and hi of each level (rows), per
    period (columns); a missing value is 0."""
    out = np.zeros((1 + 2 * len(levels), horizon))
    names = ["mean", *[f"{side}_{lv}" for lv in levels for side in ("lo", "hi")]]
    for t, point in enumerate(points[:horizon]):
        out[:, t] = [float(point.get(name) or 0.0) for name in names]
    return out


@dataclass
class _Bases:
    """Every series' base forecast in S's row order, as the reconciliation reads them."""

    structure: rec.Structure
    dates: list[str]
    mean: np.ndarray
    bands: dict[int, tuple[np.ndarray, np.ndarray]]
    base_methods: dict[str, str | None]  # node id -> the engine's method for its base forecast
    fallbacks: int  # nodes whose base forecast is their SKUs' summed


def _base(stored: StoredResult) -> list[dict[str, Any]]:
    """A SKU result's base forecast: what the engine wrote, kept beside a reconciled forecast."""
    return list(stored.document.get("base_forecast") or stored.forecast)


def _gather(settings: Settings, client_id: str, run: RunRecord, plan: dict[str, Any]) -> _Bases | None:
    """The base forecasts of the plan's SKUs that have one (results read page by page, each kept
    as a small array) and of every node."""
    from skucast.forecasting import reconciliation as rec

    levels_pct = sorted(int(v) for v in run.params.get("levels", (80, 95)))
    planned = set(plan.get("skus", []))
    values: dict[str, np.ndarray] = {}
    dates: list[str] = []
    for stored in runs_repo.iter_results(settings.table_name, client_id, run.run_id, run.result_shards):
        if stored.document.get("error") or not stored.forecast or stored.sku not in planned:
            continue
        base = _base(stored)
        dates = dates or [p["date"] for p in base]
        values[stored.sku] = _values(base, levels_pct, len(dates))
    if not values:
        return None
    levels = [str(v) for v in plan["levels"]]
    found = {s: {lv: v for lv, v in zip(levels, plan["paths"][s], strict=True) if v is not None} for s in values}
    structure = rec.build_structure(levels, list(values), found)
    horizon = len(dates)
    node_base: dict[str, dict[str, Any]] = {}
    for batch in plan.get("node_batches", []):
        key = _key(client_id, run.run_id, f"base-{batch}.json")
        node_base.update(objects.get_json(settings.data_bucket, key) or {})
    n_nodes = structure.n_nodes
    stacked = np.zeros((1 + 2 * len(levels_pct), structure.S.shape[0], horizon))
    for j, sku in enumerate(structure.skus):
        stacked[:, n_nodes + j] = values.pop(sku)
    base_methods: dict[str, str | None] = {}
    fallbacks = []
    for i, node in enumerate(structure.nodes):
        given = node_base.get(node.node_id) or {}
        points = given.get("forecast") or []
        if given.get("error") or len(points) != horizon:
            fallbacks.append(i)
            continue
        stacked[:, i] = _values(points, levels_pct, horizon)
        base_methods[node.node_id] = given.get("method")
    if fallbacks:  # the node's SKUs' base forecasts summed (bottom-up) stand in for its own
        rows = structure.S[fallbacks]
        for k in range(stacked.shape[0]):
            stacked[k, fallbacks] = rows @ stacked[k, n_nodes:]
    bands = {lv: (stacked[1 + 2 * i], stacked[2 + 2 * i]) for i, lv in enumerate(levels_pct)}
    return _Bases(structure, dates, stacked[0], bands, base_methods, len(fallbacks))


def _reconcile(settings: Settings, client_id: str, run: RunRecord) -> dict[str, Any]:
    """Reconcile and write; the outcome to record. Raises on storage errors (the message is retried)."""
    from skucast.forecasting import reconciliation as rec

    run_id, params = run.run_id, run.params
    method = str(params.get("reconciliation", "min_trace"))
    plan = objects.get_json(settings.data_bucket, _key(client_id, run_id, "plan.json")) or {}
    got = _gather(settings, client_id, run, plan)
    if got is None:
        return {"method": method, "nodes": 0, "skus": 0}
    structure = got.structure
    sigma = rec.sigma_from_bounds(got.mean, got.bands)
    residuals = _residuals(settings, client_id, run_id, structure, plan["skus"]) if method == "min_trace" else None
    try:
        out = rec.reconcile(structure, got.mean, sigma, method, sorted(got.bands), residuals)
    except ValueError as exc:
        logger.warning("reconciliation failed", extra={"error": str(exc)})
        message = f"The forecasts could not be reconciled ({method}): {exc}"[:500]
        return {"error": {"code": "reconciliation_failed", "message": message}}
    nodes = [
        {
            "node_id": node.node_id,
            "depth": node.depth,
            "level": node.level,
            "key": node.key_dict(),
            "skus": node.skus,
            "parent": node.parent,
            "children": list(node.children[:MAX_CHILDREN]),
            "children_total": len(node.children),
            "forecast": _points(got.dates, out.mean[i], out.bands(i)),
            "base_forecast": _points(got.dates, got.mean[i], _row(got.bands, i)),
            "base_method": got.base_methods.get(node.node_id),
            "reconciliation": out.method,
        }
        for i, node in enumerate(structure.nodes)
    ]
    now = runs_repo.get_run(settings.table_name, client_id, run_id)
    if now is None or now.status is not RunStatus.RUNNING:  # cancelled meanwhile: its results stay as they are
        return {"error": {"code": "run_stopped", "message": "The run stopped before its reconciliation was written."}}
    repo.put_nodes(settings.table_name, client_id, run_id, nodes)
    row = {sku: structure.n_nodes + j for j, sku in enumerate(structure.skus)}

    def rewritten() -> Iterator[tuple[StoredResult, dict[str, Any]]]:
        for stored in runs_repo.iter_results(settings.table_name, client_id, run_id, run.result_shards):
            if stored.sku in row:
                base = _base(stored)
                document = {**stored.document, "base_forecast": base, "reconciled": out.method}
                i = row[stored.sku]
                document["forecast"] = _points([p["date"] for p in base], out.mean[i], out.bands(i))
                yield stored, document

    repo.put_result_documents(settings.table_name, client_id, run_id, run.result_shards, rewritten())
    return {
        "method": out.method,
        "nodes": structure.n_nodes,
        "skus": len(structure.skus),
        "base_fallbacks": got.fallbacks,
    }


def _residuals(
    settings: Settings, client_id: str, run_id: str, structure: rec.Structure, planned: list[str]
) -> tuple[np.ndarray, np.ndarray] | None:
    from skucast.forecasting import reconciliation as rec

    raw = objects.get_bytes(settings.data_bucket, _key(client_id, run_id, "tail.npy"))
    if raw is None:
        return None
    tail = np.load(io.BytesIO(raw), allow_pickle=False).astype(np.float64)
    index = {s: i for i, s in enumerate(planned)}
    bottom = tail[[index[s] for s in structure.skus]]
    return rec.insample_residuals(np.vstack([rec.aggregate(structure, bottom), bottom]))


# ---------------------------------------------------------------- GET /runs/{id}/nodes
def _depths(run: RunRecord) -> list[str]:
    return ["total", *[str(v) for v in run.params.get("hierarchy_levels") or []]]


def _node(doc: dict[str, Any], with_children: bool) -> NodeResult:
    return NodeResult(
        node_id=doc["node_id"],
        level=doc["level"],
        key=doc["key"],
        skus=doc["skus"],
        forecast=doc["forecast"],
        base_forecast=doc.get("base_forecast"),
        base_method=doc.get("base_method"),
        reconciliation=doc.get("reconciliation"),
        parent=doc.get("parent"),
        children=doc.get("children") if with_children else None,
        children_total=doc.get("children_total", len(doc.get("children") or ())) if with_children else None,
    )


def list_nodes(
    settings: Settings, client_id: str, run_id: str, level: str | None, limit: int, cursor: str | None
) -> NodeList:
    from skucast.services.runs import load_run

    run = load_run(settings, client_id, run_id)
    depths = _depths(run)
    depth = None
    if level is not None:
        if level not in depths:
            why = f"Not a level of this run's hierarchy: one of {', '.join(depths)}."
            raise Unprocessable(why, errors=[FieldError("level", "unknown_level", why)])
        depth = depths.index(level)
    state = decode_cursor(
        cursor, "nodes", lambda s: set(s) == {"run", "level", "after"} and s["run"] == run_id and s["level"] == level
    )
    after = str(state["after"]) if state and isinstance(state.get("after"), str) else None
    docs, last = repo.page_nodes(settings.table_name, client_id, run_id, depth, limit, after)
    next_cursor = encode_cursor("nodes", {"run": run_id, "level": level, "after": last}) if last else None
    return NodeList(items=[_node(d, False) for d in docs], next_cursor=next_cursor)


def get_node(settings: Settings, client_id: str, run_id: str, node_id: str) -> NodeResult:
    from skucast.services.runs import load_run

    run = load_run(settings, client_id, run_id)
    valid = node_id.startswith("n_") and len(node_id) <= 64 and node_id[2:].isalnum()
    doc = repo.get_node(settings.table_name, client_id, run_id, len(_depths(run)), node_id) if valid else None
    if doc is None:
        raise NotFound("No such node in this run.")
    return _node(doc, True)
