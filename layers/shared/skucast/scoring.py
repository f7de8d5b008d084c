"""Scoring a run's forecast against the actuals that arrive later (issue #20, items 1 and 2): the
arithmetic, with no AWS (services/scoring.py runs it, repositories/scores.py stores it).

A scored point is one forecast period of one SKU of one run with its actual: the actual, the
statistical forecast (`mean`), the planners' forecast (`final`), the seasonal-naive benchmark
(`naive`, stored with the result at run time) and the interval bounds. A SKU's points are kept
together, so scoring is a replace: a re-sent actual gives the same point (nothing changes), a
corrected one replaces its point, and the SKU's sums are recomputed from its points.

Three forecasts are scored on the same points (Forecast Value Added): `metrics` the statistical
forecast, `naive` the benchmark, `final` the adjusted forecast. Per set, additive sums (errors are
forecast - actual): n, sum|e|, sum e^2, sum e, sum|actual|, the points with a MASE scale and their
sum of |e| / scale, and per interval level the points inside it. Every metric is a ratio of sums:
    MAE = sum|e| / n   RMSE = sqrt(sum e^2 / n)   WAPE = sum|e| / sum|actual|   bias = sum e / n
    MASE = sum(|e| / scale) / n_scaled, scale = the run's own in-sample MAE of the seasonal-naive
           forecast over the history it fitted (stored with the result; a SKU without one - a
           constant history - is left out of MASE only)
    coverage_L = share of points with lo_L <= actual <= hi_L
`naive` has no intervals (its coverage is null); `final` is scored against the statistical
intervals (adjustments move the forecast, not the bounds), so its coverage equals the forecast's.

Which periods are scored, at the run's frequency:
- D: each day an upload brought a row for (the stored value of that day after the merge: the
  latest upload's, as the demand store's ordering rule says). A day with no row is not scored
  until a row for it arrives.
- W and M: a period is scored once the SKU's stored demand reaches its last day (the series runs
  through it: missing days inside count as the store counts them, zero by default), with the
  period's total as the actual - the days summed, a weekly SKU's weeks spread evenly over their
  days as the run itself does (a period of the SKU's own grain is its stored value). Every later
  upload of the SKU re-scores its complete periods (a replace: an unchanged period changes
  nothing), so a late day or a correction inside a period re-scores it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from skucast.forecasting.periods import next_period

SETS = ("metrics", "naive", "final")  # the statistical forecast, the benchmark, the adjusted forecast
METRIC_NAMES = ("mae", "rmse", "wape", "bias", "mase", "coverage_80", "coverage_95")


@dataclass(frozen=True)
class ScoredPoint:
    """One forecast period with its actual. `bounds`: level -> (lo, hi). `naive` is None for a
    result written before the benchmark was stored."""

    date: str
    actual: float
    mean: float
    final: float
    naive: float | None
    bounds: tuple[tuple[int, float, float], ...] = ()

    def as_list(self) -> list[Any]:
        return [self.date, self.actual, self.mean, self.final, self.naive, [list(b) for b in self.bounds]]

    @classmethod
    def from_list(cls, raw: Sequence[Any]) -> ScoredPoint:
        date, actual, mean, final, naive, bounds = raw
        return cls(
            str(date),
            float(actual),
            float(mean),
            float(final),
            None if naive is None else float(naive),
            tuple((int(lv), float(lo), float(hi)) for lv, lo, hi in bounds),
        )


@dataclass
class Sums:
    """Additive sums of one forecast over some points; `covered`/`n_interval` per level."""

    n: int = 0
    abs_err: float = 0.0
    sq_err: float = 0.0
    err: float = 0.0
    abs_actual: float = 0.0
    n_scaled: int = 0
    scaled_abs_err: float = 0.0
    covered: dict[int, int] = field(default_factory=dict)
    n_interval: dict[int, int] = field(default_factory=dict)

    def combine(self, other: Sums, sign: int = 1) -> Sums:
        levels = sorted(set(self.covered) | set(other.covered) | set(self.n_interval) | set(other.n_interval))
        return Sums(
            n=self.n + sign * other.n,
            abs_err=self.abs_err + sign * other.abs_err,
            sq_err=self.sq_err + sign * other.sq_err,
            err=self.err + sign * other.err,
            abs_actual=self.abs_actual + sign * other.abs_actual,
            n_scaled=self.n_scaled + sign * other.n_scaled,
            scaled_abs_err=self.scaled_abs_err + sign * other.scaled_abs_err,
            covered={lv: self.covered.get(lv, 0) + sign * other.covered.get(lv, 0) for lv in levels},
            n_interval={lv: self.n_interval.get(lv, 0) + sign * other.n_interval.get(lv, 0) for lv in levels},
        )

    def is_zero(self) -> bool:
        return all(
            getattr(self, f.name) == 0 for f in fields(self) if f.name not in ("covered", "n_interval")
        ) and not (any(self.covered.values()) or any(self.n_interval.values()))

    def flat(self) -> dict[str, float | int]:
        """The sums as flat named numbers (how the store adds them: repositories/scores.py)."""
        out: dict[str, float | int] = {
            "n": self.n,
            "abs": self.abs_err,
            "sq": self.sq_err,
            "err": self.err,
            "act": self.abs_actual,
            "ns": self.n_scaled,
            "sabs": self.scaled_abs_err,
        }
        for lv in sorted(set(self.covered) | set(self.n_interval)):
            out[f"cov{lv}"] = self.covered.get(lv, 0)
            out[f"nint{lv}"] = self.n_interval.get(lv, 0)
        return out

    @classmethod
    def from_flat(cls, raw: Mapping[str, Any]) -> Sums:
        sums = cls(
            n=int(raw.get("n") or 0),
            abs_err=float(raw.get("abs") or 0.0),
            sq_err=float(raw.get("sq") or 0.0),
            err=float(raw.get("err") or 0.0),
            abs_actual=float(raw.get("act") or 0.0),
            n_scaled=int(raw.get("ns") or 0),
            scaled_abs_err=float(raw.get("sabs") or 0.0),
        )
        for name, value in raw.items():
            if name.startswith("cov") and name[3:].isdigit():
                sums.covered[int(name[3:])] = int(value or 0)
            elif name.startswith("nint") and name[4:].isdigit():
                sums.n_interval[int(name[4:])] = int(value or 0)
        return sums

    def metrics(self) -> dict[str, float | None]:
        """The contract's metrics (null while nothing is scored, or where a denominator is 0)."""
        n = self.n
        out: dict[str, float | None] = {
            "mae": _ratio(self.abs_err, n),
            "rmse": math.sqrt(max(self.sq_err, 0.0) / n) if n else None,
            "wape": _ratio(self.abs_err, self.abs_actual),
            "bias": _ratio(self.err, n),
            "mase": _ratio(self.scaled_abs_err, self.n_scaled),
            "coverage_80": None,
            "coverage_95": None,
        }
        for lv in sorted(self.n_interval):
            out[f"coverage_{lv}"] = _ratio(self.covered.get(lv, 0), self.n_interval[lv])
        return out


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den else None


@dataclass
class ScoreSums:
    """The three sets of sums over the same points, and how many points."""

    sets: dict[str, Sums] = field(default_factory=lambda: {name: Sums() for name in SETS})

    def combine(self, other: ScoreSums, sign: int = 1) -> ScoreSums:
        return ScoreSums({name: self.sets[name].combine(other.sets[name], sign) for name in SETS})

    def is_zero(self) -> bool:
        return all(self.sets[name].is_zero() for name in SETS)

    @property
    def points(self) -> int:
        return self.sets["metrics"].n


def _usable(scale: float | None) -> bool:
    return scale is not None and math.isfinite(scale) and scale > 0


def point_sums(points: Iterable[ScoredPoint], scale: float | None) -> ScoreSums:
    """The sums of these points, in a fixed order (date order) so the same points give the same
    floats: a re-sent actual leaves the sums bit-for-bit unchanged."""
    out = ScoreSums()
    scaled = _usable(scale)
    for p in sorted(points, key=lambda q: q.date):
        for name, forecast in (("metrics", p.mean), ("naive", p.naive), ("final", p.final)):
            if forecast is None:
                continue
            s = out.sets[name]
            e = forecast - p.actual
            s.n += 1
            s.abs_err += abs(e)
            s.sq_err += e * e
            s.err += e
            s.abs_actual += abs(p.actual)
            if scaled:
                assert scale is not None
                s.n_scaled += 1
                s.scaled_abs_err += abs(e) / scale
            if name == "naive":
                continue
            for lv, lo, hi in p.bounds:
                s.n_interval[lv] = s.n_interval.get(lv, 0) + 1
                s.covered[lv] = s.covered.get(lv, 0) + int(lo <= p.actual <= hi)
    return out


def month_of(date: str) -> str:
    """The calendar month a scored point counts in for the tenant's accuracy over time."""
    return date[:7]


def sums_by_month(points: Iterable[ScoredPoint], scale: float | None) -> dict[str, ScoreSums]:
    months: dict[str, list[ScoredPoint]] = {}
    for p in points:
        months.setdefault(month_of(p.date), []).append(p)
    return {m: point_sums(ps, scale) for m, ps in months.items()}


# ---------------------------------------------------------------- which periods, which actuals
@dataclass(frozen=True)
class DailyActuals:
    """A SKU's stored demand as days: value per day from `start`, through `last_day`; `own` is the
    series at its own grain for periods of that grain (taken as they are, not re-summed)."""

    start: dt.date
    days: np.ndarray
    grain: str
    own: Mapping[str, float]

    @property
    def last_day(self) -> dt.date:
        return self.start + dt.timedelta(days=int(self.days.size) - 1)

    def day(self, date: dt.date) -> float | None:
        i = (date - self.start).days
        return float(self.days[i]) if 0 <= i < self.days.size else None

    def since(self, cut: dt.date) -> DailyActuals:
        """Only the days from `cut` on (what scoring periods that start on or after it reads)."""
        skip = (cut - self.start).days
        if skip <= 0:
            return self
        own = {d: v for d, v in self.own.items() if d >= cut.isoformat()}
        return DailyActuals(cut, self.days[skip:].copy(), self.grain, own)

    def total(self, first: dt.date, end: dt.date) -> float:
        lo = max(0, (first - self.start).days)
        hi = min(int(self.days.size), (end - self.start).days)
        return float(self.days[lo:hi].sum()) if hi > lo else 0.0


def daily_actuals(start: dt.date, values: np.ndarray, grain: str) -> DailyActuals:
    """Days from a stored series at its grain: a week's demand spread evenly over its 7 days (as a
    run at a coarser frequency does); a monthly series only serves monthly periods (`own`)."""
    values = np.asarray(values, dtype=np.float64)
    own = {next_period(start, grain, i).isoformat(): float(v) for i, v in enumerate(values)} if grain != "D" else {}
    if grain == "D":
        return DailyActuals(start, values, grain, own)
    if grain == "W":
        return DailyActuals(start, np.repeat(values / 7.0, 7), grain, own)
    end = next_period(start, "M", int(values.size))
    return DailyActuals(start, np.full((end - start).days, np.nan), grain, own)


def period_actuals(
    forecast_dates: Sequence[str], frequency: str, actuals: DailyActuals, arrived: Iterable[dt.date]
) -> dict[str, float]:
    """The actual of each forecast period that is scored now (module docstring): D - the days that
    arrived; W/M - every complete period of the forecast."""
    if frequency == "D":
        wanted = {d.isoformat() for d in arrived}
        out: dict[str, float] = {}
        for date in forecast_dates:
            if date in wanted:
                value = actuals.day(dt.date.fromisoformat(date))
                if value is not None and math.isfinite(value):
                    out[date] = value
        return out
    out = {}
    last = actuals.last_day
    for date in forecast_dates:
        first = dt.date.fromisoformat(date)
        end = next_period(first, frequency)  # the day after the period
        if end - dt.timedelta(days=1) > last or first < actuals.start:
            continue
        if actuals.grain == frequency and date in actuals.own:
            out[date] = actuals.own[date]
            continue
        value = actuals.total(first, end)
        if math.isfinite(value):
            out[date] = value
    return out


def scored_points(
    forecast: Sequence[Mapping[str, Any]],
    finals: Sequence[float | None],
    naive: Sequence[float | None] | None,
    actual_by_date: Mapping[str, float],
) -> dict[str, ScoredPoint]:
    """The scored point of each forecast period that has an actual."""
    out: dict[str, ScoredPoint] = {}
    for i, point in enumerate(forecast):
        date = str(point["date"])
        if date not in actual_by_date or point.get("mean") is None:
            continue
        mean = float(point["mean"])
        adjusted = finals[i] if i < len(finals) else None
        final = mean if adjusted is None else float(adjusted)
        bench = naive[i] if naive is not None and i < len(naive) else None
        bounds = tuple(
            (int(k[3:]), float(point[k]), float(point[f"hi_{k[3:]}"]))
            for k in sorted(point)
            if k.startswith("lo_")
            and k[3:].isdigit()
            and point.get(k) is not None
            and point.get(f"hi_{k[3:]}") is not None
        )
        out[date] = ScoredPoint(date, float(actual_by_date[date]), mean, final, bench, bounds)
    return out


def with_finals(
    points: Mapping[str, ScoredPoint], forecast: Sequence[Mapping[str, Any]], finals: Sequence[float | None]
) -> dict[str, ScoredPoint]:
    """The points with `final` as the result's final forecast stands now (after an adjustment)."""
    by_date = {str(p["date"]): (finals[i] if i < len(finals) else None, p.get("mean")) for i, p in enumerate(forecast)}
    out = {}
    for date, point in points.items():
        final, mean = by_date.get(date, (None, None))
        value = final if final is not None else mean
        out[date] = replace(point, final=float(value)) if value is not None else point
    return out


def answer(sums: ScoreSums) -> dict[str, dict[str, float | None]]:
    """`metrics`, `naive`, `final` of the contract's accuracy answers."""
    return {name: sums.sets[name].metrics() for name in SETS}
