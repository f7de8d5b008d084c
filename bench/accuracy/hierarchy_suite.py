"""Hierarchy accuracy (#21): MASE per level of the nodes' base forecasts against the reconciled
ones (MinTrace, the product's default, and bottom-up) on a seeded synthetic hierarchy.

`python -m bench.accuracy.hierarchy_suite [--seeds 3] [--quick]` writes
bench/out/hierarchy_accuracy.{md,json}. Engine level, beside the product (hierarchy_api.py
measures the same suite through the API, where nodes answer their base forecast too): the
bench runs the product's own stages on arrays - the engine's `forecast_batch` on every SKU's
history and on every node's summed history with the run's spec (what services/hierarchy.py does
in its node batches), the service's residuals (each series' smoothed-level one-step residuals
over the SKUs' last 104 + 52 weeks, the nodes' summed from their SKUs'), `sigma_from_bounds` and
`reconciliation.reconcile` - without DynamoDB, S3 or queues in between
(tests/e2e/test_hierarchy_flow.py covers that path).

The generator (weekly, dated Mondays from 2023-01-02; 156 weeks of history, 13 to score) builds
total -> category -> subcategory -> SKU with shared and idiosyncratic signals:

- category c: yearly seasonality 1 + a_c sin(2 pi t / 52.18 + phi_c), a_c uniform 0.2..0.5,
  phi_c uniform; a linear trend g_c uniform -15 %..+25 % a year.
- subcategory s of c: the category's season with its amplitude x uniform 0.7..1.3 and its phase
  + normal(0, 0.3); trend g_c + normal(0, 0.05); and a shared AR(1) shock in logs
  (rho 0.7, innovation sd 0.08) that every SKU of the subcategory feels.
- SKU: a level log-uniform 2..60 units a week, which scales the subcategory's expected demand
  mu_t = level x trend_t x season_t x shock_t; idiosyncratic noise negative binomial around mu_t
  (r uniform 3..30). A quarter of the SKUs are intermittent: their level is 0.5..3 and a week
  sells (with probability 0.15..0.45) a Poisson size around mu_t / p, zero otherwise.

MASE (bench/accuracy/scoring.py) per series is scaled by the in-sample seasonal-naive MAE (lag 52)
of its own history; a level's figure is the mean over its series, pooled over the seeds. The
verdicts: reconciled MinTrace below base at every upper level (total, category, subcategory), and
at the SKU level no worse than base by more than 2 %.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.accuracy.report_files import write_report
from bench.accuracy.scoring import mase

START = dt.date(2023, 1, 2)  # a Monday: the engine's weeks start on Mondays
HISTORY_WEEKS = 156
TEST_WEEKS = 13
SEASON = 52
LEVELS = ("category", "subcategory")
LEVEL_NAMES = ("total", "category", "subcategory", "sku")


@dataclass(frozen=True)
class Suite:
    skus: list[str]
    attributes: dict[str, dict[str, str]]
    history: np.ndarray  # (n_skus, HISTORY_WEEKS), in `skus` order
    test: np.ndarray  # (n_skus, TEST_WEEKS)
    intermittent: np.ndarray  # bool per SKU


def generate(
    seed: int = 21,
    categories: int = 4,
    subcategories: int = 3,
    skus_per_subcategory: int = 8,
    noise_seed: int | None = None,
) -> Suite:
    """The seeded hierarchy described in the module docstring.

    With `noise_seed`, a replicate of the seed's suite (hierarchy_floor.py): the same parameters
    (seasons, trends, levels, r, p, which SKUs are intermittent), the stochastic parts (AR(1)
    shocks, occurrence, Poisson and negative binomial draws) from a generator seeded by
    `noise_seed`. `rng` still makes its own draws with the seed's own shapes and they are thrown
    away: Poisson and negative binomial draws consume a number of uniforms that depends on the
    mean, so this keeps `rng`'s stream, hence every parameter, the seed's."""
    rng = np.random.default_rng(seed)
    noise = None if noise_seed is None else np.random.default_rng(noise_seed)
    total = HISTORY_WEEKS + TEST_WEEKS
    t = np.arange(total, dtype=float)
    skus: list[str] = []
    attributes: dict[str, dict[str, str]] = {}
    rows: list[np.ndarray] = []
    intermittent: list[bool] = []
    for c in range(categories):
        amp_c, phase_c, trend_c = rng.uniform(0.2, 0.5), rng.uniform(0, 2 * np.pi), rng.uniform(-0.15, 0.25)
        for s in range(subcategories):
            amp = amp_c * rng.uniform(0.7, 1.3)
            season = 1 + amp * np.sin(2 * np.pi * t / 52.18 + phase_c + rng.normal(0, 0.3))
            trend = np.maximum(1 + (trend_c + rng.normal(0, 0.05)) * t / 52.18, 0.1)
            shock = np.zeros(total)
            replicate = np.zeros(total)
            for k in range(1, total):
                shock[k] = 0.7 * shock[k - 1] + rng.normal(0, 0.08)
                if noise is not None:
                    replicate[k] = 0.7 * replicate[k - 1] + noise.normal(0, 0.08)
            shape = season * trend * np.exp(shock)
            noise_shape = season * trend * np.exp(replicate)
            for k in range(skus_per_subcategory):
                sku = f"sku-c{c}-s{s}-{k:02d}"
                sparse = rng.random() < 0.25
                if sparse:
                    level = rng.uniform(0.5, 3)
                    mu = level * shape
                    p = rng.uniform(0.15, 0.45)
                    y = np.where(rng.random(total) < p, rng.poisson(mu / p), 0).astype(float)
                    if noise is not None:
                        y = np.where(noise.random(total) < p, noise.poisson(level * noise_shape / p), 0).astype(float)
                else:
                    level = np.exp(rng.uniform(np.log(2), np.log(60)))
                    mu = level * shape
                    r = rng.uniform(3, 30)
                    y = rng.negative_binomial(r, r / (r + mu)).astype(float)
                    if noise is not None:
                        mu = level * noise_shape
                        y = noise.negative_binomial(r, r / (r + mu)).astype(float)
                skus.append(sku)
                attributes[sku] = {"category": f"cat-{c}", "subcategory": f"cat-{c}/sub-{s}"}
                rows.append(y)
                intermittent.append(sparse)
    values = np.vstack(rows)
    return Suite(skus, attributes, values[:, :HISTORY_WEEKS], values[:, HISTORY_WEEKS:], np.asarray(intermittent))


def _bands(points: list[dict[str, Any]], levels: tuple[int, ...]) -> tuple[np.ndarray, dict[int, tuple]]:
    mean = np.array([p["mean"] for p in points])
    bands = {
        lv: (np.array([p[f"lo_{lv}"] for p in points]), np.array([p[f"hi_{lv}"] for p in points])) for lv in levels
    }
    return mean, bands


@dataclass(frozen=True)
class Base:
    """One suite's base forecasts of every series (nodes first, S's row order), as the product
    makes them, with what reconciliation takes beside them."""

    structure: Any
    names: list[str]
    all_hist: np.ndarray
    all_test: np.ndarray
    mean: np.ndarray
    sigma: np.ndarray
    residuals: Any
    levels_pct: Any
    methods: list[str]
    engine_seconds: float
    spec: Any
    last: dt.date


def base_forecasts(suite: Suite) -> Base:
    """The engine's `forecast_batch` on every node's summed history and every SKU's, the run's
    spec; sigma from the bands and the service's residuals (`service_residuals`)."""
    from skucast.forecasting import reconciliation as rec
    from skucast.forecasting.engine import EngineConfig, ForecastSpec, SeriesInput, forecast_batch

    structure = rec.build_structure(LEVELS, suite.skus, suite.attributes)
    order = [suite.skus.index(s) for s in structure.skus]
    bottom_hist, bottom_test = suite.history[order], suite.test[order]
    all_hist = np.vstack([rec.aggregate(structure, bottom_hist), bottom_hist])
    all_test = np.vstack([rec.aggregate(structure, bottom_test), bottom_test])
    names = [n.node_id for n in structure.nodes] + list(structure.skus)
    last = START + dt.timedelta(weeks=HISTORY_WEEKS - 1)
    spec = ForecastSpec(horizon=TEST_WEEKS, frequency="W", as_of=last, backtest_windows=1)
    inputs = [SeriesInput(name, START, row, "W") for name, row in zip(names, all_hist, strict=True)]
    started = time.perf_counter()
    forecasts = forecast_batch(inputs, spec, EngineConfig())
    engine_seconds = time.perf_counter() - started
    failed = [f.sku for f in forecasts if f.error]
    if failed:
        raise RuntimeError(f"the engine failed on {failed[:5]}")
    levels_pct = spec.levels
    mean = np.zeros_like(all_test)
    bands = {lv: (np.zeros_like(all_test), np.zeros_like(all_test)) for lv in levels_pct}
    for i, f in enumerate(forecasts):
        m, b = _bands(f.forecast, levels_pct)
        mean[i] = m
        for lv in levels_pct:
            bands[lv][0][i], bands[lv][1][i] = b[lv]
    sigma = rec.sigma_from_bounds(mean, bands)
    residuals = service_residuals(structure, bottom_hist)
    return Base(
        structure,
        names,
        all_hist,
        all_test,
        mean,
        sigma,
        residuals,
        levels_pct,
        sorted({f.method for f in forecasts}),
        engine_seconds,
        spec,
        last,
    )


def service_residuals(structure: Any, bottom_hist: np.ndarray) -> Any:
    """The residuals the service's stage computes: from the SKUs' last 104 + 52 weeks, the nodes'
    histories summed from them (reconciliation.insample_residuals)."""
    from skucast.forecasting import reconciliation as rec

    tail = bottom_hist[:, -(rec.RESIDUAL_PERIODS + SEASON) :]
    return rec.insample_residuals(np.vstack([rec.aggregate(structure, tail), tail]))


def evaluate(suite: Suite) -> dict[str, Any]:
    """Base, MinTrace and bottom-up forecasts of every series of one suite, as the product makes
    them; MASE per series, by level."""
    from skucast.forecasting import reconciliation as rec
    from skucast.forecasting.engine import EngineConfig, ForecastSpec, SeriesInput, forecast_batch

    b = base_forecasts(suite)
    structure, names, all_hist, all_test = b.structure, b.names, b.all_hist, b.all_test
    mean, sigma, residuals, levels_pct, last = b.mean, b.sigma, b.residuals, b.levels_pct, b.last
    out = {"base": mean}
    used = {}
    for method in ("min_trace", "bottom_up"):
        got = rec.reconcile(structure, mean, sigma, method, levels_pct, residuals)
        out[method], used[method] = got.mean, got.method
    out.update(_variants(structure, mean, residuals))
    # mint_shrink's W as the product estimates it (errors 1..MINT_STEPS ahead), without the QP
    ahead = rec.ahead_residuals(residuals) if residuals else None
    out.update(_variants(structure, mean, ahead, {"shrink_free": ("mint_shrink", False)}))
    # Diagnostic: W from the engine's own errors instead of the seasonal-naive proxy - the engine's
    # forecasts of the last TEST_WEEKS weeks of history from the history before them (a holdout
    # the product does not keep per node).
    held = [SeriesInput(name, START, row[:-TEST_WEEKS], "W") for name, row in zip(names, all_hist, strict=True)]
    held_spec = ForecastSpec(
        horizon=TEST_WEEKS, frequency="W", as_of=last - dt.timedelta(weeks=TEST_WEEKS), backtest_windows=1
    )
    held_mean = np.vstack([[p["mean"] for p in f.forecast] for f in forecast_batch(held, held_spec, EngineConfig())])
    out.update(
        _variants(structure, mean, (all_hist[:, -TEST_WEEKS:], held_mean), {"engine_errors": ("mint_shrink", True)})
    )
    tags = structure.level_rows()
    scores: dict[str, dict[str, list[float]]] = {}
    for level in LEVEL_NAMES:
        rows = tags[level]
        scores[level] = {
            kind: [mase(all_hist[r], all_test[r], values[r], SEASON) for r in rows] for kind, values in out.items()
        }
    intermittent_rows = [
        structure.n_nodes + j for j, s in enumerate(structure.skus) if suite.intermittent[suite.skus.index(s)]
    ]
    scores["sku_intermittent"] = {
        kind: [mase(all_hist[r], all_test[r], values[r], SEASON) for r in intermittent_rows]
        for kind, values in out.items()
    }
    return {
        "scores": scores,
        "reconciliation": used,
        "series": len(names),
        "engine_seconds": b.engine_seconds,
        "base_methods": b.methods,
        "coherence_gap": rec.children_sum_gap(structure, out["min_trace"]),
    }


# Diagnostics, not the product: other MinTrace estimators of W on the same base forecasts and
# residuals (hierarchicalforecast directly), to see what the product's choice costs or gains.
VARIANTS = {
    "ols": ("ols", True),  # W = I: every series alike
    "wls_struct": ("wls_struct", True),  # W = diag(S 1): by how many SKUs a node sums
    "wls_var": ("wls_var", True),  # W = diag of the residual variances (what the product uses at scale)
}
# (and "shrink_free": the product's mint_shrink without the non-negativity QP, and "engine_errors":
# mint_shrink with W from the engine's own holdout errors; see evaluate)


def _variants(
    structure: Any, mean: np.ndarray, residuals: Any, variants: dict[str, tuple[str, bool]] = VARIANTS
) -> dict[str, np.ndarray]:
    import warnings

    from hierarchicalforecast.methods import MinTrace

    S = structure.S.toarray()
    got = {}
    for name, (estimator, nonnegative) in variants.items():
        kwargs = {"y_insample": residuals[0], "y_hat_insample": residuals[1]} if residuals else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            full = MinTrace(estimator, nonnegative=nonnegative).fit_predict(S=S, y_hat=mean, **kwargs)["mean"]
        got[f"v:{name}"] = S @ np.maximum(np.asarray(full)[structure.n_nodes :], 0.0)
    return got


def _evaluate_seed(seed: int, shape: dict[str, int]) -> dict[str, Any]:
    return evaluate(generate(seed, **shape))


def run(seeds: list[int], jobs: int = 1, **shape: int) -> dict[str, Any]:
    """The seeds' figures pooled in seed order (the same with any `jobs`: seeds are independent)."""
    pooled: dict[str, dict[str, list[float]]] = {}
    used: dict[str, list[str]] = {"min_trace": [], "bottom_up": []}
    series = 0
    gap = 0.0
    engine_seconds = 0.0
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs) as pool:
            results = list(pool.map(_evaluate_seed, seeds, [shape] * len(seeds)))
    else:
        results = [_evaluate_seed(seed, shape) for seed in seeds]
    for got in results:
        for level, kinds in got["scores"].items():
            for kind, values in kinds.items():
                pooled.setdefault(level, {}).setdefault(kind, []).extend(values)
        for method, name in got["reconciliation"].items():
            used[method].append(name)
        series += got["series"]
        gap = max(gap, got["coherence_gap"])
        engine_seconds += got["engine_seconds"]
    table = level_table(pooled)
    return {
        "seeds": seeds,
        "shape": shape,
        "series": series,
        "levels": table,
        "reconciliation": {k: sorted(set(v)) for k, v in used.items()},
        "coherence_gap": gap,
        "engine_seconds": round(engine_seconds, 1),
        "verdict": verdict(table),
    }


def level_table(pooled: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, Any]]:
    """Per level, MASE per series pooled over seeds -> each kind's mean and MinTrace's and
    bottom-up's change against base (hierarchy_api.py reads the product's answers the same way)."""
    table = {}
    for level, kinds in pooled.items():
        means = {kind: float(np.nanmean(values)) for kind, values in kinds.items()}
        table[level] = {
            "series": len(kinds["base"]),
            **{f"mase_{k}": round(v, 4) for k, v in means.items()},
            "min_trace_vs_base_pct": round(100 * (means["min_trace"] / means["base"] - 1), 2),
            "bottom_up_vs_base_pct": round(100 * (means["bottom_up"] / means["base"] - 1), 2),
            # Share of series where MinTrace beats base: not one lucky series moving a mean.
            "min_trace_wins": round(float(np.mean(np.asarray(kinds["min_trace"]) < np.asarray(kinds["base"]))), 3),
            "min_trace_better": int(np.sum(np.asarray(kinds["min_trace"]) < np.asarray(kinds["base"]))),
        }
    return table


def verdict(table: dict[str, dict[str, Any]]) -> dict[str, bool]:
    """#21's line: MinTrace below base at every upper level, the SKUs within +2 % MASE of base."""
    upper = all(table[lv]["mase_min_trace"] < table[lv]["mase_base"] for lv in ("total", "category", "subcategory"))
    return {"upper_levels_better": upper, "bottom_within_2pct": table["sku"]["min_trace_vs_base_pct"] <= 2.0}


def verdict_lines(v: dict[str, bool]) -> list[str]:
    """The verdicts against #21's accuracy line, as the reports print them."""
    return [
        "",
        f"- MinTrace better than base at every upper level: **{'yes' if v['upper_levels_better'] else 'no'}**",
        f"- SKU level within +2 % MASE of base: **{'yes' if v['bottom_within_2pct'] else 'no'}**",
    ]


def markdown(res: dict[str, Any]) -> str:
    lines = [
        f"Seeds {res['seeds']}, {res['series']} series in all "
        f"(reconciliation: {', '.join(res['reconciliation']['min_trace'])}; max children-sum gap "
        f"{res['coherence_gap']:.1e}).",
        "",
        "| level | series | MASE base | MASE MinTrace | MASE bottom-up "
        "| MinTrace vs base | bottom-up vs base | MinTrace wins |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level, row in res["levels"].items():
        lines.append(
            f"| {level} | {row['series']} | {row['mase_base']:.3f} | {row['mase_min_trace']:.3f} | "
            f"{row['mase_bottom_up']:.3f} | {row['min_trace_vs_base_pct']:+.1f} % | "
            f"{row['bottom_up_vs_base_pct']:+.1f} % | {100 * row['min_trace_wins']:.0f} % |"
        )
    variants = [k for k in next(iter(res["levels"].values())) if k.startswith("mase_v:")]
    if variants:
        lines += [
            "",
            "Diagnostic: other MinTrace estimators on the same base forecasts (MASE; not what the product runs):",
            "",
            "| level | base | product | " + " | ".join(v.removeprefix("mase_v:") for v in variants) + " |",
            "|---|---:|---:|" + "---:|" * len(variants),
        ]
        for level, row in res["levels"].items():
            cells = " | ".join(f"{row[v]:.3f}" for v in variants)
            lines.append(f"| {level} | {row['mase_base']:.3f} | {row['mase_min_trace']:.3f} | {cells} |")
    lines += verdict_lines(res["verdict"])
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one seed, a smaller hierarchy")
    parser.add_argument("--jobs", type=int, default=1, help="seeds evaluated in parallel processes")
    args = parser.parse_args()
    if args.quick:
        res = run([21], categories=2, subcategories=2, skus_per_subcategory=4)
    else:
        res = run(list(range(21, 21 + args.seeds)), jobs=args.jobs)
    write_report("hierarchy_accuracy", res, markdown(res))


if __name__ == "__main__":
    main()
