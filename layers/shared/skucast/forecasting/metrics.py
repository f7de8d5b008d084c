"""Forecast accuracy metrics built from additive partial sums.

Every metric is a ratio of sums, so per-batch `MetricSums` add up to the exact run-level value:
summing then finalizing equals computing on the concatenated points. Errors are forecast - actual.

    MAE  = sum|e| / n                 RMSE = sqrt(sum e^2 / n)
    WAPE = sum|e| / sum|actual|       bias = sum e / n (mean error, > 0 means over-forecast)
    MASE = sum(|e| / scale) / n_scaled, scale = in-sample MAE of the seasonal naive forecast
    sMAPE = 100 * mean(2|e| / (|a| + |f|)), a point where a = f = 0 counts as 0
    coverage_L = share of points inside the L% interval
A metric whose denominator is zero is None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class MetricSums:
    n_points: int = 0
    sum_abs_err: float = 0.0
    sum_sq_err: float = 0.0
    sum_err: float = 0.0
    sum_actual: float = 0.0
    sum_smape: float = 0.0
    n_scaled: int = 0
    sum_scaled_abs_err: float = 0.0
    covered: dict[int, int] = field(default_factory=dict)
    n_interval: dict[int, int] = field(default_factory=dict)

    def __add__(self, other: MetricSums) -> MetricSums:
        levels = sorted(set(self.covered) | set(other.covered))
        return MetricSums(
            n_points=self.n_points + other.n_points,
            sum_abs_err=self.sum_abs_err + other.sum_abs_err,
            sum_sq_err=self.sum_sq_err + other.sum_sq_err,
            sum_err=self.sum_err + other.sum_err,
            sum_actual=self.sum_actual + other.sum_actual,
            sum_smape=self.sum_smape + other.sum_smape,
            n_scaled=self.n_scaled + other.n_scaled,
            sum_scaled_abs_err=self.sum_scaled_abs_err + other.sum_scaled_abs_err,
            covered={lv: self.covered.get(lv, 0) + other.covered.get(lv, 0) for lv in levels},
            n_interval={lv: self.n_interval.get(lv, 0) + other.n_interval.get(lv, 0) for lv in levels},
        )

    @staticmethod
    def merge(parts: Iterable[MetricSums]) -> MetricSums:
        total = MetricSums()
        for part in parts:
            total = total + part
        return total

    @classmethod
    def from_points(
        cls,
        actual: np.ndarray,
        forecast: np.ndarray,
        scale: float | None = None,
        bounds: Mapping[int, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> MetricSums:
        """Sums for one block of points; `bounds` maps level -> (lo, hi) arrays."""
        a = np.asarray(actual, dtype=np.float64)
        f = np.asarray(forecast, dtype=np.float64)
        e = f - a
        denom = np.abs(a) + np.abs(f)
        smape = np.divide(2 * np.abs(e), denom, out=np.zeros_like(e), where=denom > 0)
        scaled = scale is not None and math.isfinite(scale) and scale > 0
        sums = cls(
            n_points=int(a.size),
            sum_abs_err=float(np.abs(e).sum()),
            sum_sq_err=float((e**2).sum()),
            sum_err=float(e.sum()),
            sum_actual=float(np.abs(a).sum()),
            sum_smape=float(smape.sum()),
            n_scaled=int(a.size) if scaled else 0,
            sum_scaled_abs_err=float(np.abs(e).sum() / scale) if scaled and scale else 0.0,
        )
        for level, (lo, hi) in (bounds or {}).items():
            sums.covered[level] = int(np.sum((a >= lo) & (a <= hi)))
            sums.n_interval[level] = int(a.size)
        return sums

    def to_dict(self) -> dict:
        """JSON-safe form (level keys as strings) for storing partial sums between batches."""
        raw = self.__dict__.copy()
        raw["covered"] = {str(k): v for k, v in self.covered.items()}
        raw["n_interval"] = {str(k): v for k, v in self.n_interval.items()}
        return raw

    @classmethod
    def from_dict(cls, raw: Mapping) -> MetricSums:
        # A sum stored as null was undefined (non-finite, or beyond what the store holds): NaN here,
        # so the metrics computed from it are undefined too rather than wrong.
        data: dict[str, Any] = {k: float("nan") if v is None else v for k, v in raw.items()}
        data["covered"] = {int(k): int(v) for k, v in raw.get("covered", {}).items()}
        data["n_interval"] = {int(k): int(v) for k, v in raw.get("n_interval", {}).items()}
        return cls(**data)

    def finalize(self) -> dict[str, float | None]:
        n = self.n_points
        out: dict[str, float | None] = {
            "mae": _ratio(self.sum_abs_err, n),
            "rmse": math.sqrt(self.sum_sq_err / n) if n else None,
            "wape": _ratio(self.sum_abs_err, self.sum_actual),
            "mase": _ratio(self.sum_scaled_abs_err, self.n_scaled),
            "smape": _ratio(100 * self.sum_smape, n),
            "bias": _ratio(self.sum_err, n),
            "n_points": float(n),
        }
        for level in sorted(self.n_interval):
            out[f"coverage_{level}"] = _ratio(self.covered.get(level, 0), self.n_interval[level])
        return out


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den else None


def naive_scale(history: np.ndarray, season_length: int = 1) -> float | None:
    """In-sample MAE of the seasonal naive forecast (falls back to lag 1 when too short)."""
    y = np.asarray(history, dtype=np.float64)
    m = season_length if y.size > season_length else 1
    if y.size <= m:
        return None
    scale = float(np.mean(np.abs(y[m:] - y[:-m])))
    return scale if scale > 0 else None


def seasonal_naive(history: np.ndarray, season_length: int, horizon: int) -> np.ndarray:
    """The seasonal-naive benchmark: the history's last season repeated `horizon` periods (the
    last value repeated - naive - when the history is shorter than a season; zeros when empty).
    Forecast Value Added compares the forecast and the planners' final forecast against it."""
    y = np.asarray(history, dtype=np.float64).ravel()
    if y.size == 0:
        return np.zeros(horizon)
    season = y[-season_length:] if y.size >= season_length else y[-1:]
    return np.resize(season, horizon).astype(np.float64)
