"""The arithmetic of scoring against actuals (skucast/scoring.py): the metrics from additive sums,
replacing a point (re-sent and corrected actuals), deltas that add back to the sums of the
points, `final` as it stands, and the periods of weekly and monthly runs."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from skucast import scoring
from skucast.forecasting.metrics import naive_scale, seasonal_naive

D0 = dt.date(2024, 3, 1)


def _point(
    date: str, actual: float, mean: float, final: float | None = None, naive: float | None = 5.0
) -> scoring.ScoredPoint:
    return scoring.ScoredPoint(
        date,
        actual,
        mean,
        mean if final is None else final,
        naive,
        ((80, mean - 2, mean + 2), (95, mean - 4, mean + 4)),
    )


def _same(got: dict[str, dict[str, float | None]], want: dict[str, dict[str, float | None]]) -> None:
    for name, metrics in want.items():
        for metric, value in metrics.items():
            assert got[name][metric] == (value if value is None else pytest.approx(value, rel=1e-12)), (name, metric)


def test_given_points_then_each_metric_is_its_ratio_of_sums_for_forecast_naive_and_final() -> None:
    points = [
        _point("2024-03-01", 10, 12, final=10),
        _point("2024-03-02", 0, 3, naive=1),
        _point("2024-03-03", 8, 4, naive=None),
    ]
    sums = scoring.point_sums(points, scale=2.0)
    answer = scoring.answer(sums)
    e = np.array([2.0, 3.0, -4.0])
    assert answer["metrics"]["mae"] == pytest.approx(np.abs(e).mean())
    assert answer["metrics"]["rmse"] == pytest.approx(math.sqrt((e**2).mean()))
    assert answer["metrics"]["wape"] == pytest.approx(9 / 18)
    assert answer["metrics"]["bias"] == pytest.approx(e.mean())
    assert answer["metrics"]["mase"] == pytest.approx(np.abs(e).mean() / 2)
    # 80 %: 10 in [10, 14], 0 not in [1, 5], 8 not in [2, 6]; 95 %: [8, 16], [-1, 7], [0, 8] hold them all.
    assert answer["metrics"]["coverage_80"] == pytest.approx(1 / 3)
    assert answer["metrics"]["coverage_95"] == pytest.approx(1.0)
    # The benchmark: only points that have one, no intervals.
    assert answer["naive"]["mae"] == pytest.approx((5 + 1) / 2) and answer["naive"]["coverage_80"] is None
    assert answer["final"]["mae"] == pytest.approx((0 + 3 + 4) / 3)


def test_given_no_points_or_no_scale_then_metrics_are_null_not_zero() -> None:
    empty = scoring.answer(scoring.ScoreSums())
    assert all(v is None for v in empty["metrics"].values())
    constant = scoring.answer(scoring.point_sums([_point("2024-03-01", 0, 0)], scale=None))
    assert constant["metrics"]["mase"] is None and constant["metrics"]["wape"] is None
    assert constant["metrics"]["mae"] == 0.0


def test_given_the_same_actual_again_then_the_points_and_sums_are_bit_for_bit_the_same() -> None:
    forecast = [{"date": "2024-03-01", "mean": 3.0, "lo_80": 1.0, "hi_80": 5.0}, {"date": "2024-03-02", "mean": 4.0}]
    first = scoring.scored_points(forecast, [None, None], [2.0, 2.5], {"2024-03-01": 2.0, "2024-03-02": 7.0})
    again = scoring.scored_points(forecast, [None, None], [2.0, 2.5], {"2024-03-01": 2.0})
    merged = {**first, **again}
    assert merged == first
    assert scoring.point_sums(merged.values(), 1.5) == scoring.point_sums(first.values(), 1.5)


def test_given_a_correction_then_its_point_is_replaced_and_the_delta_adds_back_to_the_new_sums() -> None:
    rng = np.random.default_rng(1)
    old = {
        f"2024-03-{d:02d}": _point(f"2024-03-{d:02d}", float(rng.gamma(2, 3)), float(rng.gamma(2, 3)))
        for d in range(1, 29)
    }
    corrected = dict(old)
    corrected["2024-03-05"] = _point("2024-03-05", 100.0, old["2024-03-05"].mean)
    old_sums, new_sums = scoring.point_sums(old.values(), 1.7), scoring.point_sums(corrected.values(), 1.7)
    delta = new_sums.combine(old_sums, -1)
    assert delta.points == 0  # replaced, not added
    _same(scoring.answer(old_sums.combine(delta)), scoring.answer(new_sums))
    flat = scoring.Sums.from_flat(delta.sets["metrics"].flat())
    assert flat == delta.sets["metrics"]


def test_given_an_adjustment_then_with_finals_moves_final_only() -> None:
    forecast = [{"date": "2024-03-01", "mean": 3.0}, {"date": "2024-03-02", "mean": 4.0}]
    points = scoring.scored_points(forecast, [None, None], None, {"2024-03-01": 2.0, "2024-03-02": 7.0})
    moved = scoring.with_finals(points, forecast, [None, 9.0])
    assert moved["2024-03-02"].final == 9.0 and moved["2024-03-02"].mean == 4.0
    assert moved["2024-03-01"] == points["2024-03-01"]


def test_given_months_of_points_then_their_sums_split_by_calendar_month_and_add_to_the_whole() -> None:
    points = [_point("2024-03-31", 1, 2), _point("2024-04-01", 5, 2), _point("2024-04-02", 3, 3)]
    months = scoring.sums_by_month(points, 1.0)
    assert sorted(months) == ["2024-03", "2024-04"]
    whole = months["2024-03"].combine(months["2024-04"])
    _same(scoring.answer(whole), scoring.answer(scoring.point_sums(points, 1.0)))


def test_given_a_daily_run_then_only_the_days_that_arrived_are_scored() -> None:
    actuals = scoring.daily_actuals(D0, np.arange(10, dtype=float), "D")
    dates = [(D0 + dt.timedelta(days=i)).isoformat() for i in range(5, 12)]
    got = scoring.period_actuals(dates, "D", actuals, [D0 + dt.timedelta(days=6), D0 + dt.timedelta(days=11)])
    assert got == {"2024-03-07": 6.0}  # 2024-03-12 is past the stored series


def test_given_a_weekly_run_then_a_week_counts_once_complete_with_the_days_summed() -> None:
    monday = dt.date(2024, 3, 4)
    days = np.arange(1.0, 14.0)  # 13 days: Monday 2024-03-04 through Saturday 2024-03-16
    actuals = scoring.daily_actuals(monday, days, "D")
    got = scoring.period_actuals(["2024-03-04", "2024-03-11"], "W", actuals, [])
    assert got == {"2024-03-04": float(days[:7].sum())}  # the second week lacks its Sunday
    full = scoring.daily_actuals(monday, np.append(days, 2.0), "D")
    assert scoring.period_actuals(["2024-03-04", "2024-03-11"], "W", full, [])["2024-03-11"] == float(
        days[7:].sum() + 2
    )


def test_given_a_monthly_run_on_weekly_or_monthly_data_then_periods_are_as_the_run_aggregates_them() -> None:
    weeks = scoring.daily_actuals(dt.date(2024, 1, 1), np.full(9, 7.0), "W")  # 63 days through 2024-03-03
    got = scoring.period_actuals(["2024-01-01", "2024-02-01", "2024-03-01"], "M", weeks, [])
    assert got == {"2024-01-01": 31.0, "2024-02-01": 29.0}  # a week spread over its days; March incomplete
    months = scoring.daily_actuals(dt.date(2024, 1, 1), np.array([3.0, 4.5]), "M")
    assert scoring.period_actuals(["2024-02-01", "2024-03-01"], "M", months, []) == {"2024-02-01": 4.5}
    same = scoring.daily_actuals(dt.date(2024, 3, 4), np.array([0.3, 0.1]), "W")
    assert scoring.period_actuals(["2024-03-11"], "W", same, []) == {"2024-03-11": 0.1}  # its own value, not re-summed


def test_given_a_history_then_the_benchmark_repeats_its_last_season_or_its_last_value_when_shorter() -> None:
    y = np.arange(1.0, 11.0)
    assert seasonal_naive(y, 7, 9).tolist() == [4, 5, 6, 7, 8, 9, 10, 4, 5]
    assert seasonal_naive(np.array([2.0, 3.0]), 7, 3).tolist() == [3, 3, 3]
    assert seasonal_naive(np.zeros(0), 7, 2).tolist() == [0, 0]
    assert naive_scale(y, 7) == pytest.approx(7.0)
