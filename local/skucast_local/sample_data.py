"""A seeded, realistic sample of daily SKU demand for `make demo` (and tests that want one).

Two years of daily demand for a retailer's catalogue, covering the six demand classes:

- smooth: sells every day; weekly pattern (weekend peaks), yearly season, a trend, promotion
  spikes (a few 3-7 day windows per year) and Poisson noise;
- erratic: sells nearly every day but in very uneven amounts (log-normal sizes), plus promotions;
- intermittent: sells on a minority of days, in similar small amounts (weekday-dependent odds);
- lumpy: rare orders of very different sizes (trade customers, bulk buys);
- new: launched in the last 2-7 weeks, ramping up;
- inactive: sold normally, then discontinued: only zeros for the last 3-15 months.

Every SKU has a row for every day from its first sale to the end date (zeros included), the
way a point-of-sale extract looks. `generate()` returns the frame and the class each SKU was
generated as (the service classifies independently; the two mostly agree).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

START = dt.date(2024, 1, 1)
DAYS = 731  # 2024-01-01 .. 2025-12-31
MIX = {"smooth": 0.36, "erratic": 0.18, "intermittent": 0.18, "lumpy": 0.14, "new": 0.08, "inactive": 0.06}


@dataclass(frozen=True)
class Sample:
    frame: Any  # pandas DataFrame: sku, date (datetime64), quantity (float)
    generated_as: dict[str, str]  # sku -> the class it was generated as

    @property
    def skus(self) -> int:
        return len(self.generated_as)


def _calendar() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.arange(DAYS)
    dow = (START.weekday() + t) % 7  # 0 = Monday
    doy = t % 365.25 / 365.25
    return t, dow, doy


def _promotions(rng: np.random.Generator, per_year: int, lift: tuple[float, float]) -> np.ndarray:
    """A multiplier: 1, with `per_year` promotion windows of 3-7 days lifted by `lift`."""
    m = np.ones(DAYS)
    for _ in range(int(rng.poisson(per_year * DAYS / 365))):
        start = int(rng.integers(0, DAYS - 7))
        m[start : start + int(rng.integers(3, 8))] *= rng.uniform(*lift)
    return m


def _seasonal_level(rng: np.random.Generator, base: float) -> np.ndarray:
    t, dow, doy = _calendar()
    weekly = 1 + rng.uniform(0.1, 0.35) * np.where(dow >= 5, 1.0, np.where(dow == 4, 0.4, -0.3))
    phase = rng.uniform(0, 2 * np.pi)
    yearly = 1 + rng.uniform(0.1, 0.35) * np.sin(2 * np.pi * doy + phase)
    december = 1 + rng.uniform(0.0, 0.5) * np.exp(-(((doy - 0.96) / 0.025) ** 2))  # holiday peak
    trend = 1 + rng.uniform(-0.3, 0.6) * t / DAYS
    return base * weekly * yearly * december * trend


def _smooth(rng: np.random.Generator) -> np.ndarray:
    level = _seasonal_level(rng, rng.uniform(15, 180)) * _promotions(rng, 4, (1.5, 3.0))
    return rng.poisson(level).astype(float)


def _erratic(rng: np.random.Generator) -> np.ndarray:
    level = _seasonal_level(rng, rng.uniform(6, 40)) * _promotions(rng, 3, (2.0, 4.0))
    sigma = rng.uniform(0.9, 1.3)
    sizes = level * rng.lognormal(-(sigma**2) / 2, sigma, DAYS)
    return np.maximum(np.round(sizes), 1.0) * (rng.random(DAYS) < 0.95)


def _intermittent(rng: np.random.Generator) -> np.ndarray:
    _, dow, _ = _calendar()
    p = rng.uniform(0.08, 0.45) * np.where(dow >= 5, 1.4, 0.85)
    sizes = 1 + rng.poisson(rng.uniform(0.5, 3.0), DAYS)
    return (sizes * (rng.random(DAYS) < np.minimum(p, 0.7))).astype(float)


def _lumpy(rng: np.random.Generator) -> np.ndarray:
    p = rng.uniform(0.04, 0.3)
    sigma = rng.uniform(1.0, 1.4)
    sizes = np.ceil(rng.uniform(2, 25) * rng.lognormal(0, sigma, DAYS))
    return (sizes * (rng.random(DAYS) < p)).astype(float)


def _new(rng: np.random.Generator) -> np.ndarray:
    values = np.zeros(DAYS)
    age = int(rng.integers(14, 50))
    ramp = np.minimum(1.0, np.arange(age) / rng.uniform(5, 20))
    values[-age:] = rng.poisson(rng.uniform(3, 40) * ramp)
    values[-age] = max(values[-age], 1.0)  # launched with a sale
    return values


def _inactive(rng: np.random.Generator) -> np.ndarray:
    values = (_smooth, _intermittent, _erratic)[int(rng.integers(0, 3))](rng)
    values[int(rng.integers(270, DAYS - 100)) :] = 0.0
    return values


GENERATORS = {
    "smooth": _smooth,
    "erratic": _erratic,
    "intermittent": _intermittent,
    "lumpy": _lumpy,
    "new": _new,
    "inactive": _inactive,
}


def generate(n_skus: int = 600, seed: int = 7) -> Sample:
    """`n_skus` SKUs (the MIX shares), two years daily; the same seed gives the same sample."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    counts = {c: round(share * n_skus) for c, share in MIX.items()}
    counts["smooth"] += n_skus - sum(counts.values())
    classes = [c for c, k in counts.items() for _ in range(k)]
    order = rng.permutation(len(classes))
    dates = pd.date_range(START, periods=DAYS, freq="D")
    skus, days, quantities = [], [], []
    generated_as: dict[str, str] = {}
    for i, idx in enumerate(order):
        cls = classes[idx]
        sku = f"SKU-{i + 1:05d}"
        values = GENERATORS[cls](rng)
        first = int(np.argmax(values > 0)) if values.any() else 0
        skus.append(np.full(DAYS - first, sku, dtype=object))
        days.append(dates[first:])
        quantities.append(values[first:])
        generated_as[sku] = cls
    frame = pd.DataFrame(
        {
            "sku": np.concatenate(skus),
            "date": np.concatenate([d.values for d in days]),
            "quantity": np.concatenate(quantities),
        }
    )
    return Sample(frame=frame, generated_as=generated_as)
