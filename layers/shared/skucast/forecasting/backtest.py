"""Rolling-origin backtest, per-SKU candidate selection and the final forecast, on one series.

Works on plain arrays at the run's frequency (no dates), so the accuracy bench can drive it with
competition data too. Window j (0 = most recent) trains on y[:n - (j+1)h] and tests on the next h.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from skucast.forecasting.intervals import (
    Bounds,
    conformal_bounds,
    held_out_multipliers,
    order_bounds,
    points_needed,
    scale_bounds,
    width_multipliers,
)
from skucast.forecasting.methods import ENSEMBLE, FALLBACK, METHODS, SPARSE, Form, predict
from skucast.forecasting.metrics import MetricSums, naive_scale

MIN_TRAIN = 6  # fewest periods a backtest window may train on
# Most backtest windows fitted only to calibrate native intervals (a 95% interval needs 19 points).
MAX_CALIBRATION_WINDOWS = 2


@dataclass(frozen=True)
class Plan:
    """What to run for one series."""

    horizon: int
    season_length: int
    levels: tuple[int, ...]
    candidates: tuple[str, ...]
    ensemble: bool  # add the median of the candidates as one more candidate
    backtest_windows: int  # windows reported in the metrics
    demand_class: str = "smooth"
    ensemble_margin: float = 0.0  # a single method must beat the ensemble's score by this share
    combination: str = "median"  # how the ensemble combines its members' forecasts: median | mean
    conformal: bool = True  # calibrate native intervals at the conformal quantile (else the empirical one)


@dataclass
class Outcome:
    method: str
    mean: np.ndarray
    bounds: Bounds
    metric_sums: MetricSums
    scores: dict[str, float | None]
    reason: str


@dataclass
class _Window:
    origin: int
    mean: np.ndarray
    bounds: Bounds | None
    form: Form | None = None


@dataclass
class _Runs:
    """Backtest forecasts per candidate, windows ordered most recent first (None = failed)."""

    windows: dict[str, list[_Window | None]] = field(default_factory=dict)


def _fit(name: str, y: np.ndarray, plan: Plan, h: int, form: Form | None = None) -> _Window | None:
    try:
        p = predict(name, y, h, plan.season_length, plan.levels, form)
    except Exception:  # one bad fit only drops this candidate/window
        return None
    return _Window(y.size, p.mean, p.bounds, p.form)


def _window_count(n: int, plan: Plan) -> int:
    wanted = plan.backtest_windows
    if wanted == 0 and (len(plan.candidates) > 1 or plan.ensemble or not _all_native(plan)):
        wanted = 1  # selection and conformal calibration need one window even if none is reported
    return max(0, min(wanted, (n - MIN_TRAIN) // plan.horizon))


def _all_native(plan: Plan) -> bool:
    return all(METHODS[c].native for c in plan.candidates)


def _errors(y: np.ndarray, windows: Sequence[_Window | None], h: int) -> np.ndarray:
    parts = [y[w.origin : w.origin + h] - w.mean for w in windows if w is not None]
    return np.concatenate(parts) if parts else np.empty(0)


def _conformal(mean: np.ndarray, y: np.ndarray, windows: Sequence[_Window | None], plan: Plan) -> Bounds:
    """Conformal bounds from the windows' errors: ratios actual/forecast for sparse demand (zeros stay
    zeros), residuals otherwise or when a forecast is zero (a ratio cannot scale zero)."""
    h = plan.horizon
    done = [w for w in windows if w is not None]
    if plan.demand_class in SPARSE and np.all(mean > 0) and done and all(np.all(w.mean > 0) for w in done):
        ratios = np.concatenate([y[w.origin : w.origin + h] / w.mean for w in done])
        return conformal_bounds(mean, ratios, plan.levels, ratio=True)
    errors = _errors(y, done, h)
    if errors.size == 0:  # no backtest: crude calibration on deviations from the recent level
        recent = y[-2 * h :]
        errors = recent - recent.mean()
    return conformal_bounds(mean, errors, plan.levels)


def _calibration_windows(n: int, plan: Plan, k: int) -> int:
    """Backtest windows for a native-interval method: the k scored ones, or as many as calibrating
    the widest level needs (bounded, and as the history allows)."""
    needed = math.ceil(max((points_needed(lv) for lv in plan.levels), default=0) / plan.horizon)
    return max(k, min(needed, MAX_CALIBRATION_WINDOWS, (n - MIN_TRAIN) // plan.horizon))


def _run_backtests(y: np.ndarray, plan: Plan, k: int, finals: dict[str, _Window | None]) -> _Runs:
    """Each candidate's backtest windows; a searching method refits the form its final fit chose."""
    runs = _Runs()
    h = plan.horizon
    extra = 1 if (y.size - MIN_TRAIN) // h > k else 0  # one older window calibrates conformal bounds
    native_count = _calibration_windows(y.size, plan, k)
    for name in plan.candidates:
        count = native_count if METHODS[name].native else k + extra
        final = finals.get(name)
        form = final.form if final else None
        wins = [_fit(name, y[: y.size - (j + 1) * h], plan, h, form) for j in range(count)]
        if not METHODS[name].native:
            for j, w in enumerate(wins):
                if w is not None and j + 1 < len(wins):
                    w.bounds = _conformal(w.mean, y, wins[j + 1 :], plan)
        runs.windows[name] = wins
    if plan.ensemble and len(plan.candidates) > 1:
        count = max(len(runs.windows[c]) for c in plan.candidates)
        runs.windows[ENSEMBLE] = [
            _combine([_at(runs.windows[c], j) for c in plan.candidates], plan.combination) for j in range(count)
        ]
    return runs


def _at(windows: Sequence[_Window | None], j: int) -> _Window | None:
    return windows[j] if j < len(windows) else None


def _combine(members: Sequence[_Window | None], how: str = "median") -> _Window | None:
    """Median or mean of the member forecasts that succeeded (at least two: a member that failed or
    gave non-finite values never reaches the ensemble); bounds averaged (quantile averaging) when
    all of them have bounds."""
    ok = [m for m in members if m is not None]
    if len(ok) < 2:
        return None
    stacked = np.stack([m.mean for m in ok])
    mean = np.mean(stacked, axis=0) if how == "mean" else np.median(stacked, axis=0)
    bounds = None
    if all(m.bounds is not None for m in ok):
        levels = ok[0].bounds.keys() if ok[0].bounds else ()
        bounds = {
            lv: (
                np.mean([m.bounds[lv][0] for m in ok if m.bounds], axis=0),
                np.mean([m.bounds[lv][1] for m in ok if m.bounds], axis=0),
            )
            for lv in levels
        }
    return _Window(ok[0].origin, mean, bounds)


def _score(y: np.ndarray, wins: Sequence[_Window | None], k: int, plan: Plan, scale: float) -> float | None:
    """Backtest score: MASE, or RMSE/scale for sparse demand (MAE rewards forecasting zero)."""
    used = wins[:k]
    if k == 0 or any(w is None for w in used):
        return None
    err = _errors(y, used, plan.horizon)
    if plan.demand_class in SPARSE:
        return float(np.sqrt(np.mean(err**2)) / scale)
    return float(np.mean(np.abs(err)) / scale)


def _final(name: str, y: np.ndarray, plan: Plan, runs: _Runs, fits: dict[str, _Window | None]) -> _Window | None:
    """`name`'s forecast from the full history with calibrated bounds: conformal bounds from the
    backtest errors where the method has none of its own; its own bounds scaled to what its
    backtest windows needed (see intervals.width_multipliers) where it has."""
    if name == ENSEMBLE:
        w = _combine([_final_fit(c, y, plan, runs, fits) for c in plan.candidates], plan.combination)
    else:
        w = _final_fit(name, y, plan, runs, fits)
    if w is not None and w.bounds is not None and _scaled(name, plan):
        windows = _calibration_points(y, runs.windows.get(name, []), plan.horizon)
        w.bounds = scale_bounds(w.mean, w.bounds, width_multipliers(windows, plan.levels, plan.conformal))
    return w


def _scaled(name: str, plan: Plan) -> bool:
    """Whether `name`'s intervals are its models' own, scaled by backtest errors (else conformal)."""
    return _all_native(plan) if name == ENSEMBLE else METHODS[name].native


def _calibration_points(y: np.ndarray, windows: Sequence[_Window | None], h: int) -> list[tuple]:
    """(actual, forecast, bounds) of each backtest window that has bounds, most recent first."""
    return [(y[v.origin : v.origin + h], v.mean, v.bounds) for v in windows if v is not None and v.bounds is not None]


def _held_out_bounds(window: tuple, older: list[tuple], plan: Plan) -> Bounds:
    """A backtest window's bands as the run ships them: each point's band scaled by the multipliers
    the shipped rule draws from every other backtest point (the window's others first, then older
    windows), so the coverage a run reports is that of the intervals it ships, on points their
    calibration did not see."""
    _, mean, bounds = window
    return scale_bounds(mean, bounds, held_out_multipliers(window, older, plan.levels, plan.conformal))


def _final_fit(name: str, y: np.ndarray, plan: Plan, runs: _Runs, fits: dict[str, _Window | None]) -> _Window | None:
    """One method's full-history fit (made once per run), with conformal bounds if it has none."""
    if name not in fits:
        fits[name] = _fit(name, y, plan, plan.horizon)
    w = fits[name]
    if w is None:
        return None
    w = _Window(w.origin, w.mean, w.bounds, w.form)
    if w.bounds is None:
        w.bounds = _conformal(w.mean, y, runs.windows.get(name, []), plan)
    return w


def rank(scores: dict[str, float | None], ensemble_margin: float = 0.0) -> list[str]:
    """Scored candidates best first; ties go to the earlier candidate (deterministic).

    The ensemble stays first unless a single method beats its score by more than
    `ensemble_margin` (relative): one backtest window is a noisy judge, the median is robust.
    """
    ranked = [name for _, _, name in sorted((s, i, n) for i, (n, s) in enumerate(scores.items()) if s is not None)]
    ens = scores.get(ENSEMBLE)
    if ens is not None and ranked[0] != ENSEMBLE and scores[ranked[0]] > (1 - ensemble_margin) * ens:  # type: ignore[operator]
        ranked.remove(ENSEMBLE)
        ranked.insert(0, ENSEMBLE)
    return ranked


def _backtest(
    y: np.ndarray, plan: Plan
) -> tuple[int, _Runs, float, dict[str, float | None], dict[str, _Window | None]]:
    """Full-history fits first (a searching method's chosen form is refitted in the windows),
    then the backtest windows and their scores."""
    fits = {name: _fit(name, y, plan, plan.horizon) for name in plan.candidates}
    k = _window_count(y.size, plan)
    runs = _run_backtests(y, plan, k, fits)
    scale = naive_scale(y[: y.size - k * plan.horizon], plan.season_length) or 1.0
    scores = {name: _score(y, wins, k, plan, scale) for name, wins in runs.windows.items()}
    return k, runs, scale, scores, fits


def run(y: np.ndarray, plan: Plan) -> Outcome:
    """Backtest the candidates, pick the best, forecast with it (falling back on failure)."""
    k, runs, scale, scores, fits = _backtest(y, plan)
    order = rank(scores, plan.ensemble_margin) or list(plan.candidates)
    for name in [*order, FALLBACK]:
        final = _final(name, y, plan, runs, fits)
        if final is not None:
            reason = _reason(name, order, scores, k, plan, fallback=name not in order)
            sums = _metric_sums(y, runs.windows.get(name, []), plan, scale if k else None, _scaled(name, plan))
            bounds = order_bounds(final.mean, final.bounds or {})
            return Outcome(name, final.mean, bounds, sums, scores, reason)
    raise RuntimeError("every candidate and the fallback failed")


def candidate_forecasts(y: np.ndarray, plan: Plan) -> tuple[dict[str, float | None], dict[str, Outcome | None]]:
    """Every candidate's backtest score and final forecast, for the accuracy bench to compare
    selection, ensemble and single methods on the same fits."""
    _, runs, _, scores, fits = _backtest(y, plan)
    finals = {c: _final(c, y, plan, runs, fits) for c in plan.candidates}
    if ENSEMBLE in runs.windows:
        finals[ENSEMBLE] = _final(ENSEMBLE, y, plan, runs, fits)
    out: dict[str, Outcome | None] = {}
    for name, w in finals.items():
        bounds = order_bounds(w.mean, w.bounds or {}) if w else {}
        out[name] = Outcome(name, w.mean, bounds, MetricSums(), scores, "") if w else None
    return scores, out


def _metric_sums(
    y: np.ndarray, wins: Sequence[_Window | None], plan: Plan, scale: float | None, scaled: bool = False
) -> MetricSums:
    """Metrics of the reported windows; coverage of the bands as shipped (scaled ones held out)."""
    total = MetricSums()
    for j, w in enumerate(wins[: plan.backtest_windows]):  # the reported windows, not the calibration-only ones
        if w is None:
            continue
        actual = y[w.origin : w.origin + plan.horizon]
        bounds = w.bounds
        if bounds and scaled:
            older = _calibration_points(y, wins[j + 1 :], plan.horizon)
            bounds = _held_out_bounds((actual, w.mean, bounds), older, plan)
        bounds = order_bounds(w.mean, bounds) if bounds else None
        total = total + MetricSums.from_points(actual, w.mean, scale, bounds)
    return total


def _reason(name: str, order: list[str], scores: dict[str, float | None], k: int, plan: Plan, fallback: bool) -> str:
    if fallback:
        return f"fallback {name}: every candidate failed to fit"
    if plan.demand_class == "inactive" and name == "zero":
        return "inactive: no demand in the recent window, forecasting zero"
    if name == ENSEMBLE and order and order[0] == ENSEMBLE and scores.get(ENSEMBLE) is not None:
        best = min((v, n) for n, v in scores.items() if v is not None and n != ENSEMBLE)
        return (
            f"ensemble ({plan.combination} of {', '.join(plan.candidates)}) backtest {scores[ENSEMBLE]:.3f}; "
            f"best single {best[1]} {best[0]:.3f} did not beat it by {plan.ensemble_margin:.0%}"
        )
    if len(scores) <= 1:
        return f"{name} requested" if k else f"{name} requested; history too short to backtest"
    if k == 0 or scores.get(name) is None:
        return f"{name}: first default candidate for {plan.demand_class}, history too short to backtest"
    runner_up = next((o for o in order if o != name), None)
    detail = f", runner-up {runner_up} {scores[runner_up]:.3f}" if runner_up and scores.get(runner_up) else ""
    metric = "RMSE/scale" if plan.demand_class in SPARSE else "MASE"
    return f"{name} had the lowest backtest {metric} {scores[name]:.3f} over {k} window(s){detail}"
