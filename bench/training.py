"""The global model's training stage and prediction against bare mlforecast/LightGBM, and the peak
memory of one training shard (issue #19, "Speed").

    uv run python -m bench.training [--quick] [--out bench/out/training.json]

Data: a seeded synthetic shard of daily SKUs (364 days of history, 28-day horizon, one backtest
window, so three models: the final one and two windows) with two drivers (a promotion flag that
lifts demand, a price with elasticity) and a holiday count, levels spread 50x across SKUs.

Contenders, in the same process run, interleaved, medians of CPU time:
- training: `global_model.train` (the trainer's work: each SKU's history as the engine aligns it,
  the Features dicts laid out as columns, the three fits, serialization) against bare mlforecast:
  the same rows built directly from numpy arrays and the same three `MLForecast.fit` calls with the
  same LightGBM parameters (no alignment, no serialization).
- prediction: `global_model.predict` for one forecast batch (40 SKUs: the three models' horizons)
  against bare: the same three `MLForecast.predict` calls on frames built from arrays.
- explanations (made for the whole batch when a SKU whose forecast is the global model's asks):
  each feature's effect as the forecast minus the forecast with that feature at its reference,
  against bare: one `MLForecast.predict` of the batch per feature on a frame with that feature at
  each SKU's reference.
- peak memory: `global_model.train` alone in a fresh subprocess per shard size: the process's
  peak (VmHWM: interpreter, libraries, the shard's inputs as the trainer holds them, training and
  serialization) and its size before training; a linear fit gives the shard size that fits
  Lambda's 10 GB and 15 minutes with the margins stated.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pickle
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DAYS, H = 364, 28
START = dt.date(2025, 1, 6)
BATCH = 40
EXPLAINED = 5  # SKUs of the batch whose effects are asked (the first one makes the whole batch's)
# Margins against Lambda's limits for the default shard size: half the memory, a third of the time
# (a slower vCPU, a noisier neighbour, a shard of longer histories).
MEMORY_LIMIT_MB, MEMORY_SHARE = 10_240, 0.5
TIME_LIMIT_S, TIME_SHARE = 900, 1 / 3


def shard(n: int, seed: int = 0) -> tuple[list[Any], dict[str, Any], dict[str, np.ndarray], Any]:
    """SeriesInputs, their Features, the same data as arrays (for the bare contender), the spec."""
    from skucast.forecasting.engine import Features, ForecastSpec, SeriesInput
    from skucast.forecasting.periods import next_period

    rng = np.random.default_rng(seed)
    days = DAYS + H
    iso = [next_period(START, "D", i).isoformat() for i in range(days)]
    holiday = np.zeros(days)
    holiday[[0, 19, 53, 117, 144, 178, 240, 311, 324, 353]] = 1.0  # fixed dates, every SKU
    items, features, arrays = [], {}, {"y": [], "promo": [], "price": []}
    for k in range(n):
        level = 2.0 + 98.0 * (k % 10) / 9
        promo = (rng.random(days) < 0.07).astype(float)
        price = np.full(days, 10.0)
        cut = int(rng.integers(0, days - 30))
        price[cut : cut + 30] = 8.5  # one price cut of 30 days
        week = 1 + 0.3 * np.sin(2 * np.pi * np.arange(days) / 7)
        lam = level * week * (1 + 0.8 * promo) * (price / 10.0) ** -2.0 * (1 + 0.5 * holiday)
        y = rng.poisson(lam).astype(float)
        sku = f"SKU-{k:06d}"
        items.append(SeriesInput(sku, START, y[:DAYS], "D"))
        features[sku] = Features(
            {
                "promo": dict(zip(iso, promo.tolist(), strict=True)),
                "price": dict(zip(iso, price.tolist(), strict=True)),
                "holiday": dict(zip(iso, holiday.tolist(), strict=True)),
            },
            {"promo": "flag", "price": "numeric", "holiday": "holiday"},
            frozenset({"promo", "price", "holiday"}),
        )
        arrays["y"].append(y[:DAYS])
        arrays["promo"].append(promo)
        arrays["price"].append(price)
    stacked = {k: np.stack(v) for k, v in arrays.items()}
    stacked["holiday"] = holiday
    spec = ForecastSpec(horizon=H, frequency="D", backtest_windows=1, as_of=next_period(START, "D", DAYS - 1))
    return items, features, stacked, spec


# ---------------------------------------------------------------- the bare contender
def _bare_frame(skus: list[str], arrays: dict[str, np.ndarray], first: int, count: int, y: bool) -> Any:
    import pandas as pd

    n = len(skus)
    ds = np.tile(np.arange(first, first + count), n)
    dates = np.datetime64(START, "D") + ds
    index = pd.DatetimeIndex(dates)
    rows = np.array([int(s.split("-")[1]) for s in skus])
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(np.array(skus, dtype=object), count),
            "ds": ds,
            "x0": np.tile(arrays["holiday"][first : first + count], n),  # names sorted: holiday, price, promo
            "x1": arrays["price"][rows, first : first + count].ravel(),
            "x2": arrays["promo"][rows, first : first + count].ravel(),
            "cal_dayofweek": index.dayofweek.to_numpy(dtype=float),
            "cal_dayofmonth": index.day.to_numpy(dtype=float),
            "cal_month": index.month.to_numpy(dtype=float),
        }
    )
    if y:
        values = arrays["y"][rows, first : first + count]
        scale = np.maximum(values.mean(axis=1), 1e-9)
        frame["y"] = (values / scale[:, None]).ravel()
    return frame


def bare_train(skus: list[str], arrays: dict[str, np.ndarray]) -> dict[int, Any]:
    from mlforecast import MLForecast

    from skucast.forecasting import global_model

    config = global_model.GlobalConfig()
    out = {}
    for offset in (0, H, 2 * H):
        frame = _bare_frame(skus, arrays, 0, DAYS - offset, y=True)
        fcst = MLForecast(models={"lgb": global_model._regressor(config)}, freq=1, lags=list(global_model.LAGS["D"]))
        fcst.fit(frame, static_features=[], dropna=False)
        out[offset] = fcst
    return out


def bare_predict(models: dict[int, Any], skus: list[str], arrays: dict[str, np.ndarray]) -> None:
    for offset, fcst in models.items():
        fcst.predict(H, X_df=_bare_frame(skus, arrays, DAYS - offset, H, y=False), ids=skus)


def bare_explain(models: dict[int, Any], skus: list[str], arrays: dict[str, np.ndarray]) -> None:
    """The batch's forecast again with each feature at its reference (0; price: each SKU's history mean)."""
    fcst = models[0]
    frame = _bare_frame(skus, arrays, DAYS, H, y=False)
    rows = np.array([int(s.split("-")[1]) for s in skus])
    references = {"x0": 0.0, "x1": np.repeat(arrays["price"][rows, :DAYS].mean(axis=1), H), "x2": 0.0}
    for column, reference in references.items():
        fcst.predict(H, X_df=frame.assign(**{column: reference}), ids=skus)


# ---------------------------------------------------------------- timing
def _cpu(fn: Any) -> tuple[float, Any]:
    t = time.process_time()
    out = fn()
    return time.process_time() - t, out


def compare(n: int, reps: int) -> dict[str, Any]:
    from skucast.forecasting import global_model

    items, features, arrays, spec = shard(n)
    skus = [i.sku for i in items]
    batch = items[:BATCH]
    batch_skus = sorted(i.sku for i in batch)
    explained = batch_skus[:EXPLAINED]
    # Warm up: imports (mlforecast loads in the first train call) and first-call caches, for both.
    warm = global_model.predict(global_model.train(items[:60], features, spec), items[:2], features, spec)
    warm[items[0].sku].feature_effects()
    bare_models = bare_train(skus[:60], arrays)
    bare_predict(bare_models, skus[:2], arrays)
    bare_explain(bare_models, skus[:2], arrays)
    times: dict[str, list[float]] = {
        "train": [],
        "bare_train": [],
        "predict": [],
        "bare_predict": [],
        "explain": [],
        "bare_explain": [],
        "load": [],
    }
    for _ in range(reps):
        t, models = _cpu(lambda: global_model.train(items, features, spec))
        times["train"].append(t)
        t, bare = _cpu(lambda: bare_train(skus, arrays))
        times["bare_train"].append(t)
        t, payload = _cpu(lambda models=models: global_model.load(models))
        times["load"].append(t)
        t, predicted = _cpu(lambda payload=payload: global_model.predict(payload, batch, features, spec))
        times["predict"].append(t)
        t, _ = _cpu(lambda bare=bare: bare_predict(bare, batch_skus, arrays))
        times["bare_predict"].append(t)
        t, _ = _cpu(lambda p=predicted: [p[sku].feature_effects() for sku in explained])
        times["explain"].append(t)
        t, _ = _cpu(lambda bare=bare: bare_explain(bare, batch_skus, arrays))
        times["bare_explain"].append(t)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "skus": n,
        "rows_per_model": n * DAYS,
        "model_mb": round(len(models) / 1e6, 2),
        "reps": reps,
        "cpu_seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "median": {k: round(v, 3) for k, v in med.items()},
        "ratio_train": round(med["train"] / med["bare_train"], 3),
        "ratio_predict": round(med["predict"] / med["bare_predict"], 3),
        "predict_seconds_per_sku": round(med["predict"] / BATCH, 4),
        "ratio_explain": round(med["explain"] / med["bare_explain"], 3),
        "explain_seconds_per_sku": round(med["explain"] / BATCH, 4),
        "train_seconds_per_sku": round(med["train"] / n, 4),
    }


# ---------------------------------------------------------------- memory, in a fresh process per size
def _status_mb(field: str) -> float:
    """A /proc/self/status figure in MB: VmRSS (now) or VmHWM (this process's peak since exec;
    ru_maxrss is not, it carries the parent's high-water mark across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _memory_child(n: int) -> None:
    from skucast.forecasting import global_model

    items, features, _, spec = shard(n)
    before = _status_mb("VmRSS")  # the interpreter, the libraries and the shard's inputs
    t = time.perf_counter()
    c = time.process_time()
    models = global_model.train(items, features, spec)
    print(
        json.dumps(
            {
                "skus": n,
                "rss_before_mb": round(before, 1),
                "peak_rss_mb": round(_status_mb("VmHWM"), 1),
                "train_wall_s": round(time.perf_counter() - t, 2),
                "train_cpu_s": round(time.process_time() - c, 2),
                "model_mb": round(len(pickle.dumps(models)) / 1e6, 2),
            }
        )
    )


def memory(sizes: list[int]) -> dict[str, Any]:
    points = []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "shared")])}
    for n in sizes:
        done = subprocess.run(
            [sys.executable, "-m", "bench.training", "--memory-child", str(n)],
            cwd=ROOT,
            env=env,
            text=True,
            capture_output=True,
            check=True,
        )
        points.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(points[-1], flush=True)
    x = np.array([p["skus"] for p in points], dtype=float)
    peak = np.polyfit(x, [p["peak_rss_mb"] for p in points], 1)
    cpu = np.polyfit(x, [p["train_cpu_s"] for p in points], 1)
    by_memory = (MEMORY_LIMIT_MB * MEMORY_SHARE - peak[1]) / peak[0]
    by_time = (TIME_LIMIT_S * TIME_SHARE - cpu[1]) / cpu[0]
    return {
        "points": points,
        "peak_mb_fit": {"intercept": round(float(peak[1]), 1), "per_sku": round(float(peak[0]), 4)},
        "train_cpu_fit": {"intercept": round(float(cpu[1]), 2), "per_sku": round(float(cpu[0]), 5)},
        "max_shard_by_memory": int(by_memory),
        "max_shard_by_time": int(by_time),
        "margins": {"memory": f"{MEMORY_SHARE:.0%} of {MEMORY_LIMIT_MB} MB", "time": f"{TIME_SHARE:.0%} of 900 s"},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a 300-SKU shard, 2 reps, small memory sizes")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        _memory_child(args.memory_child)
        return 0
    n, reps = (300, 2) if args.quick else (1000, 3)
    sizes = [200, 400] if args.quick else [500, 2000, 4000]
    result = {"compare": compare(n, reps), "memory": memory(sizes)}
    from skucast.settings import Settings

    result["default_shard_skus"] = Settings.model_fields["training_shard_skus"].default
    c = result["compare"]
    result["met"] = c["ratio_train"] <= 1.2 and c["ratio_predict"] <= 1.2 and c["ratio_explain"] <= 1.2
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
