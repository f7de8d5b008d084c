"""Reconciling a big hierarchy in one step: time and peak memory of skucast's reconciliation
(forecasting/reconciliation.py: S built, residuals, reconcile, bands) against bare
hierarchicalforecast on the same base forecasts, each in its own subprocess of the same run.

`python -m bench.hierarchy [--skus 100000] [--horizon 28] [--method min_trace|bottom_up]`.
Synthetic: total -> 10 categories -> 100 subcategories -> 1,000 brands -> SKUs (three levels),
seeded base forecasts that do not add up, 104 + 7 periods of history for the residuals. Not part
of `make test`; a figure, not an assertion. (The speed and accuracy benches of #21 are separate.)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np


def _case(n_skus: int, horizon: int, seed: int = 0) -> tuple[Any, np.ndarray, np.ndarray, Any]:
    from skucast.forecasting import reconciliation as rec

    rng = np.random.default_rng(seed)
    skus = [f"sku-{i:07d}" for i in range(n_skus)]
    brand = rng.integers(0, 1000, n_skus)
    attrs = {
        s: {"category": f"c{b // 100}", "subcategory": f"s{b // 10}", "brand": f"b{b}"}
        for s, b in zip(skus, brand, strict=True)
    }
    structure = rec.build_structure(["category", "subcategory", "brand"], skus, attrs)
    hist = rng.poisson(5, size=(n_skus, rec.RESIDUAL_PERIODS + 7)).astype(np.float32).astype(np.float64)
    all_hist = np.vstack([rec.aggregate(structure, hist), hist])
    residuals = rec.insample_residuals(all_hist, 7)
    mean = all_hist[:, -horizon:] * rng.uniform(0.8, 1.2, size=(all_hist.shape[0], horizon))
    sigma = np.sqrt(mean + 1.0)
    return structure, mean, sigma, residuals


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(kind: str, n_skus: int, horizon: int, method: str) -> dict[str, Any]:
    from skucast.forecasting import reconciliation as rec

    structure, mean, sigma, residuals = _case(n_skus, horizon)
    base_mb = _peak_mb()
    started = time.perf_counter()
    if kind == "skucast":
        out = rec.reconcile(structure, mean, sigma, method, [80, 95], residuals)
        seconds = time.perf_counter() - started
        used, gap = out.method, rec.children_sum_gap(structure, out.mean)
    else:  # bare hierarchicalforecast: the same reconciler on the same arrays, means only (its
        # Normality bands are dense, n x n per period: 80 GB at 100,000 series)
        from hierarchicalforecast.methods import BottomUpSparse, MinTraceSparse

        if method == "bottom_up":
            reconciler: Any = BottomUpSparse()
            kwargs: dict[str, Any] = {}
        else:
            reconciler = MinTraceSparse("wls_var", nonnegative=True)
            kwargs = {"y_insample": residuals[0], "y_hat_insample": residuals[1]} if residuals else {}
        res = reconciler.fit_predict(S=structure.S, y_hat=mean, **kwargs)["mean"]
        seconds = time.perf_counter() - started
        used, gap = type(reconciler).__name__, rec.children_sum_gap(structure, np.asarray(res))
    return {
        "kind": kind,
        "skus": n_skus,
        "series": int(structure.S.shape[0]),
        "horizon": horizon,
        "method": used,
        "seconds": round(seconds, 2),
        "peak_mb": round(_peak_mb(), 1),
        "peak_mb_over_inputs": round(_peak_mb() - base_mb, 1),
        "coherence_gap": gap,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--horizon", type=int, default=28)
    parser.add_argument("--method", default="min_trace", choices=["min_trace", "bottom_up"])
    parser.add_argument("--one", choices=["skucast", "bare"])
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.skus, args.horizon, args.method)))
        return
    rows = []
    for kind in ("skucast", "bare"):
        cmd = [sys.executable, "-m", "bench.hierarchy", "--one", kind, "--skus", str(args.skus)]
        cmd += ["--horizon", str(args.horizon), "--method", args.method]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    for row in rows:
        print(json.dumps(row))
    print(
        json.dumps(
            {
                "time_ratio": round(rows[0]["seconds"] / max(rows[1]["seconds"], 1e-9), 2),
                "peak_ratio": round(rows[0]["peak_mb"] / rows[1]["peak_mb"], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
