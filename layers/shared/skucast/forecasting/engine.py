"""Forecast a batch of SKUs: validate, aggregate, classify, backtest, select, forecast.

Pure domain code: no AWS, no environment; everything it needs is in `ForecastSpec` and
`EngineConfig`. One series' bad data never fails the batch: it gets the fallback method or a
per-series `error`, and results come back one per input, in input order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from skucast.forecasting import analog, exog
from skucast.forecasting.analog import Profile as AnalogProfile
from skucast.forecasting.backtest import Exog, Outcome, Plan, run
from skucast.forecasting.classification import (
    ClassificationConfig,
    classify_periods,
    trim_daily,
    trim_leading_zeros,
)
from skucast.forecasting.methods import (
    ANALOG,
    COMBINATION,
    CONFORMAL_CALIBRATION,
    DEFAULT_POLICY,
    DRIVER_MARGIN,
    DRIVER_POLICY,
    ENSEMBLE,
    ENSEMBLE_MARGIN,
    ENSEMBLE_X,
    FREQUENCY_POLICY,
    METHODS,
    SEASON_LENGTHS,
    policy_for,
)
from skucast.forecasting.metrics import MetricSums, naive_scale, seasonal_naive
from skucast.forecasting.periods import (
    GRAIN_NAMES,
    GRAIN_ORDER,
    aggregate_with_counts,
    align_to_origin,
    containing_period,
    next_period,
    period_start,
    periods_from,
    prorate_partial,
)
from skucast.forecasting.thresholds import check_frequency


@dataclass(frozen=True)
class ForecastSpec:
    horizon: int  # periods at `frequency`, 1..366
    frequency: str = "D"  # "D" | "W" | "M"
    levels: tuple[int, ...] = (80, 95)
    method: str = "auto"  # "auto" or a registered method name
    backtest_windows: int = 1  # 0..5
    # The forecast origin: every SKU's history runs through the period holding this day and its
    # forecast starts at the next period. None: each SKU's own last period (engine-only use).
    as_of: dt.date | None = None

    def __post_init__(self) -> None:
        check_frequency(self.frequency)
        if not 1 <= self.horizon <= 366:
            raise ValueError("horizon must be in 1..366")
        if not 0 <= self.backtest_windows <= 5:
            raise ValueError("backtest_windows must be in 0..5")
        if any(not 50 <= lv <= 99 for lv in self.levels):
            raise ValueError("levels must be integers in 50..99")
        if self.method not in ("auto", ENSEMBLE, ANALOG) and self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any], as_of: str | None) -> ForecastSpec:
        """A run's stored parameters and its origin (ISO; None: each SKU's own last period) as the
        engine's spec: one reading for the forecast batches, the training stage and node batches."""
        return cls(
            as_of=dt.date.fromisoformat(as_of) if as_of else None,
            horizon=int(params["horizon"]),
            frequency=str(params.get("frequency", "D")),
            levels=tuple(int(v) for v in params.get("levels", (80, 95))),
            method=str(params.get("method", "auto")),
            backtest_windows=int(params.get("backtest_windows", 1)),
        )


@dataclass(frozen=True)
class Features:
    """What the tenant's drivers and calendar say about one SKU at the run's frequency: each
    feature's value per period, keyed by the period's first day (ISO), past and future. Built by
    services/features.py (roll-up by each driver's rule, scenario changes applied); the engine
    aligns them with the SKU's history and horizon. Names: a driver's name, "holiday", or
    "event:<name>"."""

    values: Mapping[str, Mapping[str, float]]  # feature -> period start (ISO) -> value
    kinds: Mapping[str, str]  # feature -> "numeric" | "flag" | "holiday" | "event"
    # Features whose future values are expected (drivers declared known_in_advance; the calendar).
    known_in_advance: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ExternalForecast:
    """A candidate forecast computed outside the per-SKU fits: the global model of the SKU's
    training shard (forecasting/global_model.py). `final` covers the run's horizon from the run's
    first forecast period; `windows[j]` the horizon from backtest origin j (0 = most recent, the
    origin `horizon * (j + 1)` periods before the first forecast period), predicted by a model
    trained only on data before that origin. `effects`: what each feature adds over the final
    horizon, [{name, units}]; or `explain`, which computes them when asked (only for a SKU whose
    forecast is this candidate: the contributions cost more than the prediction itself)."""

    name: str
    final: np.ndarray
    windows: Mapping[int, np.ndarray] = field(default_factory=dict)
    effects: tuple[dict, ...] = ()
    explain: Callable[[], tuple[dict, ...]] | None = None

    def feature_effects(self) -> tuple[dict, ...]:
        return self.explain() if self.explain is not None else self.effects


@dataclass(frozen=True)
class SeriesInput:
    sku: str
    start: dt.date  # date of values[0]: the first day of its period
    values: np.ndarray  # one value per period of `granularity`, float64, gaps already filled with 0
    granularity: str = "D"  # the grain the demand was recorded at: "D", "W" (weeks from start's weekday), "M"
    # Which periods had a row, when a period without one is unknown rather than zero demand (the
    # upload's `missing: "unknown"`); None: every period counts as it is.
    recorded: np.ndarray | None = None
    features: Features | None = None  # None: history only
    external: tuple[ExternalForecast, ...] = ()
    # The launch profile of the SKU's attribute group (analog.py), when the run found one: used if
    # the SKU is `new` at the run's frequency and the run's method is auto or analog.
    analog: AnalogProfile | None = None


@dataclass
class SkuForecast:
    sku: str
    demand_class: str
    method: str
    forecast: list[dict]  # [{"date", "mean", "lo_80", "hi_80", ...}] at the run frequency; date = period start
    metrics: dict  # finalized per-SKU metrics; {} when backtest_windows == 0
    metric_sums: MetricSums  # additive partial sums for run-level aggregation
    candidates: dict[str, float | None]  # candidate -> backtest score (lower is better)
    reason: str
    error: dict | None
    # For scoring against actuals (services/scoring.py): the in-sample seasonal-naive MAE of the
    # history the run used (MASE's scale; None when undefined) and the seasonal-naive benchmark,
    # one value per forecast point.
    scale: float | None = None
    naive: list[float] | None = None
    # Drivers: the features the chosen forecast used, what each adds over the horizon
    # ([{name, units, share}]), and per-SKU warnings ([{code, message}], e.g. a known-in-advance
    # driver without future values and what was assumed instead).
    drivers_used: list[str] = field(default_factory=list)
    effects: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    # An analog forecast: {group: {<attribute>: value}, members: n, level: units per period}.
    analog: dict | None = None


@dataclass(frozen=True)
class EngineConfig:
    """classification: thresholds; policy: auto's candidates per class; frequency_policy: per
    frequency, classes whose candidates differ from `policy` (the daily fast path, the monthly
    policy); ensemble: whether auto also scores the combination of the candidates; combination:
    per frequency, median or mean; conformal: per frequency, how native intervals are calibrated
    (intervals.width_multipliers); ensemble_margin: per frequency, share by which a single
    method's backtest score must beat the ensemble's to replace it (bench/accuracy/REPORT.md);
    max_history: most recent periods fitted per frequency
    (D capped at 52 weeks: fit cost grows with it, but 182 days lost accuracy on the bench's daily suite)."""

    classification: ClassificationConfig = field(default_factory=ClassificationConfig)
    policy: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType(dict(DEFAULT_POLICY)))
    frequency_policy: Mapping[str, Mapping[str, tuple[str, ...]]] = field(
        default_factory=lambda: MappingProxyType(dict(FREQUENCY_POLICY))
    )
    ensemble: bool = True
    combination: Mapping[str, str] = field(default_factory=lambda: MappingProxyType(dict(COMBINATION)))
    ensemble_margin: Mapping[str, float] = field(default_factory=lambda: MappingProxyType(dict(ENSEMBLE_MARGIN)))
    conformal: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType(dict(CONFORMAL_CALIBRATION)))
    max_history: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({"D": 364, "W": 520, "M": 144}))
    # For a SKU with usable drivers: auto's driver-aware candidates per class, and the margin by
    # which a driver-aware single must beat the driver-aware ensemble (methods.DRIVER_POLICY).
    drivers: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType(dict(DRIVER_POLICY)))
    driver_margin: float = DRIVER_MARGIN
    driver_anchor: bool = True  # False: driver-aware candidates compete on backtest score alone


def _error(sku: str, code: str, message: str) -> SkuForecast:
    return SkuForecast(sku, "unknown", "none", [], {}, MetricSums(), {}, message, {"code": code, "message": message})


@dataclass(frozen=True)
class History:
    y: np.ndarray  # at the run's frequency, from the first sale
    first: dt.date  # the period after the history
    skip: int  # periods from `first` to the run's first forecast period (unknown trailing periods)


def _first_forecast(as_of: dt.date, grain: str, week_day: int, frequency: str) -> dt.date:
    """The period after the one holding `as_of`: in the data's own periods at its grain (weekly
    data keeps its weekday), in calendar periods at a coarser frequency."""
    if frequency == grain:
        return next_period(containing_period(as_of, grain, week_day), grain)
    return next_period(period_start(as_of, frequency), frequency)


def _known(item: SeriesInput, values: np.ndarray) -> tuple[np.ndarray, int] | None:
    """For a series whose missing periods are unknown: the values through its last recorded
    period with the unrecorded ones inside interpolated, and that period's index; None when no
    period was recorded."""
    recorded = np.asarray(item.recorded, dtype=bool).ravel()[: values.size]
    seen = np.flatnonzero(recorded)
    if seen.size == 0:
        return None
    last = int(seen[-1])
    values = values[: last + 1]
    if seen.size <= last:  # gaps inside: a straight line between the neighbouring rows
        values = np.interp(np.arange(last + 1), seen, values[seen])
    return values, last


def _history(item: SeriesInput, spec: ForecastSpec) -> History | SkuForecast:
    """The SKU's history at the run's frequency through the origin; or an error result. A period
    of the data's own grain is whole; only daily data can end mid-period (pro-rated: see
    periods.prorate_partial). Periods between the last row and the origin are zero demand, unless
    the series says missing periods are unknown: its history then ends at its last row and the
    forecast reaches across the gap (`skip`)."""
    values = np.asarray(item.values, dtype=np.float64).ravel()
    grain, frequency = item.granularity, spec.frequency
    if values.size == 0:
        return _error(item.sku, "empty_series", "no history")
    if GRAIN_ORDER[frequency] < GRAIN_ORDER[grain]:
        return _error(
            item.sku,
            "granularity_too_coarse",
            f"This SKU's demand is recorded {GRAIN_NAMES[grain]}; a {GRAIN_NAMES[frequency]} forecast would "
            f"have to invent how each period splits. Run at frequency {grain} or coarser.",
        )
    if not np.all(np.isfinite(values)):
        return _error(item.sku, "non_finite_values", "history contains NaN or infinite values")
    values = np.maximum(values, 0.0)  # returns/corrections are not demand
    week_day = item.start.weekday()
    as_of = spec.as_of or next_period(item.start, grain, values.size - 1)
    run_first = _first_forecast(as_of, grain, week_day, frequency)
    if item.recorded is not None:
        known = _known(item, values)
        if known is None:
            return _error(item.sku, "no_recorded_periods", "no period of this SKU has a row")
        values, last = known
        as_of = min(as_of, next_period(item.start, grain, last))
    origin = containing_period(as_of, grain, week_day)
    values = align_to_origin(item.start, values, grain, origin)
    first = _first_forecast(as_of, grain, week_day, frequency)
    skip = periods_from(first, run_first, frequency)
    if frequency == grain:  # whole periods: nothing to aggregate or pro-rate
        return History(trim_leading_zeros(values), first, skip)
    start, daily = item.start, values
    if grain == "W":  # a week's demand spread evenly over its days, up to the origin's period end
        daily = np.repeat(values / 7.0, 7)[: (first - start).days]
    start, trimmed = trim_daily(start, daily)
    if trimmed.size == 0:
        return History(np.zeros(0), first, skip)
    starts, sums, counts = aggregate_with_counts(start, trimmed, frequency)
    return History(prorate_partial(starts, sums, counts, frequency), first, skip)


def history_at_frequency(item: SeriesInput, spec: ForecastSpec) -> History | None:
    """The SKU's history as a run at `spec` fits it (None when it has none to fit): what the
    global model trains on, aligned exactly as the per-SKU fits see it."""
    hist = _history(item, spec)
    return hist if isinstance(hist, History) else None


def _plan(y: np.ndarray, demand_class: str, spec: ForecastSpec, config: EngineConfig) -> Plan:
    policy = policy_for(spec.frequency, {**DEFAULT_POLICY, **config.policy}, config.frequency_policy)
    if spec.method in ("auto", ANALOG):  # analog: auto, except new SKUs with a group (forecast_one)
        candidates = tuple(policy[demand_class])
        ensemble = config.ensemble and len(candidates) > 1
    elif spec.method == ENSEMBLE:
        candidates, ensemble = tuple(policy[demand_class]), True
    else:
        candidates, ensemble = (spec.method,), False
    return Plan(
        spec.horizon,
        SEASON_LENGTHS[spec.frequency],
        tuple(sorted(set(spec.levels))),
        candidates,
        ensemble,
        spec.backtest_windows,
        demand_class,
        config.ensemble_margin.get(spec.frequency, 0.2),
        config.combination.get(spec.frequency, "median"),
        config.conformal.get(spec.frequency, True),
    )


def _rows(outcome: Outcome, first: dt.date, frequency: str) -> list[dict]:
    rows = []
    for i, mean in enumerate(outcome.mean):
        row: dict = {"date": next_period(first, frequency, i).isoformat(), "mean": float(mean)}
        for lv, (lo, hi) in outcome.bounds.items():
            row[f"lo_{lv}"], row[f"hi_{lv}"] = float(lo[i]), float(hi[i])
        rows.append(row)
    return rows


# An unknown gap a forecast may reach across: beyond it the history is too old to project.
MAX_SKIP_PERIODS = 366


@dataclass(frozen=True)
class _Drivers:
    plan: Plan
    names: tuple[str, ...]  # the design's features, in X's column order
    external: Mapping[str, ExternalForecast]
    warnings: list[dict]


def _with_drivers(
    item: SeriesInput, hist: History, y: np.ndarray, plan: Plan, spec: ForecastSpec, config: EngineConfig
) -> _Drivers | None:
    """The plan with the SKU's usable drivers and external candidates; None when it has neither
    (the SKU then takes the history-only path unchanged). External candidates are aligned with
    the run's first forecast period, so a SKU forecast across an unknown gap does not use them."""
    design: exog.Design | None = None
    warnings: list[dict] = []
    if item.features is not None and hist.y.size:
        f = item.features
        design, warnings = exog.align(
            dict(f.values), dict(f.kinds), f.known_in_advance, y.size, hist.first, spec.frequency, plan.horizon
        )
    # (an external candidate named like a method would shadow it: not used)
    reserved = {*METHODS, ENSEMBLE, ENSEMBLE_X}
    external = {e.name: e for e in item.external if e.name not in reserved} if hist.skip == 0 else {}
    if design is None and not external:
        return _Drivers(plan, (), {}, warnings) if warnings else None
    auto = spec.method in ("auto", ANALOG)
    drivers = tuple(config.drivers.get(plan.demand_class, ())) if auto and design is not None else ()
    drivers += tuple(external) if auto else ()
    ex = Exog(
        design.X if design else np.zeros((y.size, 0)),
        design.future if design else np.zeros((plan.horizon, 0)),
        design.kinds if design else (),
        {e.name: (e.final, e.windows) for e in external.values()},
    )
    plan = dataclasses.replace(
        plan, exog=ex, drivers=drivers, driver_margin=config.driver_margin, driver_anchor=config.driver_anchor
    )
    return _Drivers(plan, design.names if design else (), external, warnings)


def _effects(outcome: Outcome, drivers: _Drivers, skip: int) -> list[dict]:
    """What each driver adds over the shown horizon, in units and as a share of the forecast."""
    total = float(np.sum(outcome.mean[skip:]))
    if outcome.method in drivers.external:
        units = [(str(e["name"]), float(e["units"])) for e in drivers.external[outcome.method].feature_effects()]
    elif outcome.effects is not None and outcome.effects.shape[1] == len(drivers.names):
        sums = outcome.effects[skip:].sum(axis=0)
        units = [(name, float(u)) for name, u in zip(drivers.names, sums, strict=True)]
    else:
        return []
    return [{"name": n, "units": u, "share": u / total if total > 0 else 0.0} for n, u in units if u != 0.0]


def forecast_one(item: SeriesInput, spec: ForecastSpec, config: EngineConfig = EngineConfig()) -> SkuForecast:
    hist = _history(item, spec)
    if isinstance(hist, SkuForecast):
        return hist
    if hist.skip > MAX_SKIP_PERIODS:
        return _error(
            item.sku,
            "stale_history",
            f"This SKU's last row is {hist.skip} periods before the run's origin and its missing periods are "
            "unknown: too long a gap to forecast across.",
        )
    y = hist.y[-config.max_history.get(spec.frequency, hist.y.size) :] if hist.y.size else hist.y
    cls = classify_periods(y, config.classification, spec.frequency)
    # A new SKU with a group borrows its launch profile; so does one never sold yet (described by
    # its attributes, listed with zero rows): it is taken to launch in the first forecast period.
    if (cls.demand_class == "new" or y.size == 0) and item.analog is not None and spec.method in ("auto", ANALOG):
        return _analog(item.sku, item.analog, y, hist, spec)
    if y.size == 0:  # never sold: nothing to fit, the forecast is zero
        y = np.zeros(1)
    # Across an unknown gap the model forecasts skip + horizon periods; the run shows the last ones.
    plan = dataclasses.replace(_plan(y, cls.demand_class, spec, config), horizon=spec.horizon + hist.skip)
    drivers = _with_drivers(item, hist, y, plan, spec, config) if item.features is not None or item.external else None
    if drivers is not None:
        plan = drivers.plan
    try:
        outcome = run(y, plan)
    except Exception as exc:  # defensive: run() already falls back, this keeps the batch alive
        return _error(item.sku, "forecast_failed", f"{type(exc).__name__}: {exc}")
    metrics = outcome.metric_sums.finalize() if spec.backtest_windows and outcome.metric_sums.n_points else {}
    season = SEASON_LENGTHS[spec.frequency]
    naive = seasonal_naive(y, season, plan.horizon)[hist.skip :]
    effects = _effects(outcome, drivers, hist.skip) if drivers is not None else []
    return SkuForecast(
        item.sku,
        cls.demand_class,
        outcome.method,
        _rows(outcome, hist.first, spec.frequency)[hist.skip :],
        metrics,
        outcome.metric_sums,
        outcome.scores,
        outcome.reason,
        None,
        naive_scale(y, season),
        [float(v) for v in naive],
        [e["name"] for e in effects],
        effects,
        drivers.warnings if drivers is not None else [],
    )


def _analog(sku: str, profile: analog.Profile, y: np.ndarray, hist: History, spec: ForecastSpec) -> SkuForecast:
    """A new SKU forecast from its group's launch profile (analog.py): no backtest (too little
    history to hold out), intervals from the members' spread at each age."""
    levels = tuple(sorted(set(spec.levels)))
    mean, bounds, level = analog.forecast(profile, y, spec.horizon, hist.skip, levels)
    rows = []
    for i, value in enumerate(mean):
        row: dict = {"date": next_period(hist.first, spec.frequency, hist.skip + i).isoformat(), "mean": float(value)}
        for lv, (lo, hi) in bounds.items():
            row[f"lo_{lv}"], row[f"hi_{lv}"] = float(lo[i]), float(hi[i])
        rows.append(row)
    season = SEASON_LENGTHS[spec.frequency]
    group = ", ".join(f"{k}={v}" for k, v in profile.group.items())
    return SkuForecast(
        sku,
        "new",
        ANALOG,
        rows,
        {},
        MetricSums(),
        {},
        f"new SKU: launch profile of {profile.members} established SKUs with {group}, at its age",
        None,
        naive_scale(y, season),
        [float(v) for v in seasonal_naive(y, season, spec.horizon + hist.skip)[hist.skip :]],
        analog={"group": dict(profile.group), "members": profile.members, "level": level},
    )


def forecast_batch(
    series: Sequence[SeriesInput], spec: ForecastSpec, config: EngineConfig = EngineConfig()
) -> list[SkuForecast]:
    """One result per input, in input order; never raises because of one series' data.

    Model calls go straight to the statsforecast model objects (what StatsForecast does inside
    its per-series loop) to skip building DataFrames and to keep per-series fallback here.
    """
    return [forecast_one(item, spec, config) for item in series]
