"""How close any forecaster can get to the driver suite's promotion effects (#19's effect target):
`python -m bench.accuracy.driver_floor [--n 300] [--seeds 19 21 22 ...]`.

The suite (bench/accuracy/driver_suite.py, seed 19 unless --seeds, r = 200 / 15) scores a SKU's estimated
promotion effect against the TRUE one: the expected demand over the test window with its
promotions minus without them, each promotion's own uplift factor j (0.85..1.15 of the SKU's
uplift) included. No forecaster can know j in advance, and every estimate is made from 156
noisy weeks. Two reference forecasters, neither possible in practice:

- `true parameters`: the generator's level, trend, season, uplift, elasticity and holiday effects
  exactly, j taken as its mean 1. Only j's draw separates it from the truth.
- `generator's model, fitted`: the generator's exact functional form, level x (1 + g t) x
  (1 + A sin + B cos of the yearly phase) x (1 + u promo) x (price / first price)^e x one factor
  per holiday, fitted to each SKU's history by negative binomial maximum likelihood with the
  TRUE dispersion r (L-BFGS-B from five starts, the best likelihood kept). The best a forecaster
  could do that knew how the data were made: the floor of the effect target on this suite.

Beside them, on the same SKUs, `skucast`: driver-aware auto as the product runs it (the engine
with the global model trained on the suite as the external candidate; bench/accuracy/drivers.py).
With several seeds, each seed is a suite of its own (parameters and noise), scored alike, and the
pooled row counts every promoted SKU of every seed.

Prints and writes bench/out/driver_floor.{md,json}: per reference, the share of promoted SKUs
whose effect is within 20 % of the true one (all, quiet half, noisy half) and the median error.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from bench.accuracy.driver_suite import HISTORY_WEEKS, TEST_WEEKS, _holiday_days, generate, weeks
from bench.accuracy.report_files import write_report

DISPERSION = (200.0, 15.0)  # the suite's default (even / odd SKUs)
TOLERANCE = 0.20
STARTS = ((0.0, 0.0), (0.2, 0.0), (-0.2, 0.0), (0.0, 0.2), (0.0, -0.2))  # season (A, B) starts


def _fit(y: np.ndarray, r: float, promo: np.ndarray, log_price: np.ndarray, holidays: np.ndarray) -> np.ndarray:
    from scipy.optimize import minimize
    from scipy.special import gammaln

    n = y.size

    def nll(p: np.ndarray) -> float:
        mu = _mu(p, promo, log_price, holidays)[:n]
        return float(-np.sum(gammaln(y + r) - gammaln(r) + r * np.log(r / (r + mu)) + y * np.log(mu / (r + mu))))

    k = holidays.shape[1]
    fits = [
        minimize(nll, np.r_[np.log(max(y.mean(), 1.0)), 0.0, a, b, 0.5, -2.0, np.zeros(k)], method="L-BFGS-B")
        for a, b in STARTS
    ]
    return np.asarray(min(fits, key=lambda f: f.fun).x)


def _mu(
    p: np.ndarray, promo: np.ndarray, log_price: np.ndarray, holidays: np.ndarray, promo_on: bool = True
) -> np.ndarray:
    t = np.arange(promo.size, dtype=float)
    w = 2 * np.pi * t / 52.18
    trend = np.maximum(1 + p[1] * t / 52.18, 0.05)
    season = np.maximum(1 + p[2] * np.sin(w) + p[3] * np.cos(w), 1e-3)
    lift = 1 + max(p[4], -0.99) * promo if promo_on else 1.0
    return np.exp(p[0]) * trend * season * lift * np.exp(p[5] * log_price + holidays @ p[6:]) + 1e-12


def run(n: int, seed: int = 19) -> dict[str, Any]:
    from bench.accuracy.drivers import promotion_effects, with_global_model

    suite = generate(n, seed=seed, dispersion=DISPERSION)
    skucast = promotion_effects(with_global_model(suite))
    keys = [d.isoformat() for d in weeks()]
    _, names = _holiday_days()
    distinct = sorted({x for week in names for x in week})
    holidays = np.array([[week.count(d) for d in distinct] for week in names], dtype=float)
    test = slice(HISTORY_WEEKS, HISTORY_WEEKS + TEST_WEEKS)
    errors: dict[str, list[tuple[int, float]]] = {"true parameters": [], "generator's model, fitted": [], "skucast": []}
    for i, item in enumerate(suite):
        true = item.true_effects["promo"]
        if not (item.promo_test.any() and true > 0):
            continue
        promo = np.array([item.values["promo"][k] for k in keys])
        price = np.array([item.values["price"][k] for k in keys])
        log_price = np.log(price / price[0])
        # True parameters, j = 1: each promotion week's demand without it, times the SKU's uplift.
        without = item.mu_test / item.promo_mult_test
        expected = float(np.sum(without[item.promo_test] * item.truth["uplift"]))
        errors["true parameters"].append((i % 2, abs(expected - true) / true))
        p = _fit(item.history, DISPERSION[i % 2], promo, log_price, holidays)
        estimate = float(np.sum((_mu(p, promo, log_price, holidays) - _mu(p, promo, log_price, holidays, False))[test]))
        errors["generator's model, fitted"].append((i % 2, abs(estimate - true) / true))
        errors["skucast"].append((i % 2, abs(skucast[item.sku] - true) / true))
    out: dict[str, Any] = {"skus": n, "seed": seed, "dispersion": list(DISPERSION), "tolerance": TOLERANCE}
    out["errors"] = {name: [list(e) for e in found] for name, found in errors.items()}
    out["references"] = {name: _row(found) for name, found in errors.items()}
    return out


def _row(found: list[tuple[int, float]] | list[list[float]]) -> dict[str, Any]:
    arr = np.array(found)
    row: dict[str, Any] = {"promoted_skus": int(arr.shape[0]), "median_relative_error": float(np.median(arr[:, 1]))}
    for half, mask in (("all", np.ones(len(arr), bool)), ("quiet", arr[:, 0] == 0), ("noisy", arr[:, 0] == 1)):
        row[f"within_{half}"] = float(np.mean(arr[mask, 1] <= TOLERANCE))
    return row


def run_seeds(n: int, seeds: list[int]) -> dict[str, Any]:
    """Each seed's suite scored alike, and every promoted SKU of every seed pooled."""
    per_seed = [run(n, seed) for seed in seeds]
    names = list(per_seed[0]["references"])
    pooled = {name: _row([e for res in per_seed for e in res["errors"][name]]) for name in names}
    return {
        "skus": n,
        "seeds": seeds,
        "dispersion": list(DISPERSION),
        "tolerance": TOLERANCE,
        "per_seed": [{"seed": r["seed"], "references": r["references"]} for r in per_seed],
        "references": pooled,
    }


def markdown(res: dict[str, Any]) -> str:
    seeds = ", ".join(str(s) for s in res.get("seeds", [res.get("seed", 19)]))
    lines = [
        f"# Promotion effects: the floor of the driver suite ({res['skus']} SKUs a seed, seeds {seeds}, r = "
        f"{res['dispersion'][0]:g} / {res['dispersion'][1]:g})",
        "",
        "Pooled over every promoted SKU of every seed:",
        "",
        f"| reference | promoted SKUs | within {res['tolerance']:.0%} | quiet half | noisy half | median error |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in res["references"].items():
        lines.append(
            f"| {name} | {r['promoted_skus']} | {r['within_all']:.1%} | {r['within_quiet']:.1%} | "
            f"{r['within_noisy']:.1%} | {r['median_relative_error']:.1%} |"
        )
    if res.get("per_seed"):
        fitted, ours = "generator's model, fitted", "skucast"
        lines += [
            "",
            "Per seed (within 20 %, all promoted SKUs):",
            "",
            "| seed | promoted SKUs | floor (fitted) | skucast | skucast - floor |",
        ]
        lines.append("|---:|---:|---:|---:|---:|")
        for r in res["per_seed"]:
            f, s = r["references"][fitted], r["references"][ours]
            lines.append(
                f"| {r['seed']} | {f['promoted_skus']} | {f['within_all']:.1%} | {s['within_all']:.1%} | "
                f"{(s['within_all'] - f['within_all']) * 100:+.1f} pt |"
            )
        gaps = [r["references"][ours]["within_all"] - r["references"][fitted]["within_all"] for r in res["per_seed"]]
        if len(gaps) > 1:
            low, high = _mean_interval(gaps)
            lines += [
                "",
                f"skucast - floor over the {len(gaps)} seeds: mean {np.mean(gaps) * 100:+.1f} pt "
                f"(95 % interval of the mean {low * 100:+.1f} .. {high * 100:+.1f} pt, seeds as the units); "
                f"skucast at or above the floor on {sum(g >= 0 for g in gaps)} of {len(gaps)}.",
            ]
    return "\n".join(lines) + "\n"


def _mean_interval(values: list[float]) -> tuple[float, float]:
    """A t interval (95 %) for the mean of `values`."""
    from scipy import stats

    arr = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, arr.size - 1) * arr.std(ddof=1) / np.sqrt(arr.size)
    return float(arr.mean() - half), float(arr.mean() + half)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[19])
    args = parser.parse_args()
    res = run_seeds(args.n, args.seeds)
    text = markdown(res)
    write_report("driver_floor", res, text)


if __name__ == "__main__":
    main()
