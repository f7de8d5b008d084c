"""Alerts, the domain (skucast/alerts.py): the demand-shift and accuracy rules, the conditions
alerts are deduplicated on, the settings' defaults and ranges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from skucast import alerts as rules
from skucast.alerts import AlertSettings, Point


def _points(actuals: list[float], lo: float = 8.0, hi: float = 12.0) -> list[Point]:
    return [Point(f"2025-03-{i + 1:02d}", a, 10.0, lo, hi) for i, a in enumerate(actuals)]


def test_given_n_consecutive_points_above_the_interval_then_a_shift_up_with_its_streak() -> None:
    shift = rules.demand_shift(_points([10, 11, 20, 21, 22]), 3)
    assert shift is not None
    assert (shift["direction"], shift["periods"], shift["start"], shift["end"]) == (
        "above",
        3,
        "2025-03-03",
        "2025-03-05",
    )
    assert shift["mean_gap"] == pytest.approx(11.0)
    assert [p["actual"] for p in shift["points"]] == [20, 21, 22]


def test_given_n_consecutive_points_below_then_a_shift_down() -> None:
    shift = rules.demand_shift(_points([1, 2, 3]), 3)
    assert shift is not None and shift["direction"] == "below" and shift["periods"] == 3


@pytest.mark.parametrize(
    "actuals",
    [
        [20, 21],  # too few
        [20, 1, 20, 1],  # outside every time, but alternating sides: noise
        [20, 21, 10, 22],  # broken by a point inside
        [20, 21, 12, 22],  # a point on the bound is inside
        [],
    ],
)
def test_given_no_same_side_streak_long_enough_then_no_shift(actuals: list[float]) -> None:
    assert rules.demand_shift(_points(actuals), 3) is None


def test_given_points_without_a_95_interval_then_they_break_the_streak() -> None:
    points = _points([20, 21, 22])
    points[1] = Point(points[1].date, 21, 10.0, None, None)
    assert rules.demand_shift(points, 3) is None


def test_given_two_qualifying_streaks_then_the_latest_whole_streak_is_reported() -> None:
    shift = rules.demand_shift(_points([20, 20, 20, 10, 1, 1, 1, 1]), 3)
    assert shift is not None
    assert (shift["direction"], shift["start"], shift["end"], shift["periods"]) == (
        "below",
        "2025-03-05",
        "2025-03-08",
        4,
    )


@given(st.lists(st.sampled_from([1.0, 10.0, 20.0]), max_size=30), st.integers(2, 6))
def test_given_any_points_then_a_shift_is_reported_exactly_when_a_long_enough_same_side_run_exists(
    actuals: list[float], n: int
) -> None:
    sides = ["above" if a > 12 else "below" if a < 8 else None for a in actuals]
    longest, run = 0, 0
    for i, s in enumerate(sides):
        run = run + 1 if s is not None and i > 0 and sides[i - 1] == s else (1 if s is not None else 0)
        longest = max(longest, run)
    shift = rules.demand_shift(_points(actuals), n)
    assert (shift is not None) == (longest >= n)
    if shift is not None:
        assert shift["periods"] >= n and len({p["actual"] for p in shift["points"]}) == 1


def test_given_wape_past_the_threshold_with_enough_points_then_accuracy_degraded() -> None:
    settings = AlertSettings(wape_threshold=0.4, min_points=10)
    assert rules.accuracy_degraded({"wape": 0.41, "points": 10}, settings) == {
        "wape": 0.41,
        "points": 10,
        "wape_threshold": 0.4,
    }
    assert rules.accuracy_degraded({"wape": 0.41, "points_scored": 12}, settings) is not None
    assert rules.accuracy_degraded({"wape": 0.40, "points": 100}, settings) is None  # at the threshold
    assert rules.accuracy_degraded({"wape": 0.90, "points": 9}, settings) is None  # too few points
    assert rules.accuracy_degraded({"wape": None, "points": 100}, settings) is None  # no demand: undefined
    assert rules.accuracy_degraded({"wape": float("nan"), "points": 100}, settings) is None


def test_given_each_kind_then_its_condition_names_what_it_is_about() -> None:
    assert rules.condition_of("run_failed", sku=None, run_id="run_1", slot=None) == rules.Condition(
        "run_failed", "run", "run_1"
    )
    assert rules.condition_of("schedule_missed", sku=None, run_id=None, slot="2025-01-01T03:00:00Z").one_shot
    shift = rules.condition_of("demand_shift", sku="A", run_id="run_1", slot=None)
    assert shift == rules.Condition("demand_shift", "sku", "A") and not shift.one_shot  # any run: one per SKU
    assert rules.condition_of("accuracy_degraded", sku=None, run_id=None, slot=None).scope == "tenant"
    assert rules.condition_of("accuracy_degraded", sku="A", run_id=None, slot=None).scope == "sku"
    for kind in ("run_failed", "schedule_missed", "demand_shift"):
        with pytest.raises(ValueError):
            rules.condition_of(kind, sku=None, run_id=None, slot=None)  # type: ignore[arg-type]


def test_given_settings_then_defaults_and_ranges() -> None:
    assert AlertSettings().model_dump() == {"wape_threshold": 0.5, "min_points": 28, "shift_periods": 3}
    for bad in (
        {"wape_threshold": 0},
        {"wape_threshold": 5e-324},
        {"min_points": 0},
        {"shift_periods": 1},
        {"shift_periods": 367},
        {"x": 1},
    ):
        with pytest.raises(ValidationError):
            AlertSettings.model_validate(bad)
