"""Rolling-origin backtest, per-SKU candidate selection and the final forecast, on one series.

Works on plain arrays at the run's frequency (no dates), so the accuracy bench can drive it with
competition data too. Window j (0 = most recent) trains on y[:n - (j+1)h] and tests on the next h.

Drivers (`Plan.exog`, see exog.py): the driver-aware candidates (`Plan.drivers`) see X alongside y;
window j trains on y[:o] and X[:o] and predicts with X[o:o+h] (o = n - (j+1)h), the final forecast
with the future block. An external candidate (a global model fitted elsewhere) brings its own
window forecasts by j; a missing one is a failed window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from skucast.forecasting.exog import (
    delift,
    deseason,
    fit_lift,
    lift_effects,
    linear_effects,
    references,
    relift,
    reseason,
    within_history,
)
from skucast.forecasting.intervals import (
    Bounds,
    conformal_bounds,
    held_out_multipliers,
    order_bounds,
    points_needed,
    scale_bounds,
    width_multipliers,
)
from skucast.forecasting.methods import (
    ENSEMBLE,
    ENSEMBLE_X,
    FALLBACK,
    METHODS,
    NATIVE_SEASON_MAX,
    SPARSE,
    Form,
    predict,
)
from skucast.forecasting.metrics import MetricSums, naive_scale

MIN_TRAIN = 6  # fewest periods a backtest window may train on
# Most backtest windows fitted only to calibrate native intervals (a 95% interval needs 19 points).
MAX_CALIBRATION_WINDOWS = 2


@dataclass(frozen=True)
class Exog:
    """A SKU's drivers as the driver-aware candidates see them."""

    X: np.ndarray  # (n, k) over the history y
    future: np.ndarray  # (horizon, k) over the forecast periods
    kinds: tuple[str, ...]
    # External candidates: name -> (final forecast over the horizon, {window j: its forecast}).
    external: Mapping[str, tuple[np.ndarray, Mapping[int, np.ndarray]]] = field(default_factory=dict)


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
    exog: Exog | None = None  # the SKU's usable drivers; None: history only
    drivers: tuple[str, ...] = ()  # driver-aware candidates (ENSEMBLE_X, regression methods, externals)
    driver_margin: float = 0.0  # share by which a driver-aware single must beat the anchor ensemble
    # Anchor selection on ENSEMBLE_X (else the driver-aware candidates only compete on their
    # backtest score against the history-only ensemble; bench/accuracy/REPORT.md "Drivers").
    driver_anchor: bool = True


@dataclass
class Outcome:
    method: str
    mean: np.ndarray
    bounds: Bounds
    metric_sums: MetricSums
    scores: dict[str, float | None]
    reason: str
    effects: np.ndarray | None = None  # (horizon, k): what each driver adds per period (exog.py)


@dataclass
class _Window:
    origin: int
    mean: np.ndarray
    bounds: Bounds | None
    form: Form | None = None
    effects: np.ndarray | None = None  # (h, k) per period and driver
    forms: dict[str, Form | None] | None = None  # ENSEMBLE_X: the forms its members chose


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


def _driver_x(plan: Plan, origin: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """X to train on and X over the h periods to predict, for a fit on y[:origin] (numeric
    drivers held within the range of that history: exog.within_history)."""
    ex = plan.exog
    assert ex is not None
    if origin >= ex.X.shape[0]:
        X, Xf = ex.X, ex.future[:h]
    else:
        X, Xf = ex.X[:origin], ex.X[origin : origin + h]
    return X, within_history(X, Xf, ex.kinds)


def _is_driver(name: str, plan: Plan) -> bool:
    if plan.exog is None:
        return False
    if name in plan.exog.external:
        return True
    has_x = plan.exog.X.shape[1] > 0
    return has_x and (name == ENSEMBLE_X or (name in METHODS and METHODS[name].coef is not None))


def _fit_lift(y: np.ndarray, X: np.ndarray, Xf: np.ndarray, plan: Plan, h: int, forms: dict) -> _Window | None:
    """ENSEMBLE_X: the class's candidates fitted on the history without the drivers' estimated
    lift, combined as auto combines them, the future lift put back (exog.py). A season longer
    than the candidates can fit (weekly data's year) is the lift regression's too: they fit the
    history without it, as non-seasonal models, and it is put back on their forecast."""
    assert plan.exog is not None
    lift = fit_lift(y, X, plan.exog.kinds, plan.season_length)
    if lift is None:
        return None
    base = delift(y, X, lift)
    long_season = plan.season_length > NATIVE_SEASON_MAX
    members_plan = replace(plan, season_length=1) if long_season else plan
    if long_season:
        base = deseason(base, lift)
    members = [_fit(c, base, members_plan, h, forms.get(c)) for c in plan.candidates]
    ok = [m for m in members if m is not None]
    comb = ok[0] if len(plan.candidates) == 1 and ok else _combine(members, plan.combination)
    if comb is None:
        return None

    def baseline(v: np.ndarray) -> np.ndarray:
        return reseason(v, lift, y.size) if long_season else v

    mean = baseline(comb.mean)
    bounds = None
    if comb.bounds is not None:
        bounds = {
            lv: (relift(baseline(lo), Xf, lift), relift(baseline(hi), Xf, lift)) for lv, (lo, hi) in comb.bounds.items()
        }
    chosen = {c: m.form for c, m in zip(plan.candidates, members, strict=True) if m is not None}
    return _Window(y.size, relift(mean, Xf, lift), bounds, None, lift_effects(mean, Xf, lift), chosen)


def _fit_driver(name: str, y: np.ndarray, plan: Plan, h: int, final: _Window | None, j: int | None) -> _Window | None:
    """A driver-aware candidate's fit on y (window j, or the final fit when j is None)."""
    assert plan.exog is not None
    if name in plan.exog.external:
        final_mean, windows = plan.exog.external[name]
        mean = final_mean if j is None else windows.get(j)
        if mean is None:
            return None
        mean = np.asarray(mean, dtype=np.float64)
        if mean.shape != (h,) or not np.all(np.isfinite(mean)):
            return None
        return _Window(y.size, np.maximum(mean, 0.0), None)
    X, Xf = _driver_x(plan, y.size, h)
    if name == ENSEMBLE_X:
        return _fit_lift(y, X, Xf, plan, h, (final.forms or {}) if final else {})
    ref = references(X, plan.exog.kinds)
    try:
        p = predict(name, y, h, plan.season_length, plan.levels, final.form if final else None, X - ref, Xf - ref)
    except Exception:  # one bad fit only drops this candidate/window
        return None
    effects = linear_effects(p.coef, Xf, ref) if p.coef is not None and p.coef.size == X.shape[1] else None
    return _Window(y.size, p.mean, p.bounds, p.form, effects)


def _fit_any(name: str, y: np.ndarray, plan: Plan, h: int, final: _Window | None, j: int | None) -> _Window | None:
    if _is_driver(name, plan):
        return _fit_driver(name, y, plan, h, final, j)
    return _fit(name, y, plan, h, final.form if final else None)


def _native(name: str, plan: Plan) -> bool:
    if name in METHODS:
        return METHODS[name].native
    if name == ENSEMBLE_X:
        return _all_native(plan)
    return False  # an external candidate: conformal intervals from its backtest errors


def _window_count(n: int, plan: Plan) -> int:
    wanted = plan.backtest_windows
    if wanted == 0 and (len(plan.candidates) > 1 or plan.ensemble or not _all_native(plan) or plan.drivers):
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


def _run_backtests(
    y: np.ndarray, plan: Plan, k: int, finals: dict[str, _Window | None], names: Sequence[str], runs: _Runs
) -> _Runs:
    """Each of `names`' backtest windows (added to `runs`); a searching method refits the form its
    final fit chose."""
    h = plan.horizon
    extra = 1 if (y.size - MIN_TRAIN) // h > k else 0  # one older window calibrates conformal bounds
    native_count = _calibration_windows(y.size, plan, k)
    for name in names:
        if name in runs.windows:
            continue
        count = native_count if _native(name, plan) else k + extra
        final = finals.get(name)
        wins = [_fit_any(name, y[: y.size - (j + 1) * h], plan, h, final, j) for j in range(count)]
        if not _native(name, plan):
            for j, w in enumerate(wins):
                if w is not None and j + 1 < len(wins):
                    w.bounds = _conformal(w.mean, y, wins[j + 1 :], plan)
        runs.windows[name] = wins
    if plan.ensemble and len(plan.candidates) > 1 and all(c in runs.windows for c in plan.candidates):
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
    return _all_native(plan) if name == ENSEMBLE else _native(name, plan)


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
        fits[name] = _fit_any(name, y, plan, plan.horizon, None, None)
    w = fits[name]
    if w is None:
        return None
    w = _Window(w.origin, w.mean, w.bounds, w.form, w.effects)
    if w.bounds is None:
        w.bounds = _conformal(w.mean, y, runs.windows.get(name, []), plan)
    return w


def rank(
    scores: dict[str, float | None],
    ensemble_margin: float = 0.0,
    anchor: str = ENSEMBLE,
    margins: Mapping[str, float] | None = None,
) -> list[str]:
    """Scored candidates best first; ties go to the earlier candidate (deterministic).

    The anchor (the ensemble; for a SKU with drivers, the driver-aware ensemble) stays first
    unless a candidate beats its score by more than its margin (relative; `margins` per
    candidate, else `ensemble_margin`): one backtest window is a noisy judge, the ensemble is robust.
    """
    ranked = [name for _, _, name in sorted((s, i, n) for i, (n, s) in enumerate(scores.items()) if s is not None)]
    ens = scores.get(anchor)
    if ens is None or ranked[0] == anchor:
        return ranked
    for name in ranked:
        if name == anchor:
            break
        if scores[name] <= (1 - (margins or {}).get(name, ensemble_margin)) * ens:  # type: ignore[operator]
            ranked.remove(name)
            ranked.insert(0, name)
            return ranked
    ranked.remove(anchor)
    ranked.insert(0, anchor)
    return ranked


def _order(scores: dict[str, float | None], plan: Plan) -> list[str]:
    if not plan.drivers:
        return rank(scores, plan.ensemble_margin)
    if not plan.driver_anchor:
        return rank(scores, plan.ensemble_margin, ENSEMBLE, {d: 0.0 for d in plan.drivers})
    anchor = ENSEMBLE_X if scores.get(ENSEMBLE_X) is not None else ENSEMBLE
    margins = {d: plan.driver_margin for d in plan.drivers if d != anchor}
    return rank(scores, plan.ensemble_margin, anchor, margins)


def _anchor_cannot_lose(plan: Plan) -> bool:
    """Whether no history-only candidate can beat the driver-aware anchor: at a frequency whose
    ENSEMBLE_MARGIN is 100 % (W and M) one would need a backtest error of exactly zero. Fitting
    them (the final fit and every window) would then only fill their scores in `candidates`, at
    about half the SKU's cost, so they are fitted only if the anchor fails."""
    return plan.driver_anchor and ENSEMBLE_X in plan.drivers and plan.ensemble_margin >= 1.0


def _backtest(
    y: np.ndarray, plan: Plan, every_candidate: bool = False
) -> tuple[int, _Runs, float, dict[str, float | None], dict[str, _Window | None]]:
    """Full-history fits first (a searching method's chosen form is refitted in the windows),
    then the backtest windows and their scores: the driver-aware candidates alone while the
    anchor cannot lose, else (or when asked) every candidate."""
    k = _window_count(y.size, plan)
    fits: dict[str, _Window | None] = {}
    runs = _Runs()
    scores: dict[str, float | None] = {}
    scale = naive_scale(y[: y.size - k * plan.horizon], plan.season_length) or 1.0
    stages = [(*plan.candidates, *plan.drivers)]
    if _anchor_cannot_lose(plan) and not every_candidate:
        stages.insert(0, plan.drivers)
    for names in stages:
        for name in names:
            if name not in fits:
                fits[name] = _fit_any(name, y, plan, plan.horizon, None, None)
        _run_backtests(y, plan, k, fits, names, runs)
        scores = {name: _score(y, wins, k, plan, scale) for name, wins in runs.windows.items()}
        if fits.get(ENSEMBLE_X) is not None and scores.get(ENSEMBLE_X) is not None:
            break  # the anchor stands: nothing else can be chosen over it
    # (scores in the order the candidates were declared, as rank() breaks ties by that order)
    order = [*plan.candidates, *plan.drivers, ENSEMBLE]
    return k, runs, scale, {n: scores[n] for n in sorted(scores, key=order.index)}, fits


def run(y: np.ndarray, plan: Plan) -> Outcome:
    """Backtest the candidates, pick the best, forecast with it (falling back on failure)."""
    k, runs, scale, scores, fits = _backtest(y, plan)
    order = _order(scores, plan) or list(plan.candidates)
    for name in [*order, FALLBACK]:
        final = _final(name, y, plan, runs, fits)
        if final is not None:
            reason = _reason(name, order, scores, k, plan, fallback=name not in order)
            sums = _metric_sums(y, runs.windows.get(name, []), plan, scale if k else None, _scaled(name, plan))
            bounds = order_bounds(final.mean, final.bounds or {})
            return Outcome(name, final.mean, bounds, sums, scores, reason, final.effects)
    raise RuntimeError("every candidate and the fallback failed")


def candidate_forecasts(y: np.ndarray, plan: Plan) -> tuple[dict[str, float | None], dict[str, Outcome | None]]:
    """Every candidate's backtest score and final forecast, for the accuracy bench to compare
    selection, ensemble and single methods on the same fits."""
    _, runs, _, scores, fits = _backtest(y, plan, every_candidate=True)
    finals = {c: _final(c, y, plan, runs, fits) for c in (*plan.candidates, *plan.drivers)}
    if ENSEMBLE in runs.windows:
        finals[ENSEMBLE] = _final(ENSEMBLE, y, plan, runs, fits)
    out: dict[str, Outcome | None] = {}
    for name, w in finals.items():
        bounds = order_bounds(w.mean, w.bounds or {}) if w else {}
        out[name] = Outcome(name, w.mean, bounds, MetricSums(), scores, "", w.effects) if w else None
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
    if name == ENSEMBLE_X and order and order[0] == ENSEMBLE_X and scores.get(ENSEMBLE_X) is not None:
        others = [(v, n) for n, v in scores.items() if v is not None and n != ENSEMBLE_X]
        detail = f"; best other {min(others)[1]} {min(others)[0]:.3f} did not beat it by its margin" if others else ""
        return (
            f"ensemble_x ({plan.combination} of {', '.join(plan.candidates)} on the history without the drivers' "
            f"lift, the future lift added back) backtest {scores[ENSEMBLE_X]:.3f}{detail}"
        )
    if len(scores) <= 1:
        return f"{name} requested" if k else f"{name} requested; history too short to backtest"
    if k == 0 or scores.get(name) is None:
        return f"{name}: first default candidate for {plan.demand_class}, history too short to backtest"
    runner_up = next((o for o in order if o != name), None)
    detail = f", runner-up {runner_up} {scores[runner_up]:.3f}" if runner_up and scores.get(runner_up) else ""
    metric = "RMSE/scale" if plan.demand_class in SPARSE else "MASE"
    return f"{name} had the lowest backtest {metric} {scores[name]:.3f} over {k} window(s){detail}"
