"""pandas in and out (imported only here, and only when a DataFrame is used).

Forecast frames follow statsforecast's long format, with one model column called `forecast`
(skucast picks the method per SKU, so the method is a column, not a column name):

    unique_id ds forecast forecast-lo-95 forecast-lo-80 forecast-hi-80 forecast-hi-95 final method demand_class

One row per (SKU, forecast period); `ds` is the period start (datetime64[ns]); lower bounds come
widest first and upper bounds narrowest first, as statsforecast orders them. `forecast` and its
intervals are the statistical forecast (the API's `mean`); `final` is the forecast after the
planners' adjustments (equal to `forecast` where there is none). SKUs whose forecast failed have
no rows: they are listed in `frame.attrs["failed"]` (`{sku: {code, message}}`).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Sequence
from typing import Any

FORECAST = "forecast"
FINAL = "final"
ADJUSTMENT_COLUMNS = [
    "adjustment_id", "at", "by", "by_kind", "operation", "value", "start", "end",
    "reason", "comment", "sticky", "expires", "carried_from", "changes",
]  # fmt: skip
ALIASES = {"unique_id": "sku", "ds": "date", "y": "quantity"}


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("DataFrames need pandas: pip install 'skucast-client[pandas]'") from exc
    return pd


def level_columns(levels: Sequence[int], model: str = FORECAST) -> list[str]:
    ordered = sorted({int(level) for level in levels})
    return [f"{model}-lo-{lv}" for lv in reversed(ordered)] + [f"{model}-hi-{lv}" for lv in ordered]


def forecast_columns(levels: Sequence[int]) -> list[str]:
    return ["unique_id", "ds", FORECAST, *level_columns(levels), FINAL, "method", "demand_class"]


def levels_of(results: Iterable[dict[str, Any]]) -> list[int]:
    """The interval levels present in results (`lo_80`, `hi_95`, ... keys of their points)."""
    found: set[int] = set()
    for item in results:
        for point in item.get("forecast") or []:
            found |= {int(k[3:]) for k in point if k.startswith("lo_") and k[3:].isdigit()}
            break
    return sorted(found)


def forecast_frame(results: Sequence[dict[str, Any]], levels: Sequence[int] | None = None) -> Any:
    """Results (`GET /runs/{id}/results` items) -> the statsforecast-shaped frame described above."""
    pd = _pandas()
    levels = sorted(levels) if levels is not None else levels_of(results)
    columns = forecast_columns(levels)
    rows: list[list[Any]] = []
    failed: dict[str, dict[str, Any]] = {}
    for item in results:
        if item.get("error") or not item.get("forecast"):
            failed[item["sku"]] = dict(item.get("error") or {"code": "no_forecast", "message": "no forecast"})
            continue
        for p in item["forecast"]:
            row = [item["sku"], p["date"], p["mean"]]
            row += [p.get(f"lo_{lv}") for lv in reversed(levels)] + [p.get(f"hi_{lv}") for lv in levels]
            row += [p.get(FINAL, p["mean"]), item.get("method"), item.get("demand_class")]
            rows.append(row)
    frame = pd.DataFrame(rows, columns=columns)
    frame["unique_id"] = frame["unique_id"].astype(str)
    frame["ds"] = pd.to_datetime(frame["ds"], format="%Y-%m-%d")
    for col in columns[2:-2]:
        frame[col] = frame[col].astype("float64")
    frame = frame.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    frame.attrs["failed"] = failed
    return frame


def nodes_frame(items: Sequence[dict[str, Any]], sku_results: Sequence[dict[str, Any]] = ()) -> Any:
    """Nodes (`GET /runs/{id}/nodes` items) -> hierarchicalforecast's long shape:
    `unique_id` (node id), `ds`, `mean`, `lo-<L>`..., `hi-<L>`..., `level`. With `sku_results`
    (`GET /runs/{id}/results` items) the SKUs follow as the bottom level (`unique_id` the SKU,
    `level` "sku"; failed ones left out), so the frame holds every series of the hierarchy.
    `frame.attrs`: "keys" maps node ids to keys; "tags" each level to its unique_ids, top down,
    as hierarchicalforecast's `tags` (e.g. for `hierarchicalforecast.evaluation.evaluate`)."""
    pd = _pandas()
    bottom = [
        {**r, "node_id": r["sku"], "level": "sku"} for r in sku_results if r.get("forecast") and not r.get("error")
    ]
    series = [*items, *bottom]
    levels = levels_of(series)
    bands = [f"lo-{lv}" for lv in reversed(levels)] + [f"hi-{lv}" for lv in levels]
    columns = ["unique_id", "ds", "mean", *bands, "level"]
    rows = []
    for item in series:
        for p in item.get("forecast") or []:
            values = [p.get(f"lo_{lv}") for lv in reversed(levels)] + [p.get(f"hi_{lv}") for lv in levels]
            rows.append([item["node_id"], p["date"], p["mean"], *values, item["level"]])
    frame = pd.DataFrame(rows, columns=columns)
    frame["ds"] = pd.to_datetime(frame["ds"], format="%Y-%m-%d")
    for col in ["mean", *bands]:
        frame[col] = frame[col].astype("float64")
    frame = frame.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    frame.attrs["keys"] = {item["node_id"]: item["key"] for item in items}
    tags: dict[str, list[str]] = {}
    for item in series:  # the API lists nodes top down (total, then each level), SKUs last
        tags.setdefault(str(item["level"]), []).append(str(item["node_id"]))
    frame.attrs["tags"] = {level: sorted(ids) for level, ids in tags.items()}
    return frame


def adjustments_frame(items: Iterable[dict[str, Any]]) -> Any:
    """Adjustments (`GET .../results/{sku}/adjustments` items) -> one row per adjustment, in the
    order they apply: `operation` is set/add/multiply and `value` its number, `at` a UTC
    timestamp, `start`/`end` datetimes; `changes` holds `[{date, before, after}]` of the periods
    it changed (the final forecast before and after it)."""
    pd = _pandas()
    rows = []
    for a in items:
        operation = next((op for op in ("set", "add", "multiply") if a.get(op) is not None), None)
        rows.append(
            {
                **{k: a.get(k) for k in ADJUSTMENT_COLUMNS},
                "operation": operation,
                "value": a.get(operation) if operation else None,
                "changes": list(a.get("changes") or []),
            }
        )
    frame = pd.DataFrame(rows, columns=ADJUSTMENT_COLUMNS)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    for col in ("start", "end"):
        frame[col] = pd.to_datetime(frame[col], format="%Y-%m-%d")
    frame["value"] = frame["value"].astype("float64")
    return frame


def is_dataframe(data: Any) -> bool:
    return type(data).__module__.startswith("pandas") and type(data).__name__ == "DataFrame"


def demand_csv_gz(frame: Any) -> bytes:
    """A demand DataFrame (`sku/date/quantity` or `unique_id/ds/y`) -> gzip CSV bytes for upload."""
    pd = _pandas()
    renamed = frame.rename(columns={k: v for k, v in ALIASES.items() if k in frame.columns})
    missing = [c for c in ("sku", "date", "quantity") if c not in renamed.columns]
    if missing:
        raise ValueError(
            f"a demand frame needs the columns sku, date, quantity (or unique_id, ds, y); missing: {', '.join(missing)}"
        )
    out = renamed[["sku", "date", "quantity"]].copy()
    if pd.api.types.is_datetime64_any_dtype(out["date"]):
        out["date"] = out["date"].dt.strftime("%Y-%m-%d")
    else:
        out["date"] = out["date"].map(lambda d: d.isoformat()[:10] if hasattr(d, "isoformat") else str(d))
    text = out.to_csv(index=False, lineterminator="\n")
    return gzip.compress(text.encode("utf-8"), compresslevel=5, mtime=0)


def drivers_csv_gz(frame: Any) -> bytes:
    """A drivers DataFrame (`sku`/`date` or `unique_id`/`ds`, and one column per declared driver)
    -> gzip CSV bytes for upload. A missing value (NaN, None) becomes an empty cell ("no value");
    booleans become 0/1; floats are written in full (Python's repr), so values arrive as sent."""
    pd = _pandas()
    renamed = frame.rename(columns={k: v for k, v in (("unique_id", "sku"), ("ds", "date")) if k in frame.columns})
    missing = [c for c in ("sku", "date") if c not in renamed.columns]
    if missing:
        raise ValueError(
            f"a drivers frame needs the columns sku and date (or unique_id, ds); missing: {', '.join(missing)}"
        )
    drivers = [c for c in renamed.columns if c not in ("sku", "date")]
    if not drivers:
        raise ValueError("a drivers frame needs at least one driver column beside sku and date")
    out = renamed[["sku", "date", *drivers]].copy()
    if pd.api.types.is_datetime64_any_dtype(out["date"]):
        out["date"] = out["date"].dt.strftime("%Y-%m-%d")
    else:
        out["date"] = out["date"].map(lambda d: d.isoformat()[:10] if hasattr(d, "isoformat") else str(d))
    for column in drivers:
        if pd.api.types.is_bool_dtype(out[column]):
            out[column] = out[column].astype(int)
        else:
            out[column] = out[column].map(lambda v: "" if v is None or v != v else repr(float(v)))
    text = out.to_csv(index=False, lineterminator="\n")
    return gzip.compress(text.encode("utf-8"), compresslevel=5, mtime=0)


def attributes_csv_gz(frame: Any) -> bytes:
    """An attributes DataFrame (`sku` or `unique_id`, and one column per attribute) -> gzip CSV
    bytes for upload. Values are written as text exactly (quoted where needed); a missing value
    (NaN, None) becomes an empty cell: "no value sent", the stored one stays."""
    renamed = frame.rename(columns={"unique_id": "sku"}) if "unique_id" in frame.columns else frame
    if "sku" not in renamed.columns:
        raise ValueError("an attributes frame needs the column sku (or unique_id)")
    names = [c for c in renamed.columns if c != "sku"]
    if not names:
        raise ValueError("an attributes frame needs at least one attribute column beside sku")
    out = renamed[["sku", *names]].copy()
    for column in names:
        out[column] = out[column].map(lambda v: "" if v is None or v != v else str(v))
    text = out.to_csv(index=False, lineterminator="\n")
    return gzip.compress(text.encode("utf-8"), compresslevel=5, mtime=0)


SKU_FIELDS = (
    "sku",
    "demand_class",
    "adi",
    "cv2",
    "n_periods",
    "first_date",
    "last_date",
    "total_quantity",
    "granularity",
)


def skus_frame(items: Sequence[dict[str, Any]]) -> Any:
    """GET /skus items -> a DataFrame: the catalog fields, then one column per attribute (named
    `attr.<name>` only where an attribute's name is also a catalog field); no value is None."""
    pd = _pandas()
    names = sorted({n for i in items for n in (i.get("attributes") or {})})
    column = {n: (f"attr.{n}" if n in SKU_FIELDS else n) for n in names}
    rows = [
        {**{f: i.get(f) for f in SKU_FIELDS}, **{column[n]: (i.get("attributes") or {}).get(n) for n in names}}
        for i in items
    ]
    return pd.DataFrame(rows, columns=[*SKU_FIELDS, *column.values()])


def read_table(data: bytes) -> Any:
    """A CSV or Parquet export (bytes) -> DataFrame."""
    pd = _pandas()
    if data[:4] == b"PAR1":
        return pd.read_parquet(io.BytesIO(data))
    return pd.read_csv(io.BytesIO(data))


COMPARE_COLUMNS = ["sku", "run_total", "to_total", "delta", "delta_pct"]


def compare_frame(run_id: str, to: str, totals: dict[str, Any], items: Sequence[dict[str, Any]]) -> Any:
    """GET /runs/{run_id}/compare's items as a DataFrame (biggest absolute delta first, as served);
    `attrs` holds `run_id`, `to` and `totals` ({run, to, delta, delta_pct})."""
    pd = _pandas()
    frame = pd.DataFrame([[i.get(c) for c in COMPARE_COLUMNS] for i in items], columns=COMPARE_COLUMNS)
    frame["delta_pct"] = frame["delta_pct"].astype("float64")  # null (a base total of 0) is NaN
    frame.attrs.update(run_id=run_id, to=to, totals=dict(totals))
    return frame
