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
from collections.abc import Sequence

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
