"""Alerts: their kinds, the tenant's settings, and the detection rules (no AWS here).

Kinds and what raises each (services/alerts.py stores and publishes them):
- `run_failed`: a run ended FAILED (raised in the transaction that fails it: once per run);
- `schedule_missed`: a scheduled reforecast that did not happen - its slot was refused (a tier
  limit, parameters no longer valid) or skipped because the scheduler did not fire in time;
- `demand_shift`: a SKU's actuals fell outside its forecast's 95 % interval, on the same side,
  for `shift_periods` consecutive periods (`demand_shift` below);
- `accuracy_degraded`: a SKU's or the tenant's WAPE past `wape_threshold` over at least
  `min_points` scored points (`accuracy_degraded` below).

Deduplication ("the same condition does not alert twice while open"): every alert has a
condition - its kind and what it is about (`Condition`). While the condition's alert is open, raising
it again adds nothing. One-shot conditions (a run, a schedule slot) never alert again, even after
acknowledgement: a failed run fails once. Re-arming conditions (a SKU's demand, a SKU's or the
tenant's accuracy) alert again after acknowledgement, but only on evidence that begins after the
acknowledged alert's evidence ended (`since` / `until`, ISO dates): acknowledging a demand shift
and uploading the same actuals again raises nothing; a new shift weeks later does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

AlertKind = Literal["accuracy_degraded", "demand_shift", "run_failed", "schedule_missed"]
AlertStatusName = Literal["open", "acknowledged"]
KINDS: tuple[AlertKind, ...] = ("accuracy_degraded", "demand_shift", "run_failed", "schedule_missed")
ONE_SHOT: frozenset[str] = frozenset({"run_failed", "schedule_missed"})

# EventBridge: every new alert is one event with this source and detail-type (README, Alerts).
EVENT_SOURCE = "skucast.alerts"
EVENT_DETAIL_TYPE = "skucast.alert"


# ---------------------------------------------------------------- settings
class AlertSettings(BaseModel):
    """A tenant's alert thresholds. PUT replaces them: a field left out takes its default."""

    model_config = ConfigDict(extra="forbid")

    wape_threshold: float = Field(
        default=0.5,
        ge=0.001,  # 0.1 %: a smaller threshold alerts on any error (and tiny floats cannot be stored)
        le=10,
        description="accuracy_degraded when WAPE (sum |actual - forecast| / sum actual, a ratio: 0.5 = 50 %) "
        "is above this",
    )
    min_points: int = Field(
        default=28, ge=1, le=100_000, description="scored points needed before accuracy_degraded may fire"
    )
    shift_periods: int = Field(
        default=3,
        ge=2,
        le=366,
        description="demand_shift when this many consecutive periods fall outside the 95 % interval on the same side",
    )


DEFAULT_SETTINGS = AlertSettings()


# ---------------------------------------------------------------- conditions
@dataclass(frozen=True)
class Condition:
    """What an alert is about, for deduplication: one open alert per condition."""

    kind: AlertKind
    scope: Literal["run", "slot", "sku", "tenant"]
    subject: str = ""  # the run id, the slot (ISO time), the SKU; "" for the tenant

    @property
    def one_shot(self) -> bool:
        return self.kind in ONE_SHOT


def condition_of(kind: AlertKind, *, sku: str | None, run_id: str | None, slot: str | None) -> Condition:
    """The condition an alert of `kind` raises. ValueError when the subject it needs is missing."""
    if kind == "run_failed":
        if not run_id:
            raise ValueError("run_failed names its run")
        return Condition(kind, "run", run_id)
    if kind == "schedule_missed":
        if not slot:
            raise ValueError("schedule_missed names its slot")
        return Condition(kind, "slot", slot)
    if kind == "demand_shift":
        if not sku:
            raise ValueError("demand_shift names its SKU")
        return Condition(kind, "sku", sku)
    # accuracy_degraded: of one SKU, or of the tenant as a whole.
    return Condition(kind, "sku", sku) if sku else Condition(kind, "tenant")


# ---------------------------------------------------------------- demand_shift
class ScoredPoint(Protocol):
    """One forecast period of a SKU with its actual (what the scoring of actuals produces)."""

    @property
    def date(self) -> str: ...
    @property
    def actual(self) -> float: ...
    @property
    def mean(self) -> float | None: ...
    @property
    def lo_95(self) -> float | None: ...
    @property
    def hi_95(self) -> float | None: ...


@dataclass(frozen=True)
class Point:
    """A ScoredPoint of its own (tests, and callers whose records name the fields otherwise)."""

    date: str
    actual: float
    mean: float | None
    lo_95: float | None
    hi_95: float | None


def side(point: ScoredPoint) -> Literal["above", "below"] | None:
    """Where the actual fell against the 95 % interval; None inside it, or when there is none."""
    lo, hi = point.lo_95, point.hi_95
    if lo is None or hi is None or not _finite(point.actual, lo, hi):
        return None
    if point.actual > hi:
        return "above"
    if point.actual < lo:
        return "below"
    return None


def demand_shift(points: Sequence[ScoredPoint], shift_periods: int) -> dict[str, Any] | None:
    """A demand shift in one SKU's scored points (one run's, in date order), or None.

    The rule: `shift_periods` consecutive points whose actual is outside the 95 % interval on the
    same side (all above, or all below). Mixed sides are noise, not a shift: a calibrated interval
    leaves an actual above it 2.5 % of the time, so n in a row on one side happens by chance with
    probability 0.025**n (3: 1.6e-5). A point on the bound is inside; a point without a 95 %
    interval (a run without that level) breaks the streak. When several streaks qualify, the latest
    is reported - what the planner has to act on; `start`..`end` is the whole streak (it may be
    longer than `shift_periods`); they are the evidence dates the caller passes to raise_alert as
    `since` / `until`, so a re-upload of the same actuals is the same shift.
    """
    if shift_periods < 1:
        raise ValueError("shift_periods is at least 1")
    best: tuple[int, int] | None = None
    start = 0
    for i, point in enumerate(points):
        here = side(point)
        if here is None:
            start = i + 1
            continue
        if i > start and side(points[i - 1]) != here:
            start = i
        if i - start + 1 >= shift_periods:
            best = (start, i)
    if best is None:
        return None
    first, last = best
    streak = points[first : last + 1]
    direction = side(streak[0])
    gaps = [p.actual - p.mean for p in streak if p.mean is not None and _finite(p.mean)]
    return {
        "direction": direction,
        "periods": len(streak),
        "start": streak[0].date,
        "end": streak[-1].date,
        "mean_gap": sum(gaps) / len(gaps) if gaps else None,
        "points": [
            {"date": p.date, "actual": p.actual, "mean": p.mean, "lo_95": p.lo_95, "hi_95": p.hi_95} for p in streak
        ],
    }


# ---------------------------------------------------------------- accuracy_degraded
def accuracy_degraded(metrics: Mapping[str, Any], settings: AlertSettings) -> dict[str, Any] | None:
    """Accuracy past the tenant's threshold, or None.

    `metrics` are a SKU's or the tenant's scored metrics with their point count: `wape` (a ratio)
    and `points` (or `points_scored`). Fires when WAPE is above `wape_threshold` over at least
    `min_points` points; an undefined WAPE (no demand in the actuals) never fires.
    """
    wape = metrics.get("wape")
    points = metrics.get("points", metrics.get("points_scored"))
    if wape is None or points is None or not _finite(float(wape)):
        return None
    if int(points) < settings.min_points or float(wape) <= settings.wape_threshold:
        return None
    return {"wape": float(wape), "points": int(points), "wape_threshold": settings.wape_threshold}


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)
