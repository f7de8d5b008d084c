"""The seeded synthetic suite of the anomalies bench: clean daily series, then the same series with
outliers injected into their history (never into the last HORIZON days, which are scored).

Every series has HISTORY + HORIZON days from START. Classes (SERIES_PER_CLASS each):
- `smooth`: level U(20, 200), a weekly profile (7 multipliers U(0.6, 1.4), mean 1), a linear trend
  of up to +-30 % over the span and a yearly wave of amplitude U(0, 0.2); Poisson demand.
- `erratic`: level U(10, 100), the same kind of weekly profile, gamma noise with CV 0.8
  (CV^2 0.64 > 0.49); values rounded.
- `intermittent`: a sale on a day with probability U(0.1, 0.4), size 1 + Poisson(U(1, 5)).

Injected outliers (`inject`), OUTLIER_RATE of the history's days, at least one, at distinct days
chosen uniformly in the history:
- smooth: half spikes, value = mean + U(6, 12) x sigma, half dips, value = 0 (a stock-out or a
  missing day), where mean is the day's expected demand and sigma its noise s.d. (sqrt(mean));
- erratic: spikes, value = mean + U(6, 12) x sigma (sigma = 0.8 x mean);
- intermittent: on days with a sale, the size becomes mean size x U(8, 15).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

START = dt.date(2025, 1, 6)
HISTORY = 420  # days of history (60 weeks)
HORIZON = 28  # scored days, never touched by an outlier
OUTLIER_RATE = 0.01
SERIES_PER_CLASS = 40
SEED = 20
CLASSES = ("smooth", "erratic", "intermittent")


@dataclass(frozen=True)
class Series:
    sku: str
    demand_class: str
    clean: np.ndarray  # HISTORY + HORIZON days
    dirty: np.ndarray  # the same with outliers in the history
    injected: np.ndarray  # day positions of the outliers
    kind: tuple[str, ...]  # "spike" or "dip", one per injected day


def _profile(rng: np.random.Generator) -> np.ndarray:
    weekly = rng.uniform(0.6, 1.4, 7)
    return weekly / weekly.mean()


def _mean_path(rng: np.random.Generator, level: float, n: int) -> np.ndarray:
    t = np.arange(n)
    weekly = _profile(rng)[(t + START.weekday()) % 7]
    trend = 1 + rng.uniform(-0.3, 0.3) * t / n
    yearly = 1 + rng.uniform(0, 0.2) * np.sin(2 * np.pi * (t / 365.25 + rng.uniform()))
    return level * weekly * trend * yearly


def _series(rng: np.random.Generator, demand_class: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, expected mean per day, noise s.d. per day)."""
    if demand_class == "smooth":
        mean = _mean_path(rng, rng.uniform(20, 200), n)
        return rng.poisson(mean).astype(float), mean, np.sqrt(mean)
    if demand_class == "erratic":
        mean = _mean_path(rng, rng.uniform(10, 100), n)
        shape = 1 / 0.8**2
        return np.round(rng.gamma(shape, mean / shape)), mean, 0.8 * mean
    p, size = rng.uniform(0.1, 0.4), rng.uniform(1, 5)
    sales = rng.uniform(size=n) < p
    values = np.where(sales, 1 + rng.poisson(size, n), 0).astype(float)
    return values, np.full(n, 1 + size), np.zeros(n)


def inject(
    rng: np.random.Generator, demand_class: str, clean: np.ndarray, mean: np.ndarray, sigma: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    dirty = clean.copy()
    count = max(1, round(OUTLIER_RATE * HISTORY))
    if demand_class == "intermittent":
        days = np.flatnonzero(clean[:HISTORY] > 0)
        days = np.sort(rng.choice(days, size=min(count, days.size), replace=False))
        dirty[days] = np.round(mean[days] * rng.uniform(8, 15, days.size))
        return dirty, days, ("spike",) * days.size
    days = np.sort(rng.choice(HISTORY, size=count, replace=False))
    kinds = []
    for i, day in enumerate(days):
        if demand_class == "smooth" and i % 2:
            dirty[day] = 0.0
            kinds.append("dip")
        else:
            dirty[day] = np.round(mean[day] + rng.uniform(6, 12) * sigma[day])
            kinds.append("spike")
    return dirty, days, tuple(kinds)


def suite(seed: int = SEED, per_class: int = SERIES_PER_CLASS) -> list[Series]:
    rng = np.random.default_rng(seed)
    out = []
    n = HISTORY + HORIZON
    for demand_class in CLASSES:
        for i in range(per_class):
            clean, mean, sigma = _series(rng, demand_class, n)
            dirty, days, kinds = inject(rng, demand_class, clean, mean, sigma)
            out.append(Series(f"{demand_class} {i:03d} é", demand_class, clean, dirty, days, kinds))
    return out
