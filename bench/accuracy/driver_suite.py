"""A seeded synthetic suite of weekly demand driven by promotions, prices and holidays with known
effects (#19's accuracy target). Not the demo's generator: written for this bench only.

Per SKU, weeks dated Mondays from 2023-01-02: 156 weeks of history, then a 13-week test window
(2025-12-29 .. 2026-03-23, so it holds New Year, MLK day and Washington's Birthday). Expected demand
per week is

    mu_t = level x trend_t x season_t x promo_t x price_t x holiday_t

- level: log-uniform 20..500 a week; trend: linear, -20 %..+30 % a year (floored at 5 % of the level);
  season: 1 + a sin(2 pi t / 52.18 + phase), a uniform 0..0.4 (`shape="sine"`, the default); or
  (`shape="peaked"`, a robustness check for methods that fit a few sines) 0.85 + b x a von Mises
  bump a few weeks wide (b uniform 0.3..1.5, concentration 5..30) + c x a wide second bump (c
  uniform 0..0.3, 2..4 radians away): a sharp yearly peak on a flat year.
- promotions (flag `promo`): a promotion starts in a week with a per-SKU probability 4..12 % and
  lasts 1 or 2 weeks, history and test alike; each promotion multiplies demand by 1 + u x j, the
  SKU's uplift u uniform 0.3..1.2 (+30..+120 %) and j uniform 0.85..1.15 per promotion.
- price (numeric `price`): a base price uniform 2..50; about three permanent changes over the four
  years (Poisson 3, each x0.85..1.15, cumulative); demand x (price / base)^e, the SKU's elasticity e
  uniform -3..-1 (constant elasticity). The future prices are known (a price plan).
- holidays (`holiday`, exactly as the product's calendar makes it: skucast.calendars with "US",
  the number of public-holiday days in the week): demand x (1 + v x k_name)^days, the SKU's
  holiday effect v uniform -0.3..+0.6 and k_name uniform 0.8..1.2 per SKU and holiday (the same
  holiday acts alike every year; different holidays differ a little, as they do).
- noise: negative binomial around mu_t, r = 200 (even SKUs) or 15 (odd SKUs, noisier) by default
  (`dispersion`).

The true effect of a driver over the test window is the expected demand with it minus the same
expected demand without it (the other drivers as they are): for promotions, mu_t - mu_t / promo_t
summed over the test weeks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from skucast.calendars import Calendar, calendar_features

START = dt.date(2023, 1, 2)  # a Monday
HISTORY_WEEKS = 156
TEST_WEEKS = 13
KINDS = {"promo": "flag", "price": "numeric", "holiday": "holiday"}


@dataclass(frozen=True)
class DriverSku:
    sku: str
    history: np.ndarray  # (HISTORY_WEEKS,)
    test: np.ndarray  # (TEST_WEEKS,) actual demand
    mu_test: np.ndarray  # expected demand over the test window
    baseline_test: np.ndarray  # the same without any driver: level x trend x season
    values: dict[str, dict[str, float]]  # feature -> week (ISO Monday) -> value, history and test
    promo_test: np.ndarray  # bool (TEST_WEEKS,): a promotion week
    holiday_test: np.ndarray  # bool (TEST_WEEKS,): a week with a public holiday
    true_effects: dict[str, float]  # feature -> units over the test window (promo, holiday)
    truth: dict[str, float]  # the SKU's parameters: uplift, elasticity, holiday_effect
    promo_mult_test: np.ndarray  # (TEST_WEEKS,) each week's promotion factor 1 + u x j (1: none)


def weeks() -> list[dt.date]:
    return [START + dt.timedelta(weeks=i) for i in range(HISTORY_WEEKS + TEST_WEEKS)]


def _holiday_days() -> tuple[np.ndarray, list[list[str]]]:
    """Per week: the number of US public-holiday days (the product's feature) and their names."""
    import holidays

    days = weeks()
    end = days[-1] + dt.timedelta(days=6)
    feats = calendar_features(Calendar(holidays=("US",)), days[0], end, "W")
    counts = np.array([feats[d.isoformat()]["holiday"] for d in days], dtype=float)
    us = holidays.country_holidays("US", years=range(days[0].year, end.year + 1))
    names = [[us[d + dt.timedelta(days=k)] for k in range(7) if d + dt.timedelta(days=k) in us] for d in days]
    return counts, names


def _season(rng: np.random.Generator, t: np.ndarray, shape: str) -> np.ndarray:
    if shape == "sine":
        return 1 + rng.uniform(0, 0.4) * np.sin(2 * np.pi * t / 52.18 + rng.uniform(0, 2 * np.pi))
    # "peaked": a sharp yearly peak (a few weeks wide) on a flat year, as a gift season makes it,
    # plus a shallow second bump: a shape a few sines cannot draw exactly.
    angle = 2 * np.pi * t / 52.18 + rng.uniform(0, 2 * np.pi)
    peak = np.exp(rng.uniform(5, 30) * (np.cos(angle) - 1))
    second = np.exp(rng.uniform(2, 6) * (np.cos(angle + rng.uniform(2, 4)) - 1))
    return 0.85 + rng.uniform(0.3, 1.5) * peak + rng.uniform(0, 0.3) * second


def generate(
    n: int = 300, seed: int = 19, dispersion: tuple[float, float] = (200.0, 15.0), shape: str = "sine"
) -> list[DriverSku]:
    rng = np.random.default_rng(seed)
    total = HISTORY_WEEKS + TEST_WEEKS
    t = np.arange(total, dtype=float)
    keys = [d.isoformat() for d in weeks()]
    holiday_count, holiday_names = _holiday_days()
    distinct = sorted({name for names in holiday_names for name in names})
    suite = []
    for i in range(n):
        level = float(np.exp(rng.uniform(np.log(20), np.log(500))))
        trend = np.maximum(1 + rng.uniform(-0.2, 0.3) * t / 52.18, 0.05)
        season = _season(rng, t, shape)
        promo = np.zeros(total)
        promo_mult = np.ones(total)
        uplift, rate = rng.uniform(0.3, 1.2), rng.uniform(0.04, 0.12)
        week = 0
        while week < total:
            if rng.random() < rate:
                length = int(rng.integers(1, 3))
                promo[week : week + length] = 1.0
                promo_mult[week : week + length] = 1 + uplift * rng.uniform(0.85, 1.15)
                week += length + 1  # a week at least between two promotions
            else:
                week += 1
        base_price = rng.uniform(2, 50)
        price = np.full(total, base_price)
        for change in np.sort(rng.choice(np.arange(4, total), size=rng.poisson(3), replace=False)):
            price[change:] *= rng.uniform(0.85, 1.15)
        price = np.round(price, 2)
        elasticity = rng.uniform(-3, -1)
        price_mult = (price / base_price) ** elasticity
        effect = rng.uniform(-0.3, 0.6)
        per_holiday = {name: effect * rng.uniform(0.8, 1.2) for name in distinct}
        holiday_mult = np.array([np.prod([1 + per_holiday[name] for name in names]) for names in holiday_names])
        mu = level * trend * season * promo_mult * price_mult * holiday_mult
        r = dispersion[i % 2]
        demand = rng.negative_binomial(r, r / (r + mu)).astype(float)
        test = slice(HISTORY_WEEKS, total)
        values = {
            "promo": dict(zip(keys, promo.tolist(), strict=True)),
            "price": dict(zip(keys, price.tolist(), strict=True)),
            "holiday": dict(zip(keys, holiday_count.tolist(), strict=True)),
        }
        suite.append(
            DriverSku(
                f"d{i:04d}",
                demand[:HISTORY_WEEKS],
                demand[test],
                mu[test],
                (level * trend * season)[test],
                values,
                promo[test] > 0,
                holiday_count[test] > 0,
                {
                    "promo": float(np.sum(mu[test] - mu[test] / promo_mult[test])),
                    "holiday": float(np.sum(mu[test] - mu[test] / holiday_mult[test])),
                },
                {"uplift": uplift, "elasticity": elasticity, "holiday_effect": effect},
                promo_mult[test],
            )
        )
    return suite
