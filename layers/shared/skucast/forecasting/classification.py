"""Demand classification (Syntetos-Boylan-Croston) plus `new` and `inactive`, at the run's frequency.

ADI is the average inter-demand interval (periods / non-zero periods) and CV2 the squared
coefficient of variation of the non-zero demand sizes. Cut-offs 1.32 and 0.49 split the plane:

    ADI < 1.32, CV2 < 0.49  -> smooth        ADI >= 1.32, CV2 < 0.49  -> intermittent
    ADI < 1.32, CV2 >= 0.49 -> erratic       ADI >= 1.32, CV2 >= 0.49 -> lumpy

Classification is done on the series aggregated to the run's frequency: a product that sells a
few days a week is intermittent day by day and smooth month by month, and the forecast is made
at the run's frequency. Leading zeros (before the first sale) are not history and are dropped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from skucast.forecasting.periods import aggregate, aggregate_with_counts, prorate_partial
from skucast.forecasting.thresholds import ClassificationConfig

__all__ = [
    "DEMAND_CLASSES",
    "Classification",
    "ClassificationConfig",
    "aggregate",
    "classify",
    "classify_daily",
    "classify_periods",
]

DEMAND_CLASSES = ("smooth", "erratic", "intermittent", "lumpy", "new", "inactive")


@dataclass(frozen=True)
class Classification:
    demand_class: str
    adi: float | None
    cv2: float | None
    n_periods: int
    n_nonzero: int


def trim_leading_zeros(values: np.ndarray) -> np.ndarray:
    nonzero = np.flatnonzero(values > 0)
    return values[nonzero[0] :] if nonzero.size else values[:0]


def classify_periods(
    values: np.ndarray, config: ClassificationConfig = ClassificationConfig(), frequency: str = "D"
) -> Classification:
    """Classify a series already at `frequency` (one value per period, finite, >= 0)."""
    values = trim_leading_zeros(np.asarray(values, dtype=np.float64))
    n = int(values.size)
    sizes = values[values > 0]
    k = int(sizes.size)
    if k == 0:
        return Classification("inactive", None, None, n, 0)
    adi = n / k
    cv2 = float(np.var(sizes, ddof=1) / np.mean(sizes) ** 2) if k >= 2 else 0.0
    window = config.inactive_periods(frequency)
    if n >= window and not np.any(values[-window:] > 0):
        return Classification("inactive", adi, cv2, n, k)
    if n < config.min_periods(frequency) or k < config.min_nonzero:
        return Classification("new", adi, cv2, n, k)
    if adi < config.adi_cutoff:
        demand_class = "smooth" if cv2 < config.cv2_cutoff else "erratic"
    else:
        demand_class = "intermittent" if cv2 < config.cv2_cutoff else "lumpy"
    return Classification(demand_class, adi, cv2, n, k)


def classify_daily(
    start: dt.date,
    daily: np.ndarray,
    frequency: str = "D",
    config: ClassificationConfig = ClassificationConfig(),
) -> Classification:
    """Aggregate a daily series to `frequency` (partial periods pro-rated) and classify it."""
    start, daily = trim_daily(start, daily)
    starts, sums, counts = aggregate_with_counts(start, daily, frequency)
    return classify_periods(prorate_partial(starts, sums, counts, frequency), config, frequency)


def trim_daily(start: dt.date, daily: np.ndarray) -> tuple[dt.date, np.ndarray]:
    """Drop leading zero days and move the start date with them."""
    daily = np.asarray(daily, dtype=np.float64)
    nonzero = np.flatnonzero(daily > 0)
    if nonzero.size == 0:
        return start, daily[:0]
    return start + dt.timedelta(days=int(nonzero[0])), daily[nonzero[0] :]


def classify(
    values: np.ndarray, frequency: str = "D", config: ClassificationConfig = ClassificationConfig()
) -> Classification:
    """Classify a DAILY series at `frequency`; calendar alignment assumes values[0] is a Monday
    and the 1st of a month. Use `classify_daily` when the start date is known."""
    return classify_daily(dt.date(2024, 1, 1), values, frequency, config)
