"""Anomalies in demand history: which stored points are outliers for their SKU (pure: numpy only).

The detector (DETECTOR_VERSION 1) works on daily series; weekly and monthly series are not flagged
(their season is yearly: telling a peak from an outlier needs several years of history, which
most such series lack - a later version may add it). For each day i it looks only at days within
RADIUS of i, so the flags of a series can be re-evaluated around newly arrived points and equal
a detection over the whole series (see `reflag_many`). Two regimes, chosen per day:

- **Dense** (at most SPARSE_ZERO_SHARE of the observed days within SPARSE_RADIUS are zero): a
  robust decomposition on the square-root scale (where count noise has about one spread at every
  level). Trend: the median of the days within TREND_RADIUS (29 days: four whole weeks and a
  day, so the weekly pattern averages out of it). Season: the median of the detrended values on
  the same weekday within SEASON_WEEKS weeks either side. Residual = value - (trend + season).
  Scale: a double MAD of the residuals within SCALE_RADIUS days of the middle of the day's week
  (weeks of absolute day numbers, so one scale per week): 1.4826 x the median distance from
  their median of the residuals above it, for a residual above, of those below, for one below
  (right-skewed erratic demand needs a bigger spike than symmetric noise); at least
  MIN_RELATIVE_SCALE x the trend (a nearly constant series does not flag every wiggle). A day is
  flagged when its residual is more than DENSE_THRESHOLD scales from the residuals' median: a
  spike, or a dip such as a zero in a series that sells every day.
- **Sparse** (intermittent demand: zeros are normal and are never flagged): a nonzero day is
  flagged when its size is an outlier among the nonzero sizes within SPARSE_RADIUS:
  log(size) - median(log sizes) > SPARSE_THRESHOLD x max(upper MAD of the log sizes x 1.4826,
  MIN_LOG_SCALE), and only when there are at least MIN_NONZERO sizes there.

The thresholds were set on the bench's synthetic suite (bench/anomaly_suite.py, seeds 20 and 21;
bench/anomalies.py measures recall and false positives on other seeds too).

A series with fewer than MIN_PERIODS observed days has no flags (too short to know what is
normal). In a series whose missing periods are unknown, days without a row are not observed:
neither used nor flagged.

Replacement (a run's `history_cleaning: "flagged"`): a flagged day takes its robust fitted value,
(trend + season)^2 in the dense regime (floored at 0 before squaring), the median nonzero size
in the sparse regime (the sale happened; its size is replaced).

The stored demand never changes: flags are an attribute of their own beside it in the series item
(repositories/demand.py), written in the same put as the series they were computed from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

DETECTOR_VERSION = 1
FLAGGED_GRAINS = frozenset({"D"})
MIN_PERIODS = 56  # observed days; fewer: no flags (the `new` class's threshold)
SEASON = 7
TREND_RADIUS = 14
SEASON_WEEKS = 8
SCALE_RADIUS = 91
# The scale of a day is that of its week: the window centred on the week's middle day (weeks of
# absolute period numbers), so a series costs one window sort per week instead of per day.
ANCHOR = SEASON // 2
SPARSE_RADIUS = 91
SPARSE_ZERO_SHARE = 0.3
DENSE_THRESHOLD = 4.0
MIN_RELATIVE_SCALE = 0.03
SPARSE_THRESHOLD = 3.0
MIN_LOG_SCALE = 0.35
MIN_NONZERO = 8
MAD_TO_SIGMA = 1.4826
# How far a day's flag can depend on other days: the dense regime reaches trend (14) + season
# (56) + scale (91) from its week's middle day (3) = 164 days, the sparse one SPARSE_RADIUS.
RADIUS = max(TREND_RADIUS + SEASON_WEEKS * SEASON + SCALE_RADIUS + ANCHOR, SPARSE_RADIUS)
# Unobserved days between two series evaluated in one pass: more than any single window reaches.
GAP = max(TREND_RADIUS, SEASON_WEEKS * SEASON, SCALE_RADIUS + ANCHOR, SPARSE_RADIUS) + 1


@dataclass(frozen=True)
class StoredFlags:
    """What the series item keeps beside the series: the flagged periods (absolute period
    numbers, ascending) and the detector version that flagged them."""

    flagged: tuple[int, ...]
    version: int = DETECTOR_VERSION


@dataclass(frozen=True)
class FlagSet:
    """A SKU's flags and what they were evaluated on: the flagged periods (absolute period
    numbers: days since 1970-01-01 for daily series), the series' first period and length, its
    missing policy, its observed days and the detector version - so that the next upload knows
    whether it may re-evaluate only around its own points."""

    flagged: tuple[int, ...]
    start: int
    periods: int
    missing: str
    observed: int
    version: int = DETECTOR_VERSION


# ---------------------------------------------------------------- windows
def _window_median(windows: np.ndarray) -> np.ndarray:
    """Median of each row, ignoring NaN (NaN where a row has no value)."""
    ordered = np.sort(windows, axis=1)  # NaN sort last
    count = (~np.isnan(windows)).sum(axis=1)
    lo = np.maximum((count - 1) // 2, 0)
    hi = np.maximum(count // 2, 0)
    rows = np.arange(len(windows))
    median = (ordered[rows, lo] + ordered[rows, hi]) / 2.0
    return np.where(count > 0, median, np.nan)


def _centred(x: np.ndarray, radius: int, step: int = 1) -> np.ndarray:
    """Rows of x[i - radius .. i + radius] (every `step`-th), NaN beyond the ends."""
    padded = np.concatenate([np.full(radius, np.nan), x, np.full(radius, np.nan)])
    return sliding_window_view(padded, 2 * radius + 1)[:, ::step]


def _rolling_median(x: np.ndarray, radius: int) -> np.ndarray:
    return _window_median(_centred(x, radius))


@dataclass(frozen=True)
class _Fit:
    flags: np.ndarray  # bool, one per row asked for
    fitted: np.ndarray  # the robust value each of those days is replaced by when flagged


@dataclass(frozen=True)
class _Spread:
    centre: np.ndarray  # the median of each window
    upper: np.ndarray  # the median distance above it of the values above it
    lower: np.ndarray  # the median distance below it of the values below it
    count: np.ndarray  # values in the window


def _spread(windows: np.ndarray) -> _Spread:
    """Median and double MAD of each row (NaN ignored), from one sort: the upper half of a
    sorted row is the values above its median, so each side's median is an index away."""
    ordered = np.sort(windows, axis=1)
    count = (~np.isnan(windows)).sum(axis=1)
    rows = np.arange(len(windows))

    def median(first: np.ndarray, n: np.ndarray) -> np.ndarray:
        lo = first + np.maximum((n - 1) // 2, 0)
        hi = first + np.maximum(n // 2, 0)
        width = ordered.shape[1] - 1
        value = (ordered[rows, np.minimum(lo, width)] + ordered[rows, np.minimum(hi, width)]) / 2.0
        return np.where(n > 0, value, np.nan)

    centre = median(np.zeros_like(count), count)
    upper = median(count // 2, count - count // 2) - centre
    lower = centre - median(np.zeros_like(count), (count + 1) // 2)
    return _Spread(centre, upper, lower, count)


def _anchors(rows: np.ndarray, first_period: int) -> np.ndarray:
    """The position of the middle day of each row's week, x[0] being absolute period `first_period`."""
    return rows + ANCHOR - (first_period + rows) % SEASON


def _fit(x: np.ndarray, rows: np.ndarray, anchors: np.ndarray) -> _Fit:
    """Flags and fitted values of the days `rows` of x (float, NaN where not observed), the
    middle days of their weeks at `anchors` (_anchors); x must reach RADIUS beyond them, or to
    the series' ends."""
    observed = ~np.isnan(x)
    # Regime: the share of zero days among the observed days around each day.
    zero = np.where(observed, x == 0, False).astype(np.int64)
    zeros = _window_sum(zero, SPARSE_RADIUS)[rows]
    seen_around = _window_sum(observed.astype(np.int64), SPARSE_RADIUS)[rows]
    sparse = zeros > SPARSE_ZERO_SHARE * np.maximum(seen_around, 1)

    # On the square-root scale, where count noise has one spread at every level (Poisson: 1/2).
    y = np.sqrt(np.maximum(x, 0.0))
    trend = _rolling_median(y, TREND_RADIUS)
    season = _window_median(_centred(y - trend, SEASON_WEEKS * SEASON, SEASON))
    root = np.maximum(trend + np.where(np.isnan(season), 0.0, season), 0.0)
    residual = y - root
    # Double MAD: each side of the centre has its own scale, so a right-skewed series (erratic
    # demand) needs a bigger spike than a symmetric one, and a dip is judged by the lower side.
    weeks, week_of = np.unique(anchors, return_inverse=True)
    padded = np.concatenate([np.full(ANCHOR, np.nan), residual, np.full(ANCHOR, np.nan)])
    per_week = _spread(_centred(padded, SCALE_RADIUS)[weeks + ANCHOR])
    centre, upper, lower = per_week.centre[week_of], per_week.upper[week_of], per_week.lower[week_of]
    offset = residual[rows] - centre
    scale = np.fmax(MAD_TO_SIGMA * np.where(offset >= 0, upper, lower), MIN_RELATIVE_SCALE * trend[rows])
    with np.errstate(invalid="ignore"):
        flags = observed[rows] & ~sparse & (scale > 0) & (np.abs(offset) > DENSE_THRESHOLD * scale)
    fitted = np.where(np.isnan(root[rows]), 0.0, root[rows]) ** 2

    value = np.nan_to_num(x[rows])
    candidates = np.flatnonzero(observed[rows] & sparse & (value > 0))
    if candidates.size:
        logs = np.full(len(x), np.nan)
        sold = observed & (np.nan_to_num(x) > 0)
        logs[sold] = np.log(x[sold])
        sizes = _spread(_centred(logs, SPARSE_RADIUS)[rows[candidates]])
        log_scale = np.fmax(MAD_TO_SIGMA * sizes.upper, MIN_LOG_SCALE)
        above = logs[rows[candidates]] - sizes.centre
        spike = (sizes.count >= MIN_NONZERO) & (above > SPARSE_THRESHOLD * log_scale)
        flags[candidates[spike]] = True
        fitted[candidates] = np.exp(sizes.centre)
    return _Fit(flags, fitted)


def _window_sum(x: np.ndarray, radius: int) -> np.ndarray:
    total = np.concatenate([[0], np.cumsum(x)])
    n = len(x)
    idx = np.arange(n)
    return total[np.minimum(idx + radius + 1, n)] - total[np.maximum(idx - radius, 0)]


# ---------------------------------------------------------------- detection
def _as_observed(values: np.ndarray, observed: np.ndarray | None) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).copy()
    if observed is not None:
        x[~np.asarray(observed, dtype=bool)] = np.nan
    x[~np.isfinite(x)] = np.nan
    return x


def detect(
    values: np.ndarray,
    observed: np.ndarray | None = None,
    granularity: str = "D",
    lo: int = 0,
    hi: int | None = None,
    start: int = 0,
) -> np.ndarray:
    """Positions in [lo, hi) of `values` (one per period, values[0] being absolute period
    `start`) that are outliers; `observed` marks the periods that had a row when missing periods
    are unknown (None: every period counts). Reads only values[lo - RADIUS : hi + RADIUS], and
    gives the same answer as a detection over the whole series restricted to [lo, hi)."""
    x = _as_observed(values, observed)
    hi = len(x) if hi is None else min(hi, len(x))
    lo = max(lo, 0)
    if granularity not in FLAGGED_GRAINS or hi <= lo or int((~np.isnan(x)).sum()) < MIN_PERIODS:
        return np.zeros(0, np.int64)
    first = max(lo - RADIUS, 0)
    rows = np.arange(lo - first, hi - first)
    fit = _fit(x[first : min(hi + RADIUS, len(x))], rows, _anchors(rows, start + first))
    return np.flatnonzero(fit.flags) + lo


def cleaned(values: np.ndarray, observed: np.ndarray | None, positions: np.ndarray) -> tuple[np.ndarray, int]:
    """`values` with each position replaced by its robust fitted value, and how many were."""
    out = np.asarray(values, dtype=np.float64).copy()
    positions = np.asarray(positions, dtype=np.int64)
    positions = positions[(positions >= 0) & (positions < len(out))]
    if positions.size == 0:
        return out, 0
    x = _as_observed(values, observed)
    first = max(int(positions.min()) - RADIUS, 0)
    last = min(int(positions.max()) + RADIUS + 1, len(x))
    out[positions] = _fit(x[first:last], positions - first, positions - first).fitted  # weeks: no matter
    return out, int(positions.size)


@dataclass(frozen=True)
class Evaluation:
    """One series to flag after an upload: `values` from absolute period `start`, which periods
    are observed (None: all), its grain and missing policy, the absolute periods the upload's
    points fell on (`touched`), and the flags stored with the series before it (None: none)."""

    values: np.ndarray
    observed: np.ndarray | None
    granularity: str
    start: int
    missing: str
    touched: np.ndarray
    stored: FlagSet | None


def _window(e: Evaluation, x: np.ndarray) -> tuple[int, int] | None:
    """The positions [lo, hi) of `e` to evaluate again; None: the stored flags stand as they are."""
    n, stored = len(x), e.stored
    if stored is None or stored.version != DETECTOR_VERSION or stored.missing != e.missing:
        return 0, n
    if stored.observed < MIN_PERIODS:
        return 0, n
    changed = [np.asarray(e.touched, dtype=np.int64) - e.start]
    old_first, old_last = stored.start - e.start, stored.start + stored.periods - 1 - e.start
    if old_first > 0:
        changed.append(np.arange(0, old_first))
    if old_last < n - 1:
        changed.append(np.arange(max(old_last + 1, 0), n))
    positions = np.concatenate(changed)
    positions = positions[(positions >= 0) & (positions < n)]
    if positions.size == 0:
        return None
    return max(int(positions.min()) - RADIUS, 0), min(int(positions.max()) + RADIUS + 1, n)


def reflag_many(evaluations: list[Evaluation]) -> list[FlagSet]:
    """The flags of each series after an upload. Only the neighbourhood of what changed is
    evaluated again - the touched periods and the periods the series grew by, RADIUS either
    side - and the stored flags elsewhere are kept; everything is evaluated when the stored flags
    were made by another detector version, under another missing policy, on a series too short
    to flag, or are absent. Either way each answer equals `detect` over the whole series.

    The series' slices are evaluated in one pass, laid end to end with GAP unobserved days
    between them: no window reaches across (what `detect` reads beyond a slice is unobserved
    too), and a round of SKUs costs a few dozen array operations instead of that many per SKU."""
    parts: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    anchors: list[np.ndarray] = []
    owners: list[tuple[int, int, int]] = []  # (evaluation, lo, position of its slice's first row in `rows`)
    ranges: list[tuple[int, int] | None] = []
    counts: list[int] = []  # observed periods of each series
    offset = 0
    gap = np.full(GAP, np.nan)
    for i, e in enumerate(evaluations):
        x = _as_observed(e.values, e.observed)
        window = _window(e, x)
        ranges.append(window)
        counts.append(int((~np.isnan(x)).sum()))
        if window is None or e.granularity not in FLAGGED_GRAINS or counts[-1] < MIN_PERIODS:
            continue
        lo, hi = window
        first, last = max(lo - RADIUS, 0), min(hi + RADIUS, len(x))
        parts += [x[first:last], gap]
        local = np.arange(lo, hi) - first
        rows.append(local + offset)
        anchors.append(_anchors(local, e.start + first) + offset)
        owners.append((i, lo, sum(len(r) for r in rows[:-1])))
        offset += last - first + GAP
    fresh: dict[int, np.ndarray] = {}
    if parts:
        flags = _fit(np.concatenate(parts), np.concatenate(rows), np.concatenate(anchors)).flags
        for (i, lo, at), r in zip(owners, rows, strict=True):
            fresh[i] = np.flatnonzero(flags[at : at + len(r)]) + lo
    out = []
    for i, e in enumerate(evaluations):
        n = len(e.values)
        window = ranges[i]
        kept: list[int] = []
        if window is None and e.stored is not None:
            kept = list(e.stored.flagged)
        elif window is not None and e.stored is not None and (window[0], window[1]) != (0, n):
            kept = [p for p in e.stored.flagged if not window[0] <= p - e.start < window[1]]
        new = [int(p) + e.start for p in fresh.get(i, ())]
        out.append(FlagSet(tuple(sorted({*kept, *new})), e.start, n, e.missing, counts[i]))
    return out


def reflag(
    values: np.ndarray,
    observed: np.ndarray | None,
    granularity: str,
    start: int,
    missing: str,
    touched: np.ndarray,
    stored: FlagSet | None,
) -> FlagSet:
    """`reflag_many` for one series."""
    return reflag_many([Evaluation(values, observed, granularity, start, missing, touched, stored)])[0]
