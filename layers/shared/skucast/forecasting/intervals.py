"""Prediction intervals: conformal bounds from backtest errors, and the ordering guarantees.

Conformal: add the signed backtest errors (actual - forecast) of the same method to each forecast
step, clip the resulting scenarios at zero and take the SHORTEST interval holding
ceil(level/100 * (n + 1)) of them. With a spike of zeros (intermittent demand) the shortest
interval starts at 0 and the whole miss budget goes to the upper tail, which a central interval
would halve; for symmetric errors it is the central interval.
Sparse-demand methods use RATIO errors (actual / forecast): a zero actual stays an exact zero
scenario whatever the current forecast level, where an additive error would turn it into a small
positive scenario and push the lower bound above the zeros.
Errors are pooled over horizon steps: intermittent forecasts are flat and their error is
dominated by demand noise, not by the step, and 1-2 backtest windows hold too few errors per step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

Bounds = dict[int, tuple[np.ndarray, np.ndarray]]


def conformal_bounds(mean: np.ndarray, errors: np.ndarray, levels: Sequence[int], ratio: bool = False) -> Bounds:
    """`errors` are actual - forecast, or actual / forecast when `ratio`."""
    errors = np.sort(np.asarray(errors, dtype=np.float64)[np.isfinite(errors)])
    n = errors.size
    if n == 0:
        return {lv: (mean.copy(), mean.copy()) for lv in levels}
    combined = mean[:, None] * errors[None, :] if ratio else mean[:, None] + errors[None, :]
    scenarios = np.maximum(combined, 0.0)  # h x n, rows sorted
    out: Bounds = {}
    for lv in levels:
        k = min(n, math.ceil(lv / 100 * (n + 1)))
        widths = scenarios[:, k - 1 :] - scenarios[:, : n - k + 1]
        # argmin picks the lowest-starting window among equally short ones (deterministic)
        start = np.argmin(widths + 1e-12 * np.arange(widths.shape[1]), axis=1)
        rows = np.arange(mean.size)
        out[lv] = (scenarios[rows, start], scenarios[rows, start + k - 1])
    return out


def order_bounds(mean: np.ndarray, bounds: Bounds) -> Bounds:
    """Clip at zero and nest: lo_95 <= lo_80 <= mean <= hi_80 <= hi_95."""
    mean = np.maximum(mean, 0.0)
    lo_prev, hi_prev = mean, mean
    out: Bounds = {}
    for lv in sorted(bounds):
        lo, hi = bounds[lv]
        lo = np.maximum(np.minimum(lo, lo_prev), 0.0)
        hi = np.maximum(hi, hi_prev)
        out[lv] = (lo, hi)
        lo_prev, hi_prev = lo, hi
    return out


def points_needed(level: int) -> int:
    """Fewest scores whose conformal quantile at `level` is defined: n >= level/100 * (n + 1)."""
    return math.ceil(level / (100 - level))


def width_multipliers(
    windows: Sequence[tuple[np.ndarray, np.ndarray, Bounds]], levels: Sequence[int], conformal: bool = True
) -> dict[int, float]:
    """Per level, by how much to scale a model's own interval so that it would have held `level`%
    of its backtest actuals (normalized split conformal): each backtest point scores the factor its
    interval would need to reach it, and the multiplier is the conformal quantile of those factors.

    `windows`: (actual, forecast, bounds) per backtest window, most recent first. Each level uses
    the fewest recent windows with enough points for its quantile (the most recent errors are the
    best guide; a wide level needs more of them); a level they cannot estimate keeps the model's
    width. A wider level is never scaled less than a narrower one (its quantile rests on few points).
    `conformal=False` takes the plain empirical quantile instead of the finite-sample conformal one,
    which over-covers where backtest errors are a pessimistic guide (measured per frequency).
    """
    out: dict[int, float] = {}
    floor = 0.0
    for lv in sorted(levels):
        factors: list[np.ndarray] = []
        for actual, mean, bounds in windows:
            if lv in bounds and sum(f.size for f in factors) < points_needed(lv):
                factors.append(_reach(actual, mean, *bounds[lv]))
        scores = np.sort(np.concatenate(factors)) if factors else np.empty(0)
        k = math.ceil(lv / 100 * (scores.size + 1))
        if scores.size and k <= scores.size:
            q = float(scores[k - 1]) if conformal else float(np.quantile(scores, lv / 100))
        else:
            q = 1.0
        q = q if np.isfinite(q) and q > 0 else 1.0
        out[lv] = floor = max(q, floor)
    return out


def held_out_multipliers(
    window: tuple[np.ndarray, np.ndarray, Bounds],
    older: Sequence[tuple[np.ndarray, np.ndarray, Bounds]],
    levels: Sequence[int],
    conformal: bool = True,
) -> dict[int, np.ndarray]:
    """Per level, for each point of a backtest `window`: the multiplier `width_multipliers` gives
    when that point is left out, the window's other points coming first and then the `older`
    windows (most recent first). All points at once: leaving out the point of rank r from the
    sorted scores shifts every order statistic at or past r by one."""
    actual, mean, bounds = window
    n = actual.size
    out: dict[int, np.ndarray] = {}
    floor = np.zeros(n)
    for lv in sorted(levels):
        own = _reach(actual, mean, *bounds[lv]) if lv in bounds else np.empty(0)
        pool: list[np.ndarray] = []
        count = own.size - 1 if own.size else 0
        for a, m, b in older:
            if lv in b and count < points_needed(lv):
                pool.append(_reach(a, m, *b[lv]))
                count += a.size
        scores = np.concatenate([own, *pool])
        q = np.ones(n)
        if own.size and count:
            order = np.argsort(scores, kind="stable")
            rank = np.empty(scores.size, int)
            rank[order] = np.arange(scores.size)
            q = _left_out_quantile(scores[order], rank[:n], lv, conformal)
        q = np.where(np.isfinite(q) & (q > 0), q, 1.0)
        out[lv] = floor = np.maximum(q, floor)
    return out


def _left_out_quantile(ranked: np.ndarray, left_out: np.ndarray, level: int, conformal: bool) -> np.ndarray:
    """Per left-out rank, the quantile `width_multipliers` takes of `ranked` (sorted) without it."""
    size = ranked.size - 1
    k = math.ceil(level / 100 * (size + 1))
    if k > size:
        return np.ones(left_out.size)

    def at(j: np.ndarray | int) -> np.ndarray:  # order statistic j of the scores without the left-out one
        return np.where(j < left_out, ranked[np.minimum(j, size)], ranked[np.minimum(np.asarray(j) + 1, size)])

    if conformal:
        return at(k - 1)
    position = level / 100 * (size - 1)  # numpy's default (linear) quantile, with its interpolation
    below = math.floor(position)
    t = position - below
    a, b = at(below), at(min(below + 1, size - 1))
    with np.errstate(invalid="ignore"):
        diff = b - a
        return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


def _reach(actual: np.ndarray, mean: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The factor by which each point's interval half-width must grow (or may shrink) to reach it;
    inf where the interval has no width on the side the actual fell."""
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(actual > mean, (actual - mean) / (hi - mean), 0.0)
        down = np.where(actual < mean, (mean - actual) / (mean - lo), 0.0)
    return np.nan_to_num(np.maximum(up, down), nan=0.0, posinf=np.inf)


def scale_bounds(mean: np.ndarray, bounds: Bounds, multipliers: Mapping[int, float | np.ndarray]) -> Bounds:
    """Each level's interval around `mean` with its half-widths times that level's multiplier (one
    for the whole interval, or one per point)."""
    return {
        lv: (mean - multipliers.get(lv, 1.0) * (mean - lo), mean + multipliers.get(lv, 1.0) * (hi - mean))
        for lv, (lo, hi) in bounds.items()
    }
