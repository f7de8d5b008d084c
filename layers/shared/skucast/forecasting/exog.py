"""Drivers as regressors for one SKU: align its features with its history and horizon, and the
"baseline + lift" model that the driver-aware candidates share.

Alignment (`align`), at the run's frequency:
- Rows of X are the periods of the history the engine fits (after max_history trimming): the
  y.size periods ending at `first` - 1. Rows of the future block are the periods from `first`
  on (the unknown gap `skip` included, then the horizon).
- Per-SKU models use only features known in advance (drivers declared so, and the calendar): a
  model cannot be given a driver's value for a period nobody knows yet.
- A numeric driver's missing history periods carry the last value forward (back-filled before
  its first value); a numeric driver with no value at all in the history is dropped.
- A flag's, a holiday's or an event's missing period is 0 (off), history and future alike.
- A feature constant over the history is dropped: nothing to estimate its effect from.
- A numeric driver's future value beyond the range its history supports (its values' range widened
  by its width on each side) is held at the nearest supported value (`within_history`), with a
  per-SKU warning `driver_out_of_range`.
- A known-in-advance driver (numeric or flag) without a value for some future period gets a
  per-SKU warning `driver_future_missing` saying what was assumed: the last known value carried
  forward (numeric) or 0, off (flag). The calendar lists its days: a period it does not list has
  no holiday or event, so a calendar gap is not a warning.

Baseline + lift (`fit_lift`): log(1 + y) = intercept + linear trend + K Fourier pairs of the season
(when the history holds two seasons) + sum_f beta_f (x_f - ref_f), by least squares; K from 0 to
FOURIER_TERMS[season] by least AICc (a smooth season takes a pair or two, a peaked one more; no
season, none). ref_f is 0 for flags and calendar features and the history mean for numeric drivers
(a price's effect is what its deviation from its usual level does). The multiplicative form matches
how promotions (an uplift in %) and prices (constant elasticity) act. `delift` takes the estimated
lift out of the history (the baseline the usual candidates then fit, no longer polluted by
promotion spikes); `relift` puts the future drivers' lift back on a baseline forecast. `deseason` /
`reseason` do the same with the fitted season, for seasons too long for the usual candidates to fit
(backtest.py). A feature's effect per period is the forecast minus the forecast without that
feature (the others as they are), the same definition the accuracy bench uses for the true effect.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from skucast.forecasting.periods import next_period

CALENDAR_KINDS = ("holiday", "event")
# Fewest history periods, beyond the regression's parameters, to estimate driver effects from.
MIN_DOF = 12
# Most Fourier pairs fit_lift tries per season length (AICc picks how many of them it keeps).
FOURIER_TERMS = {52: 5, 12: 4, 7: 3}


@dataclass(frozen=True)
class Design:
    """A SKU's usable features: X over its history, `future` over the periods after it."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    X: np.ndarray  # (n, k)
    future: np.ndarray  # (periods after the history, k)


def _warning(name: str, kind: str, missing: list[dt.date], assumed: float) -> dict:
    what = f"the last known value {assumed:g} carried forward" if kind == "numeric" else "0 (off)"
    first = missing[0].isoformat()
    return {
        "code": "driver_future_missing",
        "message": f"Driver {name!r} has no value for {len(missing)} forecast period(s) from {first}; assumed {what}.",
    }


def _out_of_range(name: str, dates: list[dt.date], future: np.ndarray, low: float, high: float) -> dict | None:
    """A warning when a numeric driver's future leaves the range its history supports (within_history)."""
    outside = np.flatnonzero((future < low) | (future > high))
    if outside.size == 0:
        return None
    furthest = future[outside][np.argmax(np.maximum(low - future[outside], future[outside] - high))]
    return {
        "code": "driver_out_of_range",
        "message": (
            f"Driver {name!r} is beyond what this SKU's history supports ({low:g} to {high:g}: its values' "
            f"range, widened by its width) in {outside.size} forecast period(s) from "
            f"{dates[outside[0]].isoformat()} (up to {furthest:g}); its effect there is the one at the nearest "
            "supported value."
        ),
    }


def supported_range(history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The values a numeric driver's effect may be taken at: its history's range widened by that
    range's own width on each side. A coefficient is trusted about as far beyond the values it
    was estimated from as they spread; one estimated from small moves (a price that changed by
    cents) would multiply demand without bound if extrapolated to a large one."""
    low, high = history.min(axis=0), history.max(axis=0)
    return low - (high - low), high + (high - low)


def within_history(X: np.ndarray, X_future: np.ndarray, kinds: tuple[str, ...]) -> np.ndarray:
    """X_future with each numeric driver held inside the range its history X supports."""
    numeric = np.array([kind == "numeric" for kind in kinds], dtype=bool)
    if not numeric.any() or X.shape[0] == 0:
        return X_future
    held = X_future.copy()
    held[:, numeric] = np.clip(X_future[:, numeric], *supported_range(X[:, numeric]))
    return held


def _fill_numeric(raw: np.ndarray) -> np.ndarray | None:
    """Carry the last value forward, back-fill before the first; None when there is none."""
    seen = np.flatnonzero(np.isfinite(raw))
    if seen.size == 0:
        return None
    idx = np.maximum.accumulate(np.where(np.isfinite(raw), np.arange(raw.size), -1))
    idx[idx < 0] = seen[0]
    return raw[idx]


def align(
    values: dict, kinds: dict, known: frozenset[str], n: int, first: dt.date, frequency: str, ahead: int
) -> tuple[Design | None, list[dict]]:
    """(the design of the usable features or None, per-SKU warnings). `values`: feature -> period
    start ISO -> value; `n` history periods end at `first` - 1; `ahead` periods follow it."""
    if n == 0:
        return None, []
    dates = [next_period(first, frequency, i - n) for i in range(n + ahead)]
    keys = [d.isoformat() for d in dates]
    names, used_kinds, cols, warnings = [], [], [], []
    for name in sorted(values):
        if name not in known:
            continue
        kind = kinds.get(name, "numeric")
        by_date = values[name]
        raw = np.array([float(by_date.get(k, np.nan)) for k in keys])
        if kind == "numeric":
            col = _fill_numeric(raw)
            if col is None:
                continue
        else:
            col = np.where(np.isfinite(raw), raw, 0.0)
        hist = col[:n]
        if np.ptp(hist) == 0:
            continue
        gaps = np.flatnonzero(~np.isfinite(raw[n:]))
        if gaps.size and kind not in CALENDAR_KINDS:
            warnings.append(_warning(name, kind, [dates[n + i] for i in gaps], float(col[n + gaps[0]])))
        if kind == "numeric":
            low, high = supported_range(hist)
            outside = _out_of_range(name, dates[n:], col[n:], float(low), float(high))
            warnings += [outside] if outside else []
        names.append(name)
        used_kinds.append(kind)
        cols.append(col)
    if not cols:
        return None, warnings
    full = np.column_stack(cols)
    return Design(tuple(names), tuple(used_kinds), full[:n], full[n:]), warnings


@dataclass(frozen=True)
class Lift:
    beta: np.ndarray  # (k,) effect of one unit of (x - ref) on log(1 + y)
    ref: np.ndarray  # (k,)
    # The fitted season: coefficients of the Fourier pairs (sin, cos) 1..K on log(1 + y).
    season: np.ndarray = field(default_factory=lambda: np.zeros(0))
    season_length: int = 1


def _fourier(start: int, stop: int, season_length: int, pairs: int) -> np.ndarray:
    """Fourier pairs 1..`pairs` of the season over periods start..stop - 1: (periods, 2 x pairs)."""
    t = np.arange(start, stop, dtype=np.float64)
    cols = []
    for k in range(1, pairs + 1):
        cols += [np.sin(2 * np.pi * k * t / season_length), np.cos(2 * np.pi * k * t / season_length)]
    return np.column_stack(cols) if cols else np.zeros((t.size, 0))


def _design(n: int, season_length: int, pairs: int, drivers: np.ndarray) -> np.ndarray:
    t = np.arange(n, dtype=np.float64)
    return np.column_stack([np.ones(n), t / max(n, 1), _fourier(0, n, season_length, pairs), drivers])


def _aicc(z: np.ndarray, design: np.ndarray) -> tuple[float, np.ndarray]:
    coef, *_ = np.linalg.lstsq(design, z, rcond=None)
    n, p = design.shape[0], design.shape[1] + 1  # + the residual variance
    rss = max(float(np.sum((z - design @ coef) ** 2)), 1e-12)
    return n * np.log(rss / n) + 2 * p + 2 * p * (p + 1) / max(n - p - 1, 1), coef


def references(X: np.ndarray, kinds: tuple[str, ...]) -> np.ndarray:
    return np.array([X[:, i].mean() if kind == "numeric" else 0.0 for i, kind in enumerate(kinds)])


def fit_lift(y: np.ndarray, X: np.ndarray, kinds: tuple[str, ...], season_length: int) -> Lift | None:
    """Least-squares driver coefficients and season on log(1 + y); None when the history is too
    short to support them. A feature constant over this stretch of history (a backtest window
    before the first price change) gets no effect here."""
    n, k = X.shape
    varies = np.ptp(X, axis=0) > 0 if n else np.zeros(k, dtype=bool)
    most = FOURIER_TERMS.get(season_length, 3) if season_length > 1 and n >= 2 * season_length else 0
    if n < 2 + 2 * most + int(varies.sum()) + MIN_DOF:
        return None
    ref = references(X, kinds)
    drivers = (X - ref)[:, varies]
    z = np.log1p(np.maximum(y, 0.0))
    fits = [(*_aicc(z, _design(n, season_length, pairs, drivers)), pairs) for pairs in range(most + 1)]
    _, coef, pairs = min(fits, key=lambda fit: fit[0])
    beta = np.zeros(k)
    beta[varies] = coef[2 + 2 * pairs :]
    if not np.all(np.isfinite(beta)):
        return None
    return Lift(beta, ref, coef[2 : 2 + 2 * pairs], season_length)


def log_lift(X: np.ndarray, lift: Lift) -> np.ndarray:
    """Each feature's contribution to log(1 + y) per period: (periods, k)."""
    return (X - lift.ref) * lift.beta


def _scaled(v: np.ndarray, log_change: np.ndarray) -> np.ndarray:
    """v moved by log_change on the log(1 + y) scale (never negative)."""
    return np.maximum((1.0 + v) * np.exp(log_change) - 1.0, 0.0)


def delift(y: np.ndarray, X: np.ndarray, lift: Lift) -> np.ndarray:
    """The history without the drivers' estimated lift (never negative)."""
    return _scaled(y, -log_lift(X, lift).sum(axis=1))


def relift(base: np.ndarray, X_future: np.ndarray, lift: Lift) -> np.ndarray:
    """A baseline forecast with the future drivers' lift put back (never negative)."""
    return _scaled(base, log_lift(X_future, lift).sum(axis=1))


def season(lift: Lift, start: int, stop: int) -> np.ndarray:
    """The fitted season's part of log(1 + y) over periods start..stop - 1 (0: the history's first)."""
    pairs = lift.season.size // 2
    return _fourier(start, stop, lift.season_length, pairs) @ lift.season if pairs else np.zeros(stop - start)


def deseason(y: np.ndarray, lift: Lift) -> np.ndarray:
    """The history (periods 0..n - 1) without the fitted season."""
    return _scaled(y, -season(lift, 0, y.size))


def reseason(forecast: np.ndarray, lift: Lift, start: int) -> np.ndarray:
    """A forecast of periods start.. with the fitted season put back."""
    return _scaled(forecast, season(lift, start, start + forecast.size))


def lift_effects(base: np.ndarray, X_future: np.ndarray, lift: Lift) -> np.ndarray:
    """Per period and feature (h, k): the forecast minus the forecast without that feature."""
    parts = log_lift(X_future, lift)
    total = (1.0 + np.maximum(base, 0.0)) * np.exp(parts.sum(axis=1))
    return total[:, None] * (1.0 - np.exp(-parts))


def linear_effects(coef: np.ndarray, X_future: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per period and feature (h, k) for a model additive in its regressors: coefficient x
    (value - reference)."""
    return (X_future - ref) * coef
