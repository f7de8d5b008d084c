"""The floor of #21's "MinTrace better than base at the upper levels" on the hierarchy suite:
MinTrace with an oracle covariance. `python -m bench.accuracy.hierarchy_floor [--seeds 4]
[--replicates 30] [--quick]` writes bench/out/hierarchy_floor.{md,json}.

MinT (GLS) with the TRUE covariance W of the base forecasts' h-step errors, the base forecasts
unbiased, is never worse than base in expected squared error at any series. The product's W is
estimated from in-sample residuals (`hierarchy_suite.service_residuals`; seasonal naive when this
bench was first run, smoothed-level errors 1-4 steps ahead since); here W is the oracle's
instead, so the question is whether the target is reachable on this suite at all.

Per seed (the suite's parameters fixed), R replicate suites `generate(seed, noise_seed=10_000 *
seed + r)` - same seasons, trends, levels, dispersions, intermittent SKUs; new AR(1) shocks and
count draws - each forecast exactly as `hierarchy_suite.evaluate` makes its base forecasts
(`hierarchy_suite.base_forecasts`). Their errors e_r = test - base mean, (n_series, 13), give the
oracle W = the second-moment matrix over the R x 13 samples (not centred: the bias counts, as it
does in the scores). The seed's own suite (`generate(seed)`) is not among the replicates.

Reconciled with the oracle, P = (S' W^+ S)^-1 S' W^+ (W^+ the pseudo-inverse; the JSON keeps
W's condition number), reconciled = S P yhat:

- `oracle`: that, free; `oracle >= 0`: the bottom clipped at 0, then summed (the product's
  non-negativity, as hierarchy_suite's variants check it);
- `diag oracle >= 0`: W = diag of the oracle - what the error variances alone do;
- `shrunk oracle >= 0`: hierarchicalforecast's mint_shrink (Schaefer-Strimmer, centred) on the
  same replicate errors - the oracle errors with the estimator the product uses.

Scored two ways, MASE per series exactly as hierarchy_suite (seasonal naive lag 52), pooled:
1. on each seed's own suite (W from its R replicates): the brief's figure, but 1 total a seed;
2. leave one out over the replicates: replicate r reconciled with W from the other R - 1, so
   R suites a seed, the product's MinTrace run on each with its own residuals. Same forecasts,
   no extra engine time; the figure with the power to say something at the total.
Beside MASE: each kind's sum of squared errors against base's (MinT's own criterion).
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bench.accuracy.hierarchy_suite import LEVEL_NAMES, SEASON, Base, base_forecasts, generate, service_residuals
from bench.accuracy.report_files import write_report
from bench.accuracy.scoring import mase

KINDS = ("base", "product", "oracle", "oracle_nonneg", "diag_nonneg", "shrunk_nonneg")
LABELS = {
    "base": "base",
    "product": "product MinTrace",
    "oracle": "oracle MinT",
    "oracle_nonneg": "oracle MinT >= 0",
    "diag_nonneg": "diag oracle >= 0",
    "shrunk_nonneg": "shrunk oracle >= 0",
}
UPPER = ("total", "category")


CACHE = Path("/tmp/hierarchy_floor_cache")  # the engine's forecasts, ~25 s a suite; not the repo's


def noise_seed(seed: int, r: int) -> int:
    return 10_000 * seed + r


def cached_base(seed: int, noise: int | None, shape: dict[str, int]) -> Base:
    """base_forecasts of generate(seed, noise_seed=noise), kept in CACHE so reconciliation
    variants can be scored again without forecasting again. Only the engine's forecasts are
    worth caching: the residuals are made again on load, as the current product makes them."""
    key = CACHE / f"{seed}-{noise}-{'-'.join(f'{k}{v}' for k, v in sorted(shape.items()))}.pkl"
    if key.exists():
        with key.open("rb") as fh:
            got: Base = pickle.load(fh)  # our own file, written below
        bottom = got.all_hist[got.structure.n_nodes :]
        return dataclasses.replace(got, residuals=service_residuals(got.structure, bottom))
    b = base_forecasts(generate(seed, noise_seed=noise, **shape))
    CACHE.mkdir(parents=True, exist_ok=True)
    with key.open("wb") as fh:
        pickle.dump(b, fh)
    return b


def gls(S: np.ndarray, W: np.ndarray) -> np.ndarray:
    """MinT's P = (S' W^+ S)^-1 S' W^+ (bottom x all)."""
    Wi = np.linalg.pinv(W, hermitian=True)
    return np.asarray(np.linalg.solve(S.T @ Wi @ S, S.T @ Wi))


def second_moment(errors: list[np.ndarray]) -> np.ndarray:
    e = np.hstack(errors)  # (n_series, R x 13)
    return np.asarray(e @ e.T / e.shape[1])


def _shrunk(S: np.ndarray, mean: np.ndarray, tests: list[np.ndarray], means: list[np.ndarray]) -> np.ndarray:
    from hierarchicalforecast.methods import MinTrace

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = MinTrace("mint_shrink", nonnegative=False).fit_predict(
            S=S, y_hat=mean, y_insample=np.hstack(tests), y_hat_insample=np.hstack(means)
        )["mean"]
    return np.asarray(got)


def reconciled(b: Base, W: np.ndarray, tests: list[np.ndarray], means: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Every kind's forecasts of suite `b` with oracle W (and the errors W came from)."""
    from skucast.forecasting import reconciliation as rec

    S = b.structure.S.toarray()
    n = b.structure.n_nodes
    bottom = gls(S, W) @ b.mean
    diag = gls(S, np.diag(np.diag(W))) @ b.mean
    shrunk = _shrunk(S, b.mean, tests, means)[n:]
    product = rec.reconcile(b.structure, b.mean, b.sigma, "min_trace", b.levels_pct, b.residuals).mean
    return {
        "base": b.mean,
        "product": product,
        "oracle": S @ bottom,
        "oracle_nonneg": S @ np.maximum(bottom, 0.0),
        "diag_nonneg": S @ np.maximum(diag, 0.0),
        "shrunk_nonneg": S @ np.maximum(shrunk, 0.0),
    }


def score(b: Base, out: dict[str, np.ndarray], pooled: dict[str, dict[str, Any]]) -> None:
    """MASE per series (hierarchy_suite's scale) and squared errors, appended by level and kind."""
    for level, rows in b.structure.level_rows().items():
        into = pooled.setdefault(level, {"mase": {}, "sse": {}})
        for kind, values in out.items():
            into["mase"].setdefault(kind, []).extend(
                mase(b.all_hist[r], b.all_test[r], values[r], SEASON) for r in rows
            )
            into["sse"].setdefault(kind, []).extend(float(np.sum((b.all_test[r] - values[r]) ** 2)) for r in rows)


def run(seeds: list[int], replicates: int, on_seed: Any = None, **shape: int) -> dict[str, Any]:
    own: dict[str, dict[str, Any]] = {}
    loo: dict[str, dict[str, Any]] = {}
    conditions: dict[str, list[float]] = {"own": [], "loo": []}
    started = time.perf_counter()
    done: list[int] = []
    for seed in seeds:
        mine = cached_base(seed, None, shape)
        reps = [cached_base(seed, noise_seed(seed, r), shape) for r in range(replicates)]
        tests, means = [b.all_test for b in reps], [b.mean for b in reps]
        errors = [t - m for t, m in zip(tests, means, strict=True)]
        W = second_moment(errors)
        conditions["own"].append(float(np.linalg.cond(W)))
        score(mine, reconciled(mine, W, tests, means), own)
        for r, b in enumerate(reps):
            keep = [i for i in range(replicates) if i != r]
            W_r = second_moment([errors[i] for i in keep])
            conditions["loo"].append(float(np.linalg.cond(W_r)))
            score(b, reconciled(b, W_r, [tests[i] for i in keep], [means[i] for i in keep]), loo)
        done.append(seed)
        if on_seed:
            on_seed(_result(done, replicates, shape, own, loo, conditions, time.perf_counter() - started))
    return _result(done, replicates, shape, own, loo, conditions, time.perf_counter() - started)


def _result(
    seeds: list[int],
    replicates: int,
    shape: dict[str, int],
    own: dict[str, dict[str, Any]],
    loo: dict[str, dict[str, Any]],
    conditions: dict[str, list[float]],
    seconds: float,
) -> dict[str, Any]:
    tables = {"own": table(own), "loo": table(loo)}
    return {
        "seeds": seeds,
        "replicates": replicates,
        "noise_seeds": "10_000 * seed + r, r = 0..R-1",
        "shape": shape,
        "pinv": "numpy.linalg.pinv(W, hermitian=True) (the inverse when W has full rank)",
        "w_condition_max": {k: max(v) if v else None for k, v in conditions.items()},
        "tables": tables,
        "verdict": {name: verdict(t) for name, t in tables.items()},
        "seconds": round(seconds, 1),
    }


def error_structure(seeds: list[int], replicates: int, **shape: int) -> dict[str, Any]:
    """Why a shrunk oracle loses what the full one gains: per seed, the Schaefer-Strimmer
    intensity hierarchicalforecast's mint_shrink puts on the oracle errors (read off its shrunk
    W against the sample covariance), and how tightly the total's error follows the sum of the
    SKUs' errors (the near-collinear direction GLS leans on)."""
    from hierarchicalforecast.utils import _shrunk_covariance_schaferstrimmer_no_nans as shrink

    rows = {}
    for seed in seeds:
        reps = [cached_base(seed, noise_seed(seed, r), shape) for r in range(replicates)]
        e = np.hstack([b.all_test - b.mean for b in reps])
        n = reps[0].structure.n_nodes
        cov = np.cov(e)
        off = ~np.eye(len(cov), dtype=bool)
        sd = np.sqrt(np.diag(cov))
        skus = e[n:].sum(axis=0)
        rows[str(seed)] = {
            "shrink_intensity": round(float(1 - np.median(shrink(e, 2e-8)[off] / cov[off])), 3),
            "median_abs_correlation": round(float(np.median(np.abs(cov[off] / np.outer(sd, sd)[off]))), 3),
            "corr_total_vs_sku_sum": round(float(np.corrcoef(e[0], skus)[0, 1]), 3),
            "sd_total_error": round(float(e[0].std()), 1),
            "sd_sku_sum_error": round(float(skus.std()), 1),
            "sd_difference": round(float((e[0] - skus).std()), 1),
        }
    return {"seeds": seeds, "replicates": replicates, "per_seed": rows}


def structure_markdown(res: dict[str, Any]) -> str:
    lines = [
        f"# Hierarchy floor: the oracle errors' structure (seeds {res['seeds']}, R = {res['replicates']})",
        "",
        "| seed | shrink intensity | median abs correlation | corr(total error, sum of SKU errors) "
        "| sd total error | sd SKU-sum error | sd of their difference |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for seed, r in res["per_seed"].items():
        lines.append(
            f"| {seed} | {r['shrink_intensity']:.2f} | {r['median_abs_correlation']:.3f} | "
            f"{r['corr_total_vs_sku_sum']:.3f} | {r['sd_total_error']:.1f} | {r['sd_sku_sum_error']:.1f} | "
            f"{r['sd_difference']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def table(pooled: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for level in LEVEL_NAMES:
        if level not in pooled:
            continue
        m, sse = pooled[level]["mase"], pooled[level]["sse"]
        means = {k: float(np.nanmean(m[k])) for k in KINDS}
        base = np.asarray(m["base"])
        out[level] = {
            "series": len(base),
            **{f"mase_{k}": round(v, 4) for k, v in means.items()},
            **{f"{k}_vs_base_pct": round(100 * (means[k] / means["base"] - 1), 2) for k in KINDS if k != "base"},
            **{
                f"{k}_sse_vs_base_pct": round(100 * (sum(sse[k]) / sum(sse["base"]) - 1), 2)
                for k in KINDS
                if k != "base"
            },
            "oracle_better_on": int(np.sum(np.asarray(m["oracle"]) < base)),
        }
    return out


def verdict(t: dict[str, dict[str, Any]]) -> dict[str, bool]:
    """Oracle MinT (free, and with non-negativity) below base in MASE at the total and category."""
    return {
        k: all(t[lv][f"mase_{k}"] < t[lv]["mase_base"] for lv in UPPER if lv in t) for k in ("oracle", "oracle_nonneg")
    }


def markdown(res: dict[str, Any]) -> str:
    lines = [
        f"# Hierarchy floor: MinTrace with an oracle covariance (seeds {res['seeds']}, "
        f"R = {res['replicates']} replicates a seed, {res['seconds']:.0f} s)",
    ]
    titles = {
        "own": "Each seed's own suite, W from its R replicates",
        "loo": "Leave one out over the replicates, W from the other R - 1",
    }
    for name, t in res["tables"].items():
        lines += [
            "",
            f"## {titles[name]}",
            "",
            "| level | series | " + " | ".join(LABELS[k] for k in KINDS) + " | oracle vs base | "
            "oracle >= 0 vs base | oracle better on | oracle SSE vs base |",
            "|---|---:|" + "---:|" * (len(KINDS) + 4),
        ]
        for level, row in t.items():
            cells = " | ".join(f"{row[f'mase_{k}']:.3f}" for k in KINDS)
            lines.append(
                f"| {level} | {row['series']} | {cells} | {row['oracle_vs_base_pct']:+.1f} % | "
                f"{row['oracle_nonneg_vs_base_pct']:+.1f} % | {row['oracle_better_on']} of {row['series']} | "
                f"{row['oracle_sse_vs_base_pct']:+.1f} % |"
            )
        v = res["verdict"][name]
        lines += [
            "",
            f"- oracle MinT better than base at total and category: **{'yes' if v['oracle'] else 'no'}**"
            f" (with non-negativity: **{'yes' if v['oracle_nonneg'] else 'no'}**)",
        ]
    cond = res["w_condition_max"]
    lines += ["", f"Largest condition number of W: own {cond['own']:.1e}, leave-one-out {cond['loo']:.1e}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4, help="seeds 21, 22, ...")
    parser.add_argument("--replicates", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="one seed, 3 replicates, a smaller hierarchy")
    parser.add_argument("--structure", action="store_true", help="only the oracle errors' structure (cached)")
    args = parser.parse_args()
    if args.structure:
        got = error_structure(list(range(21, 21 + args.seeds)), args.replicates)
        write_report("hierarchy_floor_structure", got, structure_markdown(got))
        return

    def save(res: dict[str, Any]) -> None:  # after every seed: a long run leaves what it has
        write_report("hierarchy_floor", res, markdown(res))

    if args.quick:
        run([21], 3, on_seed=save, categories=2, subcategories=2, skus_per_subcategory=4)
    else:
        run(list(range(21, 21 + args.seeds)), args.replicates, on_seed=save)


if __name__ == "__main__":
    main()
