"""Reconciling a big hierarchy in one step: time and peak memory of skucast's reconciliation
(forecasting/reconciliation.py: residuals from the kept history, reconcile, bands) against bare
hierarchicalforecast on the same base forecasts and residuals (made before its clock: an input a
bare user brings), each in its own subprocess of the same run; and
how skucast's reconciliation scales with the SKUs (fresh processes at a few sizes), which
`aws_model.hierarchy_model` extrapolates to 1,000,000 SKUs under three levels.

`python -m bench.hierarchy [--skus 100000] [--horizon 28] [--method min_trace|bottom_up]`: one
comparison, printed. As the `hierarchy` section of `python -m bench` (`--out FILE [--quick|--full]`):
both methods at 100,000 SKUs (10,000 with --quick) and the scaling points (25k, 50k and the
100k of the comparison; --full adds 200k), written to FILE.
Synthetic: total -> 10 categories -> 100 subcategories -> 1,000 brands -> SKUs (three levels),
seeded base forecasts that do not add up, 104 + 7 periods of history for the residuals. Not part
of `make test`; a figure, not an assertion. (The accuracy of reconciliation is
bench/accuracy/hierarchy_suite.py.)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BAND_ROWS = 1_000  # series whose bands are made at a time (the service writes one row at a time)


def _case(n_skus: int, horizon: int, seed: int = 0) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
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
    mean = all_hist[:, -horizon:] * rng.uniform(0.8, 1.2, size=(all_hist.shape[0], horizon))
    sigma = np.sqrt(mean + 1.0)
    return structure, mean, sigma, all_hist


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(kind: str, n_skus: int, horizon: int, method: str) -> dict[str, Any]:
    from skucast.forecasting import reconciliation as rec

    built = time.perf_counter()
    structure, mean, sigma, kept = _case(n_skus, horizon)
    bare_input = kind == "bare" and method == "min_trace"
    residuals = rec.insample_residuals(kept) if bare_input else None
    build_seconds = time.perf_counter() - built
    base_mb = _peak_mb()
    started, cpu_started = time.perf_counter(), time.process_time()
    if kind == "skucast":
        residuals = rec.insample_residuals(kept) if method == "min_trace" else None  # as the service's stage
        out = rec.reconcile(structure, mean, sigma, method, [80, 95], residuals)
        for start in range(0, out.mean.shape[0], BAND_ROWS):  # every series' bands, as the writer makes them
            out.bands(slice(start, start + BAND_ROWS))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
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
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        used, gap = type(reconciler).__name__, rec.children_sum_gap(structure, np.asarray(res))
    return {
        "kind": kind,
        "skus": n_skus,
        "series": int(structure.S.shape[0]),
        "horizon": horizon,
        "method": used,
        # CPU time is what the verdict and the model use: the machine is shared, wall time is not stable
        "seconds": round(cpu, 2),
        "wall_seconds": round(seconds, 2),
        "build_seconds": round(build_seconds, 2),  # S and the synthetic inputs, before the clock
        "nodes": int(structure.n_nodes),
        "s_nonzeros": int(structure.S.nnz),
        "s_mb": round((structure.S.data.nbytes + structure.S.indices.nbytes + structure.S.indptr.nbytes) / 2**20, 1),
        "peak_mb": round(_peak_mb(), 1),
        "peak_mb_over_inputs": round(_peak_mb() - base_mb, 1),
        "coherence_gap": gap,
    }


def _one(kind: str, skus: int, horizon: int, method: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.hierarchy", "--one", kind, "--skus", str(skus)]
    cmd += ["--horizon", str(horizon), "--method", method]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def compare(skus: int, horizon: int, method: str) -> dict[str, Any]:
    rows = {kind: _one(kind, skus, horizon, method) for kind in ("skucast", "bare")}
    return {
        **rows,
        "time_ratio": round(rows["skucast"]["seconds"] / max(rows["bare"]["seconds"], 1e-9), 2),
        "peak_ratio": round(rows["skucast"]["peak_mb"] / rows["bare"]["peak_mb"], 2),
    }


SIZES = {
    "quick": (10_000, [2_500, 5_000]),
    "default": (100_000, [25_000, 50_000]),
    "full": (100_000, [25_000, 50_000, 200_000]),
}
TARGET = 1.2  # issue #21: time and peak memory against bare hierarchicalforecast


def section(mode: str, horizon: int) -> dict[str, Any]:
    """Both methods compared at the mode's size; skucast's min_trace at the scaling sizes; the
    AWS model for 1,000,000 SKUs from them."""
    from bench import aws_model

    size, extra = SIZES[mode]
    out: dict[str, Any] = {"skus": size, "horizon": horizon}
    out["compare"] = {m: compare(size, horizon, m) for m in ("min_trace", "bottom_up")}
    points = [out["compare"]["min_trace"]["skucast"]]
    points += [_one("skucast", n, horizon, "min_trace") for n in extra]
    out["scaling"] = sorted(points, key=lambda p: p["skus"])
    worst = max(max(c["time_ratio"], c["peak_ratio"]) for c in out["compare"].values())
    out["met"] = worst <= TARGET
    out["model"] = aws_model.hierarchy_model(out)
    return out


def markdown(r: dict[str, Any]) -> list[str]:
    from bench import aws_model

    L = [
        f"{r['skus']:,} SKUs under three levels (10 categories, 100 subcategories, 1,000 brands), horizon "
        f"{r['horizon']}, 2 levels of bands; each contender in its own process of the same run:",
        "",
        "| method (CPU s, peak RSS) | skucast | bare hierarchicalforecast | ratio (target <= 1.2x) |",
        "|---|---|---|---|",
    ]
    for method, c in r["compare"].items():
        sk, bare = c["skucast"], c["bare"]
        L.append(
            f"| `{method}` -> {sk['method']} | {sk['seconds']:.1f} s, peak {sk['peak_mb']:.0f} MB | "
            f"{bare['seconds']:.1f} s, peak {bare['peak_mb']:.0f} MB | {c['time_ratio']:.2f}x time, "
            f"{c['peak_ratio']:.2f}x peak |"
        )
    L += [
        "",
        "skucast's `min_trace` by size (fresh processes; peak RSS includes the synthetic inputs):",
        "",
        "| SKUs | series | S nonzeros | S MB | solve CPU s | peak MB |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for p in r["scaling"]:
        L.append(
            f"| {p['skus']:,} | {p['series']:,} | {p['s_nonzeros']:,} | {p['s_mb']:.1f} | {p['seconds']:.1f} | "
            f"{p['peak_mb']:.0f} |"
        )
    return [*L, "", *aws_model.hierarchy_markdown(r["model"])]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--horizon", type=int, default=28)
    parser.add_argument("--method", default="min_trace", choices=["min_trace", "bottom_up"])
    parser.add_argument("--one", choices=["skucast", "bare"])
    parser.add_argument("--out", help="the bench section: write its JSON result here")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true")
    mode.add_argument("--full", action="store_true")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.skus, args.horizon, args.method)))
        return
    if args.out:
        result = section("quick" if args.quick else "full" if args.full else "default", args.horizon)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print("\n".join(markdown(result)))
        return
    got = compare(args.skus, args.horizon, args.method)
    for kind in ("skucast", "bare"):
        print(json.dumps(got[kind]))
    print(json.dumps({"time_ratio": got["time_ratio"], "peak_ratio": got["peak_ratio"]}))


if __name__ == "__main__":
    main()
