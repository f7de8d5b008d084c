"""The global gradient-boosted model: one LightGBM regressor (through mlforecast) trained across
the SKUs of a training shard, with lags, calendar position, drivers and calendar features.

Pure domain code: no AWS. `train` fits one model per origin - the final one on all history and
one per backtest window j, trained only on data before the origin `horizon * (j + 1)` periods
before the first forecast period - and returns them as bytes; `predict` turns those bytes and the
SKUs' features (future values included, a scenario's changes applied) into one
`ExternalForecast` per SKU the shard trained on. The same bytes and inputs predict the same bits
(LightGBM deterministic, one seed, fixed threads), so a scenario without changes equals its base.

Why these choices:
- Each series is divided by its mean demand before training (and multiplied back after), so
  SKUs selling 2 and 2,000 a day share one model; LightGBM's per-feature contributions are
  additive in that scaled space, so times the scale they are units.
- Periods are integer steps (`ds` 0..n-1 per SKU) and calendar position is supplied as features
  from each SKU's own period dates: weekly data may start its weeks on any weekday, which a
  pandas frequency per shard could not express.
- Missing driver values are NaN, which LightGBM routes as missing (never a silent zero); an
  absent holiday or event is 0, since the calendar lists every one it knows.
"""

from __future__ import annotations

import datetime as dt
import functools
import pickle
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from skucast.forecasting.engine import (
    ExternalForecast,
    Features,
    ForecastSpec,
    SeriesInput,
    history_at_frequency,
)
from skucast.forecasting.periods import next_period

NAME = "global_lgbm"
FORMAT = 1  # bumps when the serialized layout changes

# Lags per run frequency: the recent periods and one season back (a year for W, M).
LAGS: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {"D": (1, 2, 3, 7, 14, 21, 28), "W": (1, 2, 3, 4, 8, 13, 26, 52), "M": (1, 2, 3, 6, 12)}
)
# Calendar position features per frequency (computed from each period's first day).
CALENDAR: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"D": ("dayofweek", "dayofmonth", "month"), "W": ("weekofyear", "month"), "M": ("month",)}
)


@dataclass(frozen=True)
class GlobalConfig:
    n_estimators: int = 200
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 20
    num_threads: int = 1
    seed: int = 0
    # Periods a SKU needs before an origin for the model of that origin to take it.
    min_periods: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({"D": 56, "W": 26, "M": 24}))
    # Most recent periods trained on per SKU (as the per-SKU fits: EngineConfig.max_history).
    max_history: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({"D": 364, "W": 520, "M": 144}))


def windows_for(spec: ForecastSpec) -> int:
    """Backtest windows the global model trains: at least two, so the backtest can score it."""
    return max(spec.backtest_windows, 2)


def offsets(spec: ForecastSpec) -> list[int]:
    """Periods cut from the end of history per model: the final model (0), then window j."""
    return [0] + [spec.horizon * (j + 1) for j in range(windows_for(spec))]


# ---------------------------------------------------------------- data layout
def _missing_value(kind: str) -> float:
    return 0.0 if kind in ("holiday", "event") else float("nan")


def _feature_names(features: Mapping[str, Features], skus: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The shard's feature names (sorted: one column order for every model) and their kinds."""
    kinds: dict[str, str] = {}
    for sku in skus:
        f = features.get(sku)
        if f is not None:
            for name in f.values:
                kinds.setdefault(name, f.kinds.get(name, "numeric"))
    return sorted(kinds), kinds


@dataclass(frozen=True)
class _Block:
    """Periods `first`..`first+count-1` of one SKU whose period 0 starts on `start`."""

    sku: str
    start: dt.date
    first: int
    count: int


def _dates(block: _Block, frequency: str) -> np.ndarray:
    steps = np.arange(block.first, block.first + block.count)
    if frequency == "M":
        return (np.datetime64(block.start, "M") + steps).astype("datetime64[D]")
    return np.datetime64(block.start, "D") + steps * (7 if frequency == "W" else 1)


def _frame(
    blocks: Sequence[_Block],
    names: Sequence[str],
    kinds: Mapping[str, str],
    features: Mapping[str, Features],
    frequency: str,
) -> Any:
    """The exogenous frame (unique_id, ds, x0.., cal_..) of these blocks, built column-wise: a
    shard is hundreds of thousands of rows."""
    import pandas as pd

    counts = [b.count for b in blocks]
    dates = np.concatenate([_dates(b, frequency) for b in blocks]) if blocks else np.zeros(0, "datetime64[D]")
    iso = dates.astype(str).tolist()
    columns: dict[str, Any] = {
        "unique_id": np.repeat(np.array([b.sku for b in blocks], dtype=object), counts),
        "ds": np.concatenate([np.arange(b.first, b.first + b.count) for b in blocks]) if blocks else [],
    }
    offsets = np.concatenate([[0], np.cumsum(counts)])
    for i, name in enumerate(names):
        missing = _missing_value(kinds[name])
        col = np.full(len(iso), missing)
        for j, block in enumerate(blocks):
            f = features.get(block.sku)
            values = f.values.get(name) if f is not None else None
            if values:
                lo, hi = int(offsets[j]), int(offsets[j + 1])
                col[lo:hi] = [values.get(d, missing) for d in iso[lo:hi]]
        columns[f"x{i}"] = col
    index = pd.DatetimeIndex(dates)
    position = {
        "dayofweek": index.dayofweek,
        "dayofmonth": index.day,
        "weekofyear": index.isocalendar().week.to_numpy() if len(index) else index.day,
        "month": index.month,
    }
    for c in CALENDAR[frequency]:
        columns[f"cal_{c}"] = np.asarray(position[c], dtype=np.float64)
    return pd.DataFrame(columns)


@dataclass(frozen=True)
class _Series:
    y: np.ndarray
    start: dt.date  # first day of y[0]'s period


def _eligible(items: Sequence[SeriesInput], spec: ForecastSpec, config: GlobalConfig) -> dict[str, _Series]:
    """The SKUs the global model forecasts: a history ending at the run's origin (skip 0), long
    enough for the final model."""
    out: dict[str, _Series] = {}
    keep = config.max_history.get(spec.frequency, 10**9)
    for item in items:
        hist = history_at_frequency(item, spec)
        if hist is None or hist.skip > 0:
            continue
        y = hist.y[-keep:]
        if y.size < config.min_periods[spec.frequency]:
            continue
        out[item.sku] = _Series(np.asarray(y, dtype=np.float64), next_period(hist.first, spec.frequency, -y.size))
    return out


def _regressor(config: GlobalConfig) -> Any:
    import lightgbm as lgb

    return lgb.LGBMRegressor(
        n_estimators=config.n_estimators,
        learning_rate=config.learning_rate,
        num_leaves=config.num_leaves,
        min_child_samples=config.min_child_samples,
        random_state=config.seed,
        deterministic=True,
        force_row_wise=True,
        n_jobs=config.num_threads,
        verbosity=-1,
    )


def _scale(y: np.ndarray) -> float:
    mean = float(np.mean(y)) if y.size else 0.0
    return mean if mean > 1e-9 else 1.0


# ---------------------------------------------------------------- training
def train(
    items: Sequence[SeriesInput],
    features: Mapping[str, Features],
    spec: ForecastSpec,
    config: GlobalConfig = GlobalConfig(),
) -> bytes:
    """Fit the shard's models (final and per backtest window) and serialize them."""
    from mlforecast import MLForecast

    series = _eligible(items, spec, config)
    names, kinds = _feature_names(features, list(series))
    freq = spec.frequency
    # One frame of every SKU's whole history; each origin's model trains on the rows before it.
    full = _frame([_Block(sku, s.start, 0, s.y.size) for sku, s in series.items()], names, kinds, features, freq)
    lengths = np.repeat(np.array([s.y.size for s in series.values()]), [s.y.size for s in series.values()])
    y_all = np.concatenate([s.y for s in series.values()]) if series else np.zeros(0)
    models: dict[int, dict[str, Any]] = {}
    for offset in offsets(spec):
        scales = {
            sku: _scale(s.y[: s.y.size - offset])
            for sku, s in series.items()
            if s.y.size - offset >= config.min_periods[freq]
        }
        if not scales:
            continue
        keep = (full["ds"].to_numpy() < lengths - offset) & full["unique_id"].isin(list(scales)).to_numpy()
        frame = full[keep].reset_index(drop=True)
        frame["y"] = y_all[keep] / frame["unique_id"].map(scales).to_numpy(dtype=np.float64)
        fcst = MLForecast(models={"lgb": _regressor(config)}, freq=1, lags=list(LAGS[freq]), num_threads=1)
        with warnings.catch_warnings():  # NaN lags at a series' start are what LightGBM should see
            warnings.filterwarnings("ignore", message="Found null values")
            fcst.fit(frame, static_features=[], dropna=False)
        models[offset] = {"fcst": fcst, "scales": scales}
    payload = {
        "format": FORMAT,
        "frequency": freq,
        "horizon": spec.horizon,
        "features": names,
        "kinds": kinds,
        "starts": {sku: s.start.isoformat() for sku, s in series.items()},
        "lengths": {sku: int(s.y.size) for sku, s in series.items()},
        "models": models,
    }
    return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)


# ---------------------------------------------------------------- prediction
def load(models: bytes) -> dict[str, Any]:
    """The deserialized shard payload (workers cache it per container)."""
    payload = pickle.loads(models)  # noqa: S301 (our own bucket's object, written by train)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError("not a global model of this version")
    return payload


def predict(
    models: bytes | Mapping[str, Any],
    items: Sequence[SeriesInput],
    features: Mapping[str, Features],
    spec: ForecastSpec,
) -> dict[str, ExternalForecast]:
    """{sku: ExternalForecast} for the SKUs of `items` the shard's final model trained on; the
    others (skip > 0, too short a history, another shard's) get no candidate."""
    payload = load(models) if isinstance(models, bytes | bytearray) else models
    freq, h = spec.frequency, spec.horizon
    if payload["frequency"] != freq or payload["horizon"] != h or 0 not in payload["models"]:
        return {}
    wanted = sorted({item.sku for item in items} & set(payload["models"][0]["scales"]))
    out: dict[str, dict[str, Any]] = {sku: {"windows": {}} for sku in wanted}
    for offset, model in sorted(payload["models"].items()):
        ids = [sku for sku in wanted if sku in model["scales"]]
        if not ids:
            continue
        means, explainer = _predict_model(payload, model, offset, ids, features, h)
        for sku, mean in means.items():
            if offset == 0:
                out[sku]["final"] = mean
                out[sku]["explain"] = explainer.bind(sku) if explainer else None
            else:
                out[sku]["windows"][offset // h - 1] = mean
    return {
        sku: ExternalForecast(NAME, o["final"], dict(o["windows"]), explain=o["explain"])
        for sku, o in out.items()
        if "final" in o
    }


def _predict_model(
    payload: Mapping[str, Any],
    model: Mapping[str, Any],
    offset: int,
    ids: list[str],
    features: Mapping[str, Features],
    h: int,
) -> tuple[dict[str, np.ndarray], _Explainer | None]:
    """One origin's model on `ids` (sorted): the means in units, and for the final model
    (offset 0) what explains each SKU's forecast, computed when asked."""
    freq, names, kinds = payload["frequency"], payload["features"], payload["kinds"]
    blocks = [
        _Block(sku, dt.date.fromisoformat(payload["starts"][sku]), payload["lengths"][sku] - offset, h) for sku in ids
    ]
    x_df = _frame(blocks, names, kinds, features, freq)
    fcst, scales = model["fcst"], model["scales"]
    means = _recursive(fcst, x_df, ids, h, scales)
    if offset != 0 or not names:
        return means, None
    firsts = {b.sku: str(_dates(b, freq)[0]) for b in blocks}
    return means, _Explainer(fcst, x_df, ids, names, kinds, scales, features, means, firsts, h)


def _recursive(fcst: Any, x_df: Any, ids: list[str], h: int, scales: Mapping[str, float]) -> dict[str, np.ndarray]:
    """The model's recursive forecast of `ids` (sorted) over `h` periods, in units, never negative."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Found null values")
        pred = fcst.predict(h, X_df=x_df, ids=ids)
    if list(pred["unique_id"].to_numpy()[::h]) != ids:  # mlforecast answers in its sorted id order, as ours
        raise RuntimeError("unexpected id order in the global model's predictions")
    values = pred["lgb"].to_numpy(dtype=np.float64).reshape(len(ids), h)
    return {sku: np.maximum(values[row] * scales[sku], 0.0) for row, sku in enumerate(ids)}


@dataclass
class _Explainer:
    """What each feature adds to a SKU's final forecast, in units over the horizon: the forecast
    minus the model's forecast with that feature at its reference (0 for a flag, a holiday or an
    event; the SKU's mean over its history for a numeric driver), predicted again through the
    recursive lags - the definition the per-SKU driver models use (exog.lift_effects). Not
    LightGBM's per-feature contributions (`pred_contrib`): a lag model spreads a promotion over its
    lag features, so the promotion's own contribution missed most of its effect
    (bench/accuracy/REPORT.md, "Drivers"). Made when the first SKU of the batch asks (only SKUs
    whose forecast is the global model's do), for the whole batch at once: one more prediction
    per feature. Only the features a SKU has are reported."""

    fcst: Any
    x_df: Any  # the final horizon's exogenous frame: h rows per SKU, in `ids` order
    ids: list[str]
    names: Sequence[str]
    kinds: Mapping[str, str]
    scales: Mapping[str, float]
    features: Mapping[str, Features]
    means: Mapping[str, np.ndarray]
    firsts: Mapping[str, str]  # each SKU's first forecast period (ISO)
    h: int
    made: dict[str, tuple[dict, ...]] | None = None

    def bind(self, sku: str) -> Callable[[], tuple[dict, ...]]:
        return functools.partial(self.effects, sku)

    def effects(self, sku: str) -> tuple[dict, ...]:
        if self.made is None:
            self.made = self._all()
        return self.made[sku]

    def _all(self) -> dict[str, tuple[dict, ...]]:
        out: dict[str, list[dict]] = {sku: [] for sku in self.ids}
        for i, name in enumerate(self.names):
            has = [row for row, sku in enumerate(self.ids) if name in self._values(sku)]
            if not has:
                continue
            column = self.x_df[f"x{i}"].to_numpy(dtype=np.float64).reshape(len(self.ids), self.h).copy()
            for row in has:
                column[row] = self._reference(self.ids[row], name)
            without = _recursive(
                self.fcst, self.x_df.assign(**{f"x{i}": column.ravel()}), self.ids, self.h, self.scales
            )
            for row in has:
                sku = self.ids[row]
                out[sku].append({"name": name, "units": float(np.sum(self.means[sku] - without[sku]))})
        return {sku: tuple(effects) for sku, effects in out.items()}

    def _values(self, sku: str) -> Mapping[str, Mapping[str, float]]:
        f = self.features.get(sku)
        return f.values if f is not None else {}

    def _reference(self, sku: str, name: str) -> float:
        if self.kinds[name] != "numeric":
            return 0.0
        first = self.firsts[sku]
        past = [v for day, v in self._values(sku)[name].items() if day < first and np.isfinite(v)]
        return float(np.mean(past)) if past else float("nan")  # no history: missing, as LightGBM saw none
