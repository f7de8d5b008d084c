"""Exports of a finished run: one object per (run, format), written once and presigned on request.

A small run is written within the request. A bigger one is written by ExportFunction behind
ExportQueue while requests answer 409 `export-preparing` with Retry-After; once the object
exists every request presigns it without reading a result again. Writers stream: memory stays
bounded by one chunk of results whatever the run's size.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable
from typing import Any

from skucast.errors import Conflict, ExportPreparing, FieldError, NotReady, Unprocessable
from skucast.observability import logger
from skucast.records import ExportStatus, RunRecord, StoredResult
from skucast.repositories import exports as exports_repo
from skucast.repositories import hierarchy as nodes_repo
from skucast.repositories import objects, queues
from skucast.repositories import runs as repo
from skucast.repositories.keys import export_key, node_export_key
from skucast.schemas.forecast import ExportLink
from skucast.schemas.messages import ExportMessage
from skucast.services.runs import load_run
from skucast.settings import Settings

EXPORT_LINK_SECONDS = 900
CONTENT_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
# One Parquet row group per this many SKUs (28-day horizon: 56,000 rows, a few MB in memory).
PARQUET_CHUNK_SKUS = 2000
# Export throughput on AWS as estimated from bench/export.py (README, Exports; ExportFunction's
# bigger share of a vCPU is faster): only tells a waiting client when to ask again.
EXPORT_SKUS_PER_SECOND = 1500
# A PREPARING export older than this has lost its job (ExportFunction runs at most 15 minutes an
# attempt); the next request starts another one.
STALE_SECONDS = 3600
# Reads of a run's results for one export while adjustments keep changing them (then a 503).
EXPORT_ATTEMPTS = 3

# Nodes read per page while writing a level's export.
NODE_PAGE = 200
SKU_LEVEL = "sku"  # `level` of the SKU results: today's export

# Spreadsheets execute cells that start with these; an export must never carry a live formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: Any) -> Any:
    if isinstance(cell, str) and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell


def export_rows(stored: StoredResult, levels: list[int]) -> list[dict[str, Any]]:
    """One row per forecast period: the statistical `mean` and the adjusted `final` side by side."""
    item = stored.document
    base = {
        "sku": neutralise(item["sku"]),
        "demand_class": item.get("demand_class"),
        "method": item.get("method"),
        "error": (item.get("error") or {}).get("code"),
    }
    if not stored.forecast:
        return [{**base, "date": None, "mean": None, "final": None}]
    rows = []
    for point, final in zip(stored.forecast, stored.finals(), strict=False):
        row = {**base, "date": point["date"], "mean": point["mean"], "final": final}
        for level in levels:
            row[f"lo_{level}"], row[f"hi_{level}"] = point.get(f"lo_{level}"), point.get(f"hi_{level}")
        rows.append(row)
    return rows


def export_columns(levels: list[int]) -> list[str]:
    columns = ["sku", "demand_class", "method", "date", "mean", "final"]
    return columns + [f"{side}_{level}" for level in levels for side in ("lo", "hi")] + ["error"]


def write_csv(path: str, columns: list[str], results: Iterable[StoredResult], levels: list[int]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for item in results:
            writer.writerows(export_rows(item, levels))


def write_parquet(
    path: str,
    columns: list[str],
    results: Iterable[StoredResult],
    levels: list[int],
    chunk_skus: int | None = None,
) -> None:
    """One row group per `chunk_skus` results: only one chunk's rows are ever in memory."""
    import pyarrow.parquet as pq

    chunk_skus = chunk_skus or PARQUET_CHUNK_SKUS
    schema = parquet_schema(columns)
    with pq.ParquetWriter(path, schema) as writer:
        rows: list[dict[str, Any]] = []
        skus = 0
        for item in results:
            rows.extend(export_rows(item, levels))
            skus += 1
            if skus == chunk_skus:
                writer.write_table(parquet_table(rows, schema))
                rows, skus = [], 0
        if rows:
            writer.write_table(parquet_table(rows, schema))


def parquet_schema(
    columns: list[str], text: frozenset[str] = frozenset({"sku", "demand_class", "method", "error"})
) -> Any:
    """Typed columns: `date` a date32 (a date to pandas, Spark and DuckDB), `text` strings,
    numbers float64."""
    import pyarrow as pa

    return pa.schema([(c, pa.date32() if c == "date" else pa.string() if c in text else pa.float64()) for c in columns])


def parquet_table(rows: list[dict[str, Any]], schema: Any) -> Any:
    """Rows as export_rows gives them (ISO date strings) in the typed schema."""
    import pyarrow as pa

    as_text = pa.schema([pa.field(f.name, pa.string()) if f.name == "date" else f for f in schema])
    return pa.Table.from_pylist(rows, schema=as_text).cast(schema)


def write_export(settings: Settings, client_id: str, run: RunRecord, file_format: str) -> str:
    """Write the run's export object (streamed to a temp file, then a multipart upload); its key.

    The object is keyed by the run's revision (the adjustments made to its results). It is
    stored only when no adjustment was made while the results were read, so an export of a
    revision holds exactly that revision; otherwise it is read again at the new one."""
    run_id = run.run_id
    levels = list(run.params.get("levels", []))
    writer = write_csv if file_format == "csv" else write_parquet
    for _ in range(EXPORT_ATTEMPTS):
        with tempfile.NamedTemporaryFile(suffix=f".{file_format}") as tmp:
            results = repo.iter_results(settings.table_name, client_id, run_id, run.result_shards)
            writer(tmp.name, export_columns(levels), results, levels)
            # (No run item: no adjustment either - each one counts on the run item.)
            now = repo.get_run(settings.table_name, client_id, run_id) or run
            if now.adjustments_made == run.adjustments_made:
                key = export_key(client_id, run_id, file_format, run.adjustments_made)
                objects.put_file(settings.data_bucket, key, tmp.name, CONTENT_TYPES[file_format])
                return key
            run = now
    raise NotReady("Adjustments are being made to this run right now: ask for the export again in a moment.")


# ---------------------------------------------------------------- a hierarchy run's nodes
def _level_depth(run: RunRecord, level: str) -> tuple[int, list[str]]:
    """The depth of `level` in the run's hierarchy (0: total) and the hierarchy's levels; 422
    naming the problem on a run without a hierarchy or a level not of it."""
    levels = [str(v) for v in run.params.get("hierarchy_levels") or []]
    if not levels:
        why = 'This run has no hierarchy: only its SKU results export (no level, or level "sku").'
        raise Unprocessable(why, errors=[FieldError("level", "no_hierarchy", why)])
    depths = ["total", *levels]
    if level not in depths:
        why = f"Not a level of this run's hierarchy: one of {', '.join([*depths, SKU_LEVEL])}."
        raise Unprocessable(why, errors=[FieldError("level", "unknown_level", why)])
    return depths.index(level), levels


def node_columns(key_levels: list[str], levels: list[int]) -> tuple[list[str], list[str]]:
    """The export's columns and, in the same order, the key attribute each key column holds.
    A key column is named after its attribute, or `key.<attribute>` when that name is one of the
    fixed columns' (an attribute name holds no dot, so that cannot collide again)."""
    bands = [f"{side}_{level}" for level in levels for side in ("lo", "hi")]
    fixed = {"node_id", "level", "date", "mean", *bands}
    keys = [f"key.{a}" if a in fixed else a for a in key_levels]
    return ["node_id", "level", *keys, "date", "mean", *bands], keys


def node_rows(doc: dict[str, Any], key_levels: list[str], keys: list[str], levels: list[int]) -> list[dict[str, Any]]:
    """One row per forecast period of a node: its reconciled mean and bands; an unassigned key
    value (null) stays empty."""
    key = doc.get("key") or {}
    base = {"node_id": doc["node_id"], "level": doc["level"]}
    base |= {column: neutralise(key.get(attr)) for column, attr in zip(keys, key_levels, strict=True)}
    rows = []
    for point in doc.get("forecast") or []:
        row = {**base, "date": point["date"], "mean": point["mean"]}
        for level in levels:
            row[f"lo_{level}"], row[f"hi_{level}"] = point.get(f"lo_{level}"), point.get(f"hi_{level}")
        rows.append(row)
    return rows


def _node_pages(settings: Settings, client_id: str, run_id: str, depth: int) -> Iterable[list[dict[str, Any]]]:
    after: str | None = None
    while True:
        docs, after = nodes_repo.page_nodes(settings.table_name, client_id, run_id, depth, NODE_PAGE, after)
        yield docs
        if after is None:
            return


def write_node_export(settings: Settings, client_id: str, run: RunRecord, depth: int, file_format: str) -> str:
    """Write one level's nodes (streamed a page at a time); the object's key. A run whose
    reconciliation failed has no nodes: its export is the header alone."""
    key_levels = [] if depth == 0 else [str(v) for v in run.params["hierarchy_levels"]][:depth]
    levels = list(run.params.get("levels", []))
    columns, keys = node_columns(key_levels, levels)
    text = frozenset({"node_id", "level", *keys})
    pages = _node_pages(settings, client_id, run.run_id, depth)
    with tempfile.NamedTemporaryFile(suffix=f".{file_format}") as tmp:
        if file_format == "csv":
            with open(tmp.name, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns)
                writer.writeheader()
                for docs in pages:
                    for doc in docs:
                        writer.writerows(node_rows(doc, key_levels, keys, levels))
        else:
            import pyarrow.parquet as pq

            schema = parquet_schema(columns, text)
            with pq.ParquetWriter(tmp.name, schema) as parquet:
                wrote = False
                for docs in pages:
                    rows = [row for doc in docs for row in node_rows(doc, key_levels, keys, levels)]
                    if rows or not wrote:
                        parquet.write_table(parquet_table(rows, schema))
                        wrote = True
        key = node_export_key(client_id, run.run_id, depth, file_format)
        objects.put_file(settings.data_bucket, key, tmp.name, CONTENT_TYPES[file_format])
    return key


# ---------------------------------------------------------------- the API
def export_run(
    settings: Settings, client_id: str, run_id: str, file_format: str, level: str | None = None
) -> ExportLink:
    run = load_run(settings, client_id, run_id)
    if level is not None and level != SKU_LEVEL:
        depth, _ = _level_depth(run, level)
        if not run.finished:
            raise Conflict("The run has not finished yet.")
        # Nodes are written within the request: a level has far fewer nodes than the run has
        # SKUs (100,000 SKUs under three levels: 1,111 nodes in all, bench/hierarchy.py).
        key = node_export_key(client_id, run_id, depth, file_format)
        if not objects.exists(settings.data_bucket, key):
            key = write_node_export(settings, client_id, run, depth, file_format)
        url = objects.presign_get(settings.data_bucket, key, EXPORT_LINK_SECONDS, f"{run_id}-{level}.{file_format}")
        return ExportLink(url=url, expires_in=EXPORT_LINK_SECONDS)
    if not run.finished:
        raise Conflict("The run has not finished yet.")
    key = export_key(client_id, run_id, file_format, run.adjustments_made)
    if not objects.exists(settings.data_bucket, key):
        skus = run.skus_total
        if skus > settings.export_sync_max_skus:
            _prepare_later(settings, client_id, run_id, file_format, skus)
        key = write_export(settings, client_id, run, file_format)
    url = objects.presign_get(settings.data_bucket, key, EXPORT_LINK_SECONDS, f"{run_id}.{file_format}")
    return ExportLink(url=url, expires_in=EXPORT_LINK_SECONDS)


def retry_after(skus: int) -> int:
    """A fifth of the expected job time, 1-30 s: a few polls per export, none of them wasted."""
    return max(1, min(30, skus // EXPORT_SKUS_PER_SECOND // 5))


def _prepare_later(settings: Settings, client_id: str, run_id: str, file_format: str, skus: int) -> None:
    """Start the export job unless one is under way; always raises ExportPreparing (409)."""
    previous = exports_repo.get(settings.table_name, client_id, run_id, file_format)
    detail = f"The {file_format} export of this run is being prepared; ask again after Retry-After seconds."
    if exports_repo.claim(settings.table_name, client_id, run_id, file_format, STALE_SECONDS):
        message = ExportMessage.model_validate({"client_id": client_id, "run_id": run_id, "format": file_format})
        try:
            queues.send_export(settings.export_queue_url, message)
        except Exception:
            logger.exception("export job not queued", extra={"run_id": run_id})
            exports_repo.settle(settings.table_name, client_id, run_id, file_format, "The job could not be queued.")
            raise NotReady("The export could not be started; try again shortly.") from None
        if previous and previous.status is ExportStatus.FAILED:
            detail = f"The last attempt failed ({previous.reason}); a new one has started. " + detail
    raise ExportPreparing(detail, retry_after=retry_after(skus))


# ---------------------------------------------------------------- ExportFunction
def prepare_export(settings: Settings, message: ExportMessage) -> None:
    """Write the export a request asked for and mark it READY, or FAILED with a reason.

    An unexpected error is re-raised after marking FAILED, so SQS retries the job (and
    dead-letters it after maxReceiveCount) while the next request may start a new one.
    """
    client_id, run_id, file_format = message.client_id, message.run_id, message.format
    run = repo.get_run(settings.table_name, client_id, run_id)
    if run is None or not run.finished:
        exports_repo.settle(settings.table_name, client_id, run_id, file_format, "The run is not finished.")
        return
    try:
        write_export(settings, client_id, run, file_format)
    except Exception:
        exports_repo.settle(settings.table_name, client_id, run_id, file_format, "Writing the export failed.")
        raise
    exports_repo.settle(settings.table_name, client_id, run_id, file_format, None)
