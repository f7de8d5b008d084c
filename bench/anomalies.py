"""Benchmark: anomalies in history (#20 item 5) - how well ingestion flags injected outliers, how
often it flags clean series, whether cleaning them helps a run, and what flagging costs.

Data: the seeded suite of bench/anomaly_suite.py (clean daily series of three classes, and the
same series with documented outliers injected into their history). Everything goes through the
product's code in this process against moto (skucast_local.moto_fast, as bench/ingest.py):

1. **Flagging through the ingestion path**: the history (all but the last HORIZON days) of every
   series is uploaded as a CSV file through `services.uploads` (create_upload, the object in S3,
   `ingest_object`: what IngestFunction runs), for a tenant holding the clean series and one
   holding the contaminated ones; the flags are read back from the store. Recall = injected
   outliers flagged / injected; false-positive rate = flagged days / days of the clean series
   (and, beside it, of the contaminated series' other days). A third tenant receives the
   contaminated history in two files (all but the last 30 days, then those days): its flags must
   equal the one-file tenant's (the re-evaluation around new points is exact).
2. **Accuracy**: `services.batches.forecast_skus` (what the worker runs for a batch) on the
   contaminated tenant with `history_cleaning` "none" and "flagged", and on the clean tenant
   (the ceiling), forecasting HORIZON days from the end of the history (default policy, one
   backtest window). Scored against the clean, outlier-free last HORIZON days: mean MASE (scale:
   the in-sample MAE of the weekly seasonal naive on the clean history) and WAPE, per class and
   overall.
3. **Cost**: CPU time of the contaminated history's ingestion, and of a one-day append to every
   SKU, with flagging and with `flags_after` switched off (same run, interleaved).

    uv run python -m bench.anomalies [--quick] [--seed 2026] [--out bench/out/anomalies.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "shared"), str(ROOT / "local")]

import boto3  # noqa: E402
import numpy as np  # noqa: E402

from bench._common import emit  # noqa: E402
from bench.anomaly_suite import CLASSES, HISTORY, HORIZON, START, Series, suite  # noqa: E402
from bench.ingest import aws  # noqa: E402

BENCH_SEED = 2026  # not one of the seeds the detector's thresholds were set on (20, 21)
APPEND_SPLIT = 30  # days the two-file tenant receives in its second file


def _csv(series: list[Series], attribute: str, first: int, last: int) -> bytes:
    out = io.StringIO()
    out.write("sku,date,quantity\n")
    for s in series:
        values = getattr(s, attribute)
        for i in range(first, last):
            day = START + dt.timedelta(days=i)
            out.write(f'"{s.sku}",{day.isoformat()},{values[i]:g}\n')
    return out.getvalue().encode()


def _ingest(settings: Any, client_id: str, content: bytes) -> float:
    """One file through the file door; CPU seconds of this thread (moto runs in it)."""
    from skucast.repositories.keys import upload_object_key
    from skucast.schemas.demand import CreateUploadRequest
    from skucast.services import uploads

    ticket = uploads.create_upload(settings, client_id, CreateUploadRequest(filename="history.csv"))
    key = upload_object_key(client_id, ticket.upload_id)
    boto3.client("s3").put_object(Bucket=settings.data_bucket, Key=key, Body=content)
    began = time.thread_time()
    assert uploads.ingest_object(key, settings) == 1
    seconds = time.thread_time() - began
    upload = uploads.get_upload(settings, client_id, ticket.upload_id)
    assert upload.status == "SUCCEEDED", upload
    return seconds


def _flags(settings: Any, client_id: str, series: list[Series]) -> dict[str, set[int]]:
    """Each SKU's flagged positions (days from START)."""
    from skucast.repositories import demand
    from skucast.services.anomalies import flagged_positions

    stored = demand.get_stored_series(settings.table_name, client_id, [s.sku for s in series])
    out = {}
    for s in series:
        item = stored[s.sku]
        offset = (item.series.start - START).days
        out[s.sku] = {int(p) + offset for p in flagged_positions(item)}
    return out


def detection(series: list[Series], clean: dict[str, set[int]], dirty: dict[str, set[int]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in (*CLASSES, "all"):
        chosen = [s for s in series if name in ("all", s.demand_class)]
        injected = sum(len(s.injected) for s in chosen)
        found = sum(len(set(s.injected.tolist()) & dirty[s.sku]) for s in chosen)
        by_kind: dict[str, list[int]] = {}
        for s in chosen:
            for day, kind in zip(s.injected.tolist(), s.kind, strict=True):
                hit = by_kind.setdefault(kind, [0, 0])
                hit[0] += day in dirty[s.sku]
                hit[1] += 1
        days = HISTORY * len(chosen)
        false_clean = sum(len(clean[s.sku]) for s in chosen)
        false_dirty = sum(len(dirty[s.sku] - set(s.injected.tolist())) for s in chosen)
        out[name] = {
            "series": len(chosen),
            "injected": injected,
            "flagged_injected": found,
            "recall": found / injected if injected else None,
            "recall_by_kind": {k: v[0] / v[1] for k, v in sorted(by_kind.items())},
            "clean_days": days,
            "clean_flagged": false_clean,
            "false_positive_rate": false_clean / days,
            "false_positive_rate_contaminated": false_dirty / (days - injected),
            "clean_series_with_a_flag": sum(1 for s in chosen if clean[s.sku]),
        }
    return out


def _forecasts(settings: Any, client_id: str, series: list[Series], cleaning: str) -> tuple[dict[str, Any], int]:
    from skucast.services.batches import forecast_skus

    params = {"horizon": HORIZON, "frequency": "D", "levels": [80, 95], "backtest_windows": 1}
    params["history_cleaning"] = cleaning
    as_of = (START + dt.timedelta(days=HISTORY - 1)).isoformat()
    results, record = forecast_skus(settings, client_id, params, [s.sku for s in series], as_of)
    return {r["sku"]: r for r in results}, int(record.get("points_cleaned", 0))


def _scores(series: list[Series], results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in (*CLASSES, "all"):
        mases, errors, actuals = [], 0.0, 0.0
        for s in series:
            if name not in ("all", s.demand_class):
                continue
            mean = np.array([p["mean"] for p in results[s.sku]["forecast"]])
            actual = s.clean[HISTORY:]
            history = s.clean[:HISTORY]
            scale = np.mean(np.abs(history[7:] - history[:-7])) or 1.0
            mases.append(float(np.mean(np.abs(mean - actual)) / scale))
            errors += float(np.sum(np.abs(mean - actual)))
            actuals += float(np.sum(actual))
        out[name] = {"mase": float(np.mean(mases)), "wape": errors / actuals}
    return out


@contextmanager
def _flagging_off() -> Iterator[None]:
    from skucast.services import anomalies

    original = anomalies.flags_after
    anomalies.flags_after = lambda *a, **k: None  # type: ignore[assignment]
    try:
        yield
    finally:
        anomalies.flags_after = original  # type: ignore[assignment]


def _tenant(settings: Any, client_id: str) -> str:
    from skucast.repositories.keys import CLIENT_PROFILE_SK, tenant_pk

    boto3.resource("dynamodb").Table(settings.table_name).put_item(
        Item={"pk": tenant_pk(client_id), "sk": CLIENT_PROFILE_SK, "client_id": client_id, "tier": "enterprise"}
    )
    return client_id


def cost(settings: Any, series: list[Series], reps: int) -> dict[str, Any]:
    """CPU seconds of ingesting the contaminated history and of a one-day append, with flagging
    and without (interleaved, medians)."""
    history = _csv(series, "dirty", 0, HISTORY)
    append = _csv(series, "clean", HISTORY, HISTORY + 1)
    runs: dict[str, list[float]] = {"history_on": [], "history_off": [], "append_on": [], "append_off": []}
    for rep in range(reps):
        for mode in ("on", "off"):
            client = _tenant(settings, f"cli_cost_{mode}_{rep}")
            if mode == "off":
                with _flagging_off():
                    runs["history_off"].append(_ingest(settings, client, history))
                    runs["append_off"].append(_ingest(settings, client, append))
            else:
                runs["history_on"].append(_ingest(settings, client, history))
                runs["append_on"].append(_ingest(settings, client, append))
    med = {k: float(np.median(v)) for k, v in runs.items()}
    n = len(series)
    return {
        "skus": n,
        "history_days": HISTORY,
        "reps": reps,
        "seconds": med,
        "ms_per_sku": {k: 1000 * v / n for k, v in med.items()},
        "ratio_history": med["history_on"] / med["history_off"],
        "ratio_append": med["append_on"] / med["append_off"],
    }


def measure(seed: int, per_class: int, reps: int) -> dict[str, Any]:
    from skucast.settings import get_settings

    series = suite(seed, per_class)
    with aws():
        settings = get_settings()
        clean_t = _tenant(settings, "cli_clean")
        dirty_t = _tenant(settings, "cli_dirty")
        split_t = _tenant(settings, "cli_split")
        _ingest(settings, clean_t, _csv(series, "clean", 0, HISTORY))
        _ingest(settings, dirty_t, _csv(series, "dirty", 0, HISTORY))
        _ingest(settings, split_t, _csv(series, "dirty", 0, HISTORY - APPEND_SPLIT))
        _ingest(settings, split_t, _csv(series, "dirty", HISTORY - APPEND_SPLIT, HISTORY))
        clean, dirty = _flags(settings, clean_t, series), _flags(settings, dirty_t, series)
        split = _flags(settings, split_t, series)

        began = time.perf_counter()
        plain, _ = _forecasts(settings, dirty_t, series, "none")
        cleaned, points_cleaned = _forecasts(settings, dirty_t, series, "flagged")
        ceiling, _ = _forecasts(settings, clean_t, series, "none")
        forecast_seconds = time.perf_counter() - began
        costs = cost(settings, series, reps)
    accuracy = {"none": _scores(series, plain), "flagged": _scores(series, cleaned), "clean": _scores(series, ceiling)}
    flagged_all = detection(series, clean, dirty)["all"]
    return {
        "seed": seed,
        "series_per_class": per_class,
        "history_days": HISTORY,
        "horizon": HORIZON,
        "detection": detection(series, clean, dirty),
        "two_files_equal_one": split == dirty,
        "points_cleaned": points_cleaned,
        "accuracy": accuracy,
        "forecast_seconds": forecast_seconds,
        "cost": costs,
        "met": {
            "recall_at_least_0_8": flagged_all["recall"] >= 0.8,
            "false_positive_rate_at_most_1_percent": flagged_all["false_positive_rate"] <= 0.01,
            "flagged_at_least_as_accurate": accuracy["flagged"]["all"]["mase"] <= accuracy["none"]["all"]["mase"]
            and accuracy["flagged"]["all"]["wape"] <= accuracy["none"]["all"]["wape"],
            "two_files_equal_one": split == dirty,
        },
    }


def markdown(r: dict[str, Any]) -> list[str]:
    d, a = r["detection"], r["accuracy"]
    lines = [
        f"Suite: bench/anomaly_suite.py, seed {r['seed']}, {r['series_per_class']} series per class, "
        f"{r['history_days']} days of history + {r['horizon']} scored days; outliers injected into the history only.",
        "",
        "| class | injected | recall | recall by kind | false positives, clean series | "
        "false positives, contaminated series' other days | clean series with any flag |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for name in (*CLASSES, "all"):
        x = d[name]
        kinds = ", ".join(f"{k} {v:.2f}" for k, v in x["recall_by_kind"].items())
        lines.append(
            f"| {name} | {x['injected']} | {x['recall']:.3f} | {kinds} | {100 * x['false_positive_rate']:.2f} % "
            f"({x['clean_flagged']} of {x['clean_days']:,} days) | {100 * x['false_positive_rate_contaminated']:.2f} % "
            f"| {x['clean_series_with_a_flag']} of {x['series']} |"
        )
    lines += [
        "",
        f"History uploaded in two files (the last {APPEND_SPLIT} days second) flags exactly as one file: "
        f"{'yes' if r['two_files_equal_one'] else 'NO'}.",
        "",
        f"Accuracy on the {r['horizon']} outlier-free days after the history (`forecast_skus`, default policy; "
        f"{r['points_cleaned']} points cleaned):",
        "",
        "| class | MASE none | MASE flagged | MASE clean history | WAPE none | WAPE flagged | WAPE clean history |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in (*CLASSES, "all"):
        lines.append(
            f"| {name} | {a['none'][name]['mase']:.3f} | {a['flagged'][name]['mase']:.3f} | "
            f"{a['clean'][name]['mase']:.3f} | {a['none'][name]['wape']:.3f} | {a['flagged'][name]['wape']:.3f} | "
            f"{a['clean'][name]['wape']:.3f} |"
        )
    c = r["cost"]
    ms = c["ms_per_sku"]
    lines += [
        "",
        f"Cost (CPU of the ingesting thread, moto in-process, {c['skus']} SKUs, median of {c['reps']}): "
        f"{c['history_days']} days of history {ms['history_on']:.2f} ms/SKU with flagging, "
        f"{ms['history_off']:.2f} without ({c['ratio_history']:.2f}x); a one-day append "
        f"{ms['append_on']:.2f} vs {ms['append_off']:.2f} ms/SKU ({c['ratio_append']:.2f}x).",
        "",
        "Targets (#20): recall >= 0.8 "
        + ("met" if r["met"]["recall_at_least_0_8"] else "NOT met")
        + "; false-positive rate on clean series <= 1 % "
        + ("met" if r["met"]["false_positive_rate_at_most_1_percent"] else "NOT met")
        + "; flagged at least as accurate as none (MASE and WAPE, all series) "
        + ("met" if r["met"]["flagged_at_least_as_accurate"] else "NOT met")
        + ".",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.anomalies", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10 series per class, one cost repetition")
    parser.add_argument("--seed", type=int, default=BENCH_SEED)
    parser.add_argument("--per-class", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    per_class = args.per_class or (10 if args.quick else 40)
    result = measure(args.seed, per_class, 1 if args.quick else 3)
    print("\n".join(markdown(result)), flush=True)
    emit(result, args.out)
    return 0  # the targets are reported (result["met"]), never asserted: a bench, not a test


if __name__ == "__main__":
    sys.exit(main())
