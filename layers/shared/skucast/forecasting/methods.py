"""Method registry: statsforecast models by name, the default candidates per demand class.

Each method is built per fit from the season length that the frequency implies (D 7, W 52, M 12)
and the history length: a seasonal model needs two full seasons, otherwise it gets season 1.
`native` methods return their own prediction intervals; the others get conformal intervals from
backtest errors (see `intervals.py`).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def _sf() -> Any:
    """statsforecast.models, imported at the first fit: listing methods (GET /methods, run
    validation) must not load statsforecast into the API function."""
    return importlib.import_module("statsforecast.models")


SEASON_LENGTHS = {"D": 7, "W": 52, "M": 12}
ENSEMBLE = "ensemble"
# The driver-aware ensemble: the class's candidates on the history without the drivers' estimated
# lift, combined, the future lift added back (exog.py, bench/accuracy/REPORT.md "Drivers").
ENSEMBLE_X = "ensemble_x"
# New SKUs with attributes: the launch profile of similar SKUs (analog.py). Not a statsforecast
# model: the engine applies it to `new` SKUs whose run found an attribute group for them.
ANALOG = "analog"
SMOOTH_LIKE = ("smooth", "erratic")
SPARSE = ("intermittent", "lumpy")


@dataclass(frozen=True)
class MethodInfo:
    name: str
    description: str
    demand_classes: tuple[str, ...]  # classes for which the default policy considers it


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    build: Callable[[int, int], Any]  # (season_length, n_obs) -> statsforecast model
    native: bool  # has its own prediction intervals
    # Methods that search a family of models: from a fitted model, the one form it chose (e.g.
    # ETS(M,Ad,A)) as a builder taking the season length. Backtest windows refit that form
    # instead of searching again, at a fraction of the cost.
    chosen_form: Callable[[Any], Callable[[int], Any]] | None = None
    # Takes the drivers as regressors (X, X_future); without them it runs on the history alone.
    # `coef`: from the fitted model, the regressors' coefficients (for the effects).
    coef: Callable[[Any], np.ndarray] | None = None


@dataclass(frozen=True)
class Form:
    """The model form a searching method chose on a series, and the season it was chosen at."""

    season_length: int
    build: Callable[[int], Any]


@dataclass(frozen=True)
class Prediction:
    mean: np.ndarray
    bounds: dict[int, tuple[np.ndarray, np.ndarray]] | None  # level -> (lo, hi); None = not native
    form: Form | None = None  # what a searching method chose (None for the others, or when refitting a form)
    coef: np.ndarray | None = None  # a regression method's coefficients on the regressors


class _Zero:
    """Forecasts zero with zero-width bounds: the method for inactive series."""

    def forecast(self, y: np.ndarray, h: int, level: Sequence[int] | None = None) -> dict[str, np.ndarray]:
        out = {"mean": np.zeros(h)}
        for lv in level or ():
            out[f"lo-{lv}"] = out[f"hi-{lv}"] = np.zeros(h)
        return out


def _ets_form(fitted: Any) -> Callable[[int], Any]:
    """statsforecast's ETS components read error, trend, season, damped: e.g. "MAAD" = ETS(M,Ad,A)."""
    error, trend, season, damped = fitted.model_["components"]
    return lambda m: _sf().AutoETS(season_length=m, model=error + trend + season, damped=damped == "D")


def _ces_form(fitted: Any) -> Callable[[int], Any]:
    kind = fitted.model_["seasontype"]
    return lambda m: _sf().AutoCES(season_length=m, model=kind)


def _arima_coef(model: dict) -> np.ndarray:
    """statsforecast's ARIMA names its regressors' coefficients ex_1, ex_2, ..."""
    coef = model["coef"]
    return np.array([coef[f"ex_{i}"] for i in range(1, sum(k.startswith("ex_") for k in coef) + 1)], float)


def _window_average(m: int, n: int) -> Any:
    return _sf().WindowAverage(window_size=max(1, min(m if m > 1 else 4, n)))


_METHODS: tuple[Method, ...] = (
    Method("naive", "Last value carried forward.", lambda m, n: _sf().Naive(), True),
    Method("seasonal_naive", "Value one season ago.", lambda m, n: _sf().SeasonalNaive(season_length=m), True),
    Method("historic_average", "Mean of the whole history.", lambda m, n: _sf().HistoricAverage(), True),
    Method("window_average", "Mean of the last season (or 4 periods).", _window_average, False),
    Method(
        "ses",
        "Simple exponential smoothing, optimized alpha.",
        lambda m, n: _sf().SimpleExponentialSmoothingOptimized(),
        False,
    ),
    Method(
        "ets",
        "ETS with additive error and season, trend chosen by AICc (N, A, Ad).",
        lambda m, n: _sf().AutoETS(season_length=m, model="AZA" if m > 1 else "AZN"),
        True,
    ),
    Method(
        "ets_damped",
        "ETS(A,Ad,A): additive error and season, damped trend; no trend search.",
        lambda m, n: _sf().AutoETS(season_length=m, model="AAA" if m > 1 else "AAN", damped=True),
        True,
    ),
    Method(
        "ets_level",
        "ETS(A,N,A): additive error and season, no trend; no search (fastest ETS).",
        lambda m, n: _sf().AutoETS(season_length=m, model="ANA" if m > 1 else "ANN"),
        True,
    ),
    Method(
        "ets_zza",
        "ETS with additive season; error (A or M) and trend (N, A, Ad) chosen by AICc.",
        lambda m, n: _sf().AutoETS(season_length=m, model="ZZA" if m > 1 else "ZZN"),
        True,
        _ets_form,
    ),
    Method(
        "auto_ets",
        "Full AutoETS search, multiplicative season included (slow on daily data).",
        lambda m, n: _sf().AutoETS(season_length=m),
        True,
        _ets_form,
    ),
    Method("theta", "Standard Theta on seasonally adjusted data.", lambda m, n: _sf().Theta(season_length=m), True),
    Method("optimized_theta", "Optimized Theta.", lambda m, n: _sf().OptimizedTheta(season_length=m), True),
    Method(
        "dynamic_optimized_theta",
        "Dynamic optimized Theta.",
        lambda m, n: _sf().DynamicOptimizedTheta(season_length=m),
        True,
    ),
    Method("auto_theta", "Theta family chosen by MSE (slow).", lambda m, n: _sf().AutoTheta(season_length=m), True),
    Method(
        "auto_ces",
        "Complex exponential smoothing, form chosen by AIC (slow).",
        lambda m, n: _sf().AutoCES(season_length=m),
        True,
        _ces_form,
    ),
    Method(
        "mstl",
        "STL season + ETS (no season) on the remainder.",
        lambda m, n: (
            _sf().MSTL(season_length=m, trend_forecaster=_sf().AutoETS(model="ZZN"))
            if m > 1
            else _sf().AutoETS(model="ZZN")
        ),
        True,
    ),
    Method(
        "mstl_damped",
        "STL season + damped-trend ETS(A,Ad,N) on the remainder; no ETS search.",
        lambda m, n: (
            _sf().MSTL(season_length=m, trend_forecaster=_sf().AutoETS(model="AAN", damped=True))
            if m > 1
            else _sf().AutoETS(model="AAN", damped=True)
        ),
        True,
    ),
    Method(
        "auto_arima",
        "AutoARIMA (slow: seconds per daily series).",
        lambda m, n: _sf().AutoARIMA(season_length=m),
        True,
    ),
    Method(
        "arima_x",
        "AutoARIMA with the SKU's known-in-advance drivers and calendar as regressors (slow).",
        lambda m, n: _sf().AutoARIMA(season_length=m),
        True,
        coef=lambda fitted: _arima_coef(fitted.model_),
    ),
    Method(
        "mstl_x",
        "STL season + AutoARIMA with the drivers and calendar as regressors on the remainder.",
        lambda m, n: _sf().MSTL(season_length=m, trend_forecaster=_sf().AutoARIMA()) if m > 1 else _sf().AutoARIMA(),
        True,
        coef=lambda fitted: _arima_coef(
            fitted.trend_forecaster.model_ if hasattr(fitted, "trend_forecaster") else fitted.model_
        ),
    ),
    Method("croston", "Croston's method.", lambda m, n: _sf().CrostonClassic(), False),
    Method("croston_sba", "Croston with the Syntetos-Boylan bias correction.", lambda m, n: _sf().CrostonSBA(), False),
    Method("croston_optimized", "Croston with optimized smoothing.", lambda m, n: _sf().CrostonOptimized(), False),
    Method(
        "tsb",
        "Teunter-Syntetos-Babai: smooths demand probability, reacts to obsolescence.",
        lambda m, n: _sf().TSB(alpha_d=0.1, alpha_p=0.1),
        False,
    ),
    Method("adida", "Aggregate-disaggregate intermittent demand approach.", lambda m, n: _sf().ADIDA(), False),
    Method("imapa", "Multiple temporal aggregation of intermittent demand.", lambda m, n: _sf().IMAPA(), False),
    Method("zero", "Zero forecast (no recent demand).", lambda m, n: _Zero(), True),
)
METHODS: dict[str, Method] = {m.name: m for m in _METHODS}

# Default candidates per demand class for method="auto" (measured in bench/accuracy/REPORT.md).
# Smooth/erratic at W and M (bench/accuracy/REPORT.md, "Monthly policy", "Synthetic weekly suite"):
# the mean of an ETS with additive season whose error and trend are searched, DynamicOptimizedTheta
# and MSTL beat every single model and the previous {ets AZA, theta, mstl} median on M1, Tourism
# and the weekly suite, at a fraction of full AutoETS's or AutoCES's cost; picking a single member
# by its backtest lost accuracy, so the mean is kept (ENSEMBLE_MARGIN).
_SMOOTH = ("ets_zza", "dynamic_optimized_theta", "mstl")
DEFAULT_POLICY: dict[str, tuple[str, ...]] = {
    "smooth": _SMOOTH,
    "erratic": _SMOOTH,
    "intermittent": ("croston_sba", "tsb", "adida", "imapa"),
    "lumpy": ("croston_sba", "tsb", "adida", "imapa"),
    "new": ("window_average", "naive", "historic_average"),
    "inactive": ("zero",),
}
# Per-frequency overrides of DEFAULT_POLICY (classes not listed keep the default); measured in
# bench/accuracy/REPORT.md ("Daily speed levers"). Daily: ETS with its trend search (AZA, three
# fits) is most of the smooth path's time; the fixed ETS(A,N,A) is several times cheaper and, at
# horizon 28 inside the median ensemble, no less accurate on synthetic daily demand (also with
# strong trends). A shorter daily fit window was faster but lost accuracy, so the window stays 364.
_DAILY_SMOOTH = ("ets_level", "theta", "mstl")
FREQUENCY_POLICY: dict[str, dict[str, tuple[str, ...]]] = {
    "D": {"smooth": _DAILY_SMOOTH, "erratic": _DAILY_SMOOTH},
}
# How auto's ensemble combines its members, and the share by which a single member's backtest
# score must beat the ensemble's to replace it (1.0: never), per frequency.
COMBINATION: dict[str, str] = {"D": "median", "W": "mean", "M": "mean"}
ENSEMBLE_MARGIN: dict[str, float] = {"D": 0.2, "W": 1.0, "M": 1.0}
# Native intervals are scaled to their backtest errors. On the daily and weekly suites the
# finite-sample (conformal) quantile over-covered by 3-8 points at 80 %, so D and W take the plain
# empirical quantile; on M1 and Tourism the conformal one is needed (M1's test errors outgrow its
# backtest's).
CONFORMAL_CALIBRATION: dict[str, bool] = {"D": False, "W": False, "M": True}
FALLBACK = "historic_average"
# Drivers (bench/accuracy/REPORT.md, "Drivers"): for a SKU with usable drivers, auto adds these
# driver-aware candidates for its class and anchors selection on ENSEMBLE_X (a history-only
# candidate must beat it by ENSEMBLE_MARGIN); a driver-aware single (a regression method, an
# external global model) must beat it by DRIVER_MARGIN (30 %: at 10 % the global model won a
# few backtests by chance and lost the test window, on the driver suite's tuning seed). Sparse
# and new SKUs keep the history-only candidates (a log-scale regression on mostly-zero demand
# estimates nothing useful); external candidates join every class.
DRIVER_POLICY: dict[str, tuple[str, ...]] = {"smooth": (ENSEMBLE_X,), "erratic": (ENSEMBLE_X,)}
DRIVER_MARGIN = 0.3


def policy_for(
    frequency: str,
    policy: Mapping[str, tuple[str, ...]] = DEFAULT_POLICY,
    overrides: Mapping[str, Mapping[str, tuple[str, ...]]] = FREQUENCY_POLICY,
) -> dict[str, tuple[str, ...]]:
    """auto's candidates per demand class at `frequency`: `policy` with that frequency's overrides."""
    return {**policy, **overrides.get(frequency, {})}


def method_names() -> list[str]:
    return [*METHODS, ENSEMBLE, ANALOG]


def list_methods(
    policy: Mapping[str, tuple[str, ...]] = DEFAULT_POLICY,
    overrides: Mapping[str, Mapping[str, tuple[str, ...]]] = FREQUENCY_POLICY,
) -> list[MethodInfo]:
    """What `GET /methods` serves: every name a user may ask for, plus `auto`. A method's classes
    are those for which auto considers it at any frequency."""
    policies = [policy, *(policy_for(f, policy, overrides) for f in overrides)]
    infos = [
        MethodInfo(
            "auto",
            "Per SKU: the class's candidates (and their median ensemble) scored by backtest; the best one wins.",
            tuple(policy),
        )
    ]
    for m in _METHODS:
        infos.append(
            MethodInfo(
                m.name,
                m.description,
                tuple(c for c in policy if any(m.name in p.get(c, ()) for p in policies)),
            )
        )
    infos.append(
        MethodInfo(
            ENSEMBLE,
            "Median of the class's default candidates.",
            tuple(c for c, names in policy.items() if len(names) > 1),
        )
    )
    infos.append(
        MethodInfo(
            ANALOG,
            "New SKUs with attributes: the launch profile of established SKUs sharing their attribute values, "
            "scaled to the SKU's own few points; the other SKUs as auto.",
            ("new",),
        )
    )
    return infos


# statsforecast's ETS fits no season longer than this (at weekly data's 52 it fits none).
NATIVE_SEASON_MAX = 24


def effective_season(season_length: int, n_obs: int) -> int:
    """Seasonal models need two full seasons; with less they run non-seasonal."""
    return season_length if season_length > 1 and n_obs >= 2 * season_length else 1


def predict(
    name: str,
    y: np.ndarray,
    h: int,
    season_length: int,
    levels: Sequence[int],
    form: Form | None = None,
    X: np.ndarray | None = None,
    X_future: np.ndarray | None = None,
) -> Prediction:
    """Fit `name` on y and forecast h steps; never-negative mean, native bounds when available.
    With the `form` an earlier fit of a searching method chose, refit that form (when the series
    still supports the same season); a search reports the form it chose. A regression method
    given X (n, k) and X_future (h, k) fits them as regressors and reports their coefficients.

    Raises on model failure or non-finite output: callers fall back per series.
    """
    method = METHODS[name]
    season = effective_season(season_length, y.size)
    want = list(levels) if method.native and levels else None
    chosen, coef = None, None
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if method.coef is not None and X is not None and X_future is not None:
            fitted = method.build(season, y.size).fit(y=y, X=X)
            out = fitted.predict(h=h, X=X_future, level=want)
            coef = method.coef(fitted)
        elif form is not None and form.season_length == season:
            out = form.build(season).forecast(y=y, h=h, level=want)
        elif method.chosen_form is not None:
            fitted = method.build(season, y.size).fit(y=y)
            out = fitted.predict(h=h, level=want)
            chosen = Form(season, method.chosen_form(fitted))
        else:
            out = method.build(season, y.size).forecast(y=y, h=h, level=want)
    mean = np.asarray(out["mean"], dtype=np.float64)
    if mean.shape != (h,) or not np.all(np.isfinite(mean)):
        raise ValueError(f"{name} returned a non-finite forecast")
    bounds = None
    if want:
        bounds = {lv: (np.asarray(out[f"lo-{lv}"], float), np.asarray(out[f"hi-{lv}"], float)) for lv in want}
        if not all(np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) for lo, hi in bounds.values()):
            bounds = None
    return Prediction(np.maximum(mean, 0.0), bounds, chosen, coef)
