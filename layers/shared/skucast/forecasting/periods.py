"""Calendar periods: aggregate daily demand to weeks or months and step period start dates.

W periods of a run on daily data are ISO weeks (Monday to Sunday); weekly data keeps its own weeks
(a week starts on the weekday its rows are dated). M periods are calendar months. A period is
named by the date of its first day. Partial periods at either end of the history are KEPT (their sum
covers only the observed days): dropping them would throw away the most recent demand. The
engine pro-rates them to a full-period rate before it classifies or forecasts (see
`prorate_partial`), so a three-day trailing week does not read as a collapse in demand.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from skucast.forecasting.thresholds import check_frequency


def period_start(day: dt.date, frequency: str) -> dt.date:
    if frequency == "W":
        return day - dt.timedelta(days=day.weekday())
    if frequency == "M":
        return day.replace(day=1)
    return day


def next_period(start: dt.date, frequency: str, steps: int = 1) -> dt.date:
    if frequency == "D":
        return start + dt.timedelta(days=steps)
    if frequency == "W":
        return start + dt.timedelta(weeks=steps)
    months = start.year * 12 + start.month - 1 + steps
    return dt.date(months // 12, months % 12 + 1, 1)


GRAIN_ORDER = {"D": 0, "W": 1, "M": 2}  # finer to coarser
GRAIN_NAMES = {"D": "daily", "W": "weekly", "M": "monthly"}


def containing_period(day: dt.date, granularity: str, week_day: int = 0) -> dt.date:
    """The first day of the period of `granularity` that holds `day` (weeks start on `week_day`)."""
    if granularity == "W":
        return day - dt.timedelta(days=(day.weekday() - week_day) % 7)
    return period_start(day, granularity)


def periods_from(start: dt.date, later: dt.date, granularity: str) -> int:
    """How many periods of `granularity` `later` is after `start` (both period starts)."""
    if granularity == "M":
        return (later.year - start.year) * 12 + later.month - start.month
    return (later - start).days // (7 if granularity == "W" else 1)


def align_to_origin(start: dt.date, values: np.ndarray, granularity: str, origin: dt.date) -> np.ndarray:
    """Values at `granularity` from `start`, through the period starting at `origin`: periods
    after it are dropped, periods up to it that have no value are zero demand."""
    count = periods_from(start, origin, granularity) + 1
    if count <= 0:
        return values[:0]
    if count <= values.size:
        return values[:count]
    return np.concatenate([values, np.zeros(count - values.size)])


def period_days(start: dt.date, frequency: str) -> int:
    return (next_period(start, frequency) - start).days


def aggregate_with_counts(
    start: dt.date, daily: np.ndarray, frequency: str
) -> tuple[list[dt.date], np.ndarray, np.ndarray]:
    """Like `aggregate`, plus how many observed days each period holds."""
    check_frequency(frequency)
    daily = np.asarray(daily, dtype=np.float64)
    if frequency == "D" or daily.size == 0:
        starts = [start + dt.timedelta(days=i) for i in range(daily.size)]
        return starts, daily.copy(), np.ones(daily.size)
    # Label each day with its period index, then sum with bincount (vectorised, no pandas).
    days = np.arange(daily.size)
    if frequency == "W":
        labels = (days + start.weekday()) // 7
    else:
        dates = np.datetime64(start, "D") + days
        months = dates.astype("datetime64[M]").astype(np.int64)
        labels = months - months[0]
    sums = np.bincount(labels, weights=daily)
    counts = np.bincount(labels).astype(np.float64)
    first = period_start(start, frequency)
    starts = [next_period(first, frequency, i) for i in range(sums.size)]
    return starts, sums, counts


def aggregate(start: dt.date, daily: np.ndarray, frequency: str) -> tuple[list[dt.date], np.ndarray]:
    """Sum daily values into periods at `frequency` ("D" returns a copy).

    Returns the period start dates and the sums. Partial first/last periods are kept and hold the
    sum of the observed days only.
    """
    starts, sums, _ = aggregate_with_counts(start, daily, frequency)
    return starts, sums


def prorate_partial(starts: list[dt.date], sums: np.ndarray, counts: np.ndarray, frequency: str) -> np.ndarray:
    """Scale partial periods up to a full-period rate (sum / observed days * period days)."""
    if frequency == "D" or sums.size == 0:
        return sums
    full = np.array([period_days(s, frequency) for s in starts], dtype=np.float64)
    return sums * (full / counts)
