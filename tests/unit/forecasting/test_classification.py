import datetime as dt

import numpy as np
import pytest

from skucast.forecasting.classification import (
    ClassificationConfig,
    classify,
    classify_daily,
    classify_periods,
)
from skucast.forecasting.periods import aggregate

MONDAY = dt.date(2024, 1, 1)


def _smooth_daily(days: int = 364) -> np.ndarray:
    rng = np.random.default_rng(0)
    return 20 + rng.normal(0, 2, days)


def _every_k_days(k: int, days: int = 364, size: float = 5.0) -> np.ndarray:
    v = np.zeros(days)
    v[::k] = size
    return v


@pytest.mark.parametrize("frequency", ["D", "W", "M"])
def test_given_steady_daily_demand_when_classified_at_any_frequency_then_smooth(frequency):
    assert classify_daily(MONDAY, _smooth_daily(), frequency).demand_class == "smooth"


@pytest.mark.parametrize("frequency", ["D", "W", "M"])
def test_given_regular_alternating_sizes_when_classified_then_erratic(frequency):
    rng = np.random.default_rng(1)
    daily = rng.choice([1.0, 40.0], size=364 * 2, p=[0.75, 0.25])
    # per-period sums vary strongly: erratic at D; at W/M the CV2 of the sums falls
    expected = {"D": "erratic", "W": "smooth", "M": "smooth"}[frequency]
    assert classify_daily(MONDAY, daily, frequency).demand_class == expected


def test_given_sales_every_third_day_of_equal_size_when_classified_daily_then_intermittent():
    c = classify_daily(MONDAY, _every_k_days(3), "D")
    assert c.demand_class == "intermittent"
    assert c.adi == pytest.approx(3.0, abs=0.02)
    assert c.cv2 == pytest.approx(0.0)


def test_given_rare_sales_of_varied_size_when_classified_daily_then_lumpy():
    daily = np.zeros(364)
    daily[::5] = np.tile([1.0, 30.0], 37)[: daily[::5].size]
    assert classify_daily(MONDAY, daily, "D").demand_class == "lumpy"


def test_given_one_value_per_month_on_the_first_when_classified_monthly_then_smooth_not_intermittent():
    start = dt.date(2022, 1, 1)
    days = (dt.date(2024, 1, 1) - start).days
    daily = np.zeros(days)
    for m in range(24):
        first = dt.date(2022 + m // 12, m % 12 + 1, 1)
        daily[(first - start).days] = 100 + 5 * (m % 3)
    assert classify_daily(start, daily, "D").demand_class == "intermittent"
    assert classify_daily(start, daily, "D").adi > 20
    assert classify_daily(start, daily, "M").demand_class == "smooth"


def test_given_twice_weekly_sales_when_classified_weekly_then_smooth_but_daily_intermittent():
    daily = _every_k_days(7, 364 * 2) + np.roll(_every_k_days(7, 364 * 2), 3)
    assert classify_daily(MONDAY, daily, "D").demand_class == "intermittent"
    assert classify_daily(MONDAY, daily, "W").demand_class == "smooth"


def test_given_short_history_when_classified_then_new():
    assert classify_daily(MONDAY, np.full(20, 5.0), "D").demand_class == "new"
    assert classify_daily(MONDAY, np.full(60, 5.0), "M").demand_class == "new"


def test_given_too_few_nonzero_demands_when_classified_then_new():
    daily = np.zeros(200)
    daily[[150, 170, 190]] = 4.0
    assert classify_daily(MONDAY, daily, "D").demand_class == "new"


def test_given_no_recent_demand_when_classified_then_inactive():
    daily = np.r_[_smooth_daily(300), np.zeros(100)]
    assert classify_daily(MONDAY, daily, "D").demand_class == "inactive"
    assert classify_daily(MONDAY, np.zeros(50), "D").demand_class == "inactive"


def test_given_leading_zeros_before_launch_when_classified_then_they_do_not_count():
    daily = np.r_[np.zeros(300), _smooth_daily(100)]
    c = classify_daily(MONDAY, daily, "D")
    assert (c.demand_class, c.n_periods) == ("smooth", 100)


def test_given_custom_cutoffs_when_classified_then_they_apply():
    values = np.tile([10.0, 0.0, 10.0], 40)  # ADI 1.5
    assert classify_periods(values).demand_class == "intermittent"
    assert classify_periods(values, ClassificationConfig(adi_cutoff=2.0)).demand_class == "smooth"


def test_given_daily_values_when_classify_called_then_same_as_classify_daily_from_a_monday():
    daily = _every_k_days(2, 400)
    assert classify(daily, "W") == classify_daily(MONDAY, daily, "W")


def test_given_wednesday_start_when_aggregated_weekly_then_iso_weeks_with_partial_first_week():
    starts, values = aggregate(dt.date(2024, 1, 3), np.ones(12), "W")
    assert starts == [dt.date(2024, 1, 1), dt.date(2024, 1, 8)]
    assert values.tolist() == [5.0, 7.0]


def test_given_days_across_months_when_aggregated_monthly_then_calendar_months():
    starts, values = aggregate(dt.date(2024, 1, 30), np.arange(1.0, 34.0), "M")
    assert starts == [dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)]
    assert values.tolist() == [3.0, sum(range(3, 32)), 32.0 + 33.0]
    assert values.sum() == sum(range(1, 34))
