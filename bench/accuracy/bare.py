"""Bare statsforecast models, as a planner with a notebook runs them: the reference `auto` must beat.

Each model is built with `season_length=12` and default arguments otherwise, and forecasts every
series from its full training data with `level=[80, 95]`, by calling the model's own `.forecast`
per series, which is what `StatsForecast(models=[...], freq="MS").forecast(df=..., h=h, level=[80, 95])`
does per series (tests/unit/bench/test_accuracy_bare.py checks the two agree).

A model that raises on a series or gives a non-finite value is recorded as failed there and the
series gets the naive forecast (statsforecast's `Naive`, the usual `fallback_model`) instead: a
planner would have to put something in the plan, and scoring every series keeps the means
comparable with `auto`'s. CPU time is `time.process_time` around one model's fits on all series.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SEASON = 12
LEVELS = (80, 95)


# the statsforecast class names, in the report's order; AutoARIMA last, it is by far the slowest
BARE_MODELS = ("AutoETS", "AutoTheta", "DynamicOptimizedTheta", "Theta", "AutoCES", "AutoARIMA")


def make_model(name: str) -> Any:
    """A fresh statsforecast model of that class: season length 12, default arguments otherwise."""
    if name not in BARE_MODELS:
        raise ValueError(f"unknown bare model {name!r}: one of {', '.join(BARE_MODELS)}")
    import statsforecast.models  # lazily: heavy, and only the bare path needs it

    return getattr(statsforecast.models, name)(season_length=SEASON)


@dataclass(frozen=True)
class Forecast:
    """h point forecasts and, per level, the (lo, hi) bands (the levels the forecast carries)."""

    mean: np.ndarray
    bands: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def finite(self) -> bool:
        arrays = [self.mean, *(a for band in self.bands.values() for a in band)]
        return all(bool(np.all(np.isfinite(a))) for a in arrays)


def covered(actual: np.ndarray, band: tuple[np.ndarray, np.ndarray]) -> int:
    """How many test points fall inside the band, bounds included."""
    lo, hi = band
    return int(np.sum((lo <= actual) & (actual <= hi)))


def forecast_of(result: dict[str, np.ndarray], levels: Sequence[int] = LEVELS) -> Forecast:
    """A statsforecast model's `.forecast` dict (`mean`, `lo-80`, `hi-80`, ...) as a Forecast."""
    bands = {lv: (np.asarray(result[f"lo-{lv}"], float), np.asarray(result[f"hi-{lv}"], float)) for lv in levels}
    return Forecast(np.asarray(result["mean"], float), bands)


def fit_one(model: Any, y: np.ndarray, h: int) -> Forecast | str:
    """One model on one series: its forecast, or why it cannot be used (raised, non-finite)."""
    try:
        with warnings.catch_warnings():  # statsforecast warns per series; the report counts failures
            warnings.simplefilter("ignore")
            result = model.forecast(y=y, h=h, level=list(LEVELS))
    except Exception as exc:  # any failure is a finding for this series, not a bench crash
        first = str(exc).splitlines()[0] if str(exc) else ""
        return f"{type(exc).__name__}: {first}"[:200]
    f = forecast_of(result)
    return f if f.finite() else "non-finite forecast"


def naive(y: np.ndarray, h: int) -> Forecast:
    """The fallback: the last value carried forward, with Naive's bands."""
    from statsforecast.models import Naive

    return forecast_of(Naive().forecast(y=y, h=h, level=list(LEVELS)))


@dataclass
class BareRun:
    """One model over the series of one data set: a forecast for every series, the series that
    fell back to naive (sku -> why), and the CPU and wall seconds of all the fits."""

    model: str
    forecasts: dict[str, Forecast] = field(default_factory=dict)
    fallbacks: dict[str, str] = field(default_factory=dict)
    cpu_s: float = 0.0
    wall_s: float = 0.0

    def cost(self) -> dict[str, float | None]:
        n = len(self.forecasts)
        return cost(self.cpu_s, n) | {"cpu_s": self.cpu_s, "wall_s": self.wall_s}


def cost(cpu_s: float, n: int) -> dict[str, float | None]:
    """CPU seconds per series and series per second per core (process CPU time)."""
    return {
        "cpu_s_per_series": cpu_s / n if n else None,
        "series_per_s_per_core": n / cpu_s if cpu_s > 0 else None,
    }


def run_model(name: str, series: Sequence[tuple[str, np.ndarray]], h: int) -> BareRun:
    """`name` on every (sku, training data) pair, each forecast h ahead."""
    model = make_model(name)
    run = BareRun(name)
    if series:  # warm-up outside the clock (JIT, first-call imports), as a notebook's kernel is warm
        fit_one(model, series[0][1], h)
    wall, cpu = time.perf_counter(), time.process_time()
    for sku, y in series:
        outcome = fit_one(model, y, h)
        if isinstance(outcome, str):
            run.fallbacks[sku] = outcome
            outcome = naive(y, h)
        run.forecasts[sku] = outcome
    run.cpu_s, run.wall_s = time.process_time() - cpu, time.perf_counter() - wall
    return run
