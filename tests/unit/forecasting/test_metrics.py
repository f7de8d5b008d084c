import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skucast.forecasting.metrics import MetricSums, naive_scale

ACTUAL = np.array([10.0, 0.0, 5.0, 5.0])
FORECAST = np.array([8.0, 1.0, 5.0, 9.0])  # errors f - a: -2, 1, 0, 4


def test_given_known_points_when_finalized_then_each_metric_matches_hand_computation():
    bounds = {80: (np.array([9.0, 0.0, 6.0, 0.0]), np.array([11.0, 2.0, 7.0, 4.0]))}
    m = MetricSums.from_points(ACTUAL, FORECAST, scale=2.0, bounds=bounds).finalize()
    assert m["mae"] == pytest.approx(7 / 4)
    assert m["rmse"] == pytest.approx(math.sqrt((4 + 1 + 0 + 16) / 4))
    assert m["wape"] == pytest.approx(7 / 20)
    assert m["mase"] == pytest.approx(7 / 4 / 2)
    assert m["bias"] == pytest.approx(3 / 4)
    assert m["smape"] == pytest.approx(100 * (4 / 18 + 2 / 1 + 0 + 8 / 14) / 4)
    assert m["coverage_80"] == pytest.approx(2 / 4)  # 10 in [9,11], 0 in [0,2]; 5 not in [6,7], 5 > 4


def test_given_zero_denominators_when_finalized_then_metrics_are_none():
    m = MetricSums.from_points(np.zeros(3), np.zeros(3), scale=None).finalize()
    assert m["wape"] is None and m["mase"] is None
    assert m["smape"] == 0.0 and m["mae"] == 0.0
    assert MetricSums().finalize()["rmse"] is None


def test_given_a_series_when_naive_scale_then_mean_absolute_seasonal_difference():
    y = np.array([1.0, 2.0, 4.0, 1.0, 3.0, 7.0])
    assert naive_scale(y, 1) == pytest.approx((1 + 2 + 3 + 2 + 4) / 5)
    assert naive_scale(y, 3) == pytest.approx((0 + 1 + 3) / 3)
    assert naive_scale(np.ones(5)) is None


blocks = st.lists(
    st.tuples(
        st.lists(st.floats(0, 1e4), min_size=1, max_size=8),
        st.floats(0.1, 100),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=40, deadline=None)
@given(blocks)
def test_given_batches_when_sums_merged_then_equal_computing_on_the_concatenation(parts):
    sums, actual, forecast, scaled_abs = [], [], [], []
    for values, scale in parts:
        a = np.array(values)
        f = a[::-1] * 0.9 + 1
        lo, hi = f - 2, f + 2
        sums.append(MetricSums.from_points(a, f, scale, {80: (lo, hi)}))
        actual.append(a)
        forecast.append(f)
        scaled_abs.append(np.abs(f - a) / scale)
    merged = MetricSums.merge(sums).finalize()
    a, f = np.concatenate(actual), np.concatenate(forecast)
    assert merged["mae"] == pytest.approx(np.mean(np.abs(f - a)))
    assert merged["rmse"] == pytest.approx(np.sqrt(np.mean((f - a) ** 2)))
    assert merged["mase"] == pytest.approx(np.mean(np.concatenate(scaled_abs)))
    assert merged["bias"] == pytest.approx(np.mean(f - a), abs=1e-9)
    assert merged["coverage_80"] == pytest.approx(np.mean(np.abs(f - a) <= 2))
    assert merged["n_points"] == a.size


def test_given_sums_when_round_tripped_through_dict_then_unchanged():
    s = MetricSums.from_points(ACTUAL, FORECAST, 2.0, {95: (FORECAST - 1, FORECAST + 1)})
    assert MetricSums.from_dict(s.to_dict()) == s
    assert (s + MetricSums()).finalize() == s.finalize()
