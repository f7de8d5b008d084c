import dataclasses
import datetime as dt

import numpy as np
import pytest

from skucast.forecasting import EngineConfig, ForecastSpec, MetricSums, SeriesInput, forecast_batch
from skucast.forecasting.backtest import Plan, run
from skucast.forecasting.engine import forecast_one
from skucast.forecasting.methods import DEFAULT_POLICY, FREQUENCY_POLICY

START = dt.date(2024, 1, 1)  # a Monday


def _weekly_pattern(days: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pattern = np.array([5.0, 10, 10, 10, 10, 40, 60])
    return np.tile(pattern, days // 7 + 1)[:days] + rng.normal(0, 0.5, days).clip(-1, 1)


def _ordered(row: dict, levels=(80, 95)) -> bool:
    lo = [row[f"lo_{lv}"] for lv in sorted(levels, reverse=True)]
    hi = [row[f"hi_{lv}"] for lv in sorted(levels)]
    return lo[0] >= 0 and lo == sorted(lo) and lo[-1] <= row["mean"] <= hi[0] and hi == sorted(hi)


def test_given_strong_weekly_pattern_when_auto_then_seasonal_naive_wins_over_non_seasonal_candidates():
    y = _weekly_pattern(140)
    plan = Plan(
        horizon=14,
        season_length=7,
        levels=(80,),
        candidates=("naive", "historic_average", "seasonal_naive"),
        ensemble=True,
        backtest_windows=2,
        demand_class="smooth",
    )
    out = run(y, plan)
    assert out.method == "seasonal_naive"
    assert out.scores["seasonal_naive"] < min(out.scores["naive"], out.scores["historic_average"])
    assert "seasonal_naive had the lowest backtest" in out.reason


def test_given_level_shift_when_auto_then_naive_beats_historic_average():
    y = np.r_[np.full(60, 10.0), np.full(60, 50.0)] + np.random.default_rng(0).normal(0, 0.1, 120)
    plan = Plan(14, 1, (80,), ("historic_average", "naive"), False, 1, "smooth")
    assert run(y, plan).method == "naive"


def test_given_mixed_batch_when_forecast_then_one_result_per_input_in_order_with_classes_and_dated_rows():
    series = [
        SeriesInput("smooth", START, _weekly_pattern(200)),
        SeriesInput("sparse", START, np.tile([0.0, 0, 3, 0, 0, 0, 2], 30)),
        SeriesInput("gone", START, np.r_[np.full(100, 5.0), np.zeros(100)]),
    ]
    out = forecast_batch(series, ForecastSpec(horizon=10))
    assert [r.sku for r in out] == ["smooth", "sparse", "gone"]
    assert [r.demand_class for r in out] == [
        "erratic",
        "intermittent",
        "inactive",
    ]  # 5..60 by weekday: CV2 > 0.49
    assert out[2].method == "zero" and all(row["mean"] == 0 for row in out[2].forecast)
    assert [row["date"] for row in out[0].forecast[:2]] == [
        "2024-07-19",
        "2024-07-20",
    ]  # day after 2024-07-18
    for r in out:
        assert r.error is None and len(r.forecast) == 10 and all(_ordered(row) for row in r.forecast)
        assert set(r.candidates) >= {r.method} and r.reason


def test_given_weekly_run_when_forecast_then_rows_start_on_the_monday_after_the_last_partial_week():
    # history ends Wednesday 2024-07-17: the partial week is kept (pro-rated), the forecast starts next Monday
    # (mstl: the pro-rated Mon-Wed of a weekend-heavy pattern is low, and models that follow the
    # last point, like auto's theta and ETS members, pull the mean towards it)
    spec = ForecastSpec(horizon=3, frequency="W", method="mstl")
    out = forecast_batch([SeriesInput("a", START, _weekly_pattern(199))], spec)
    assert [row["date"] for row in out[0].forecast] == ["2024-07-22", "2024-07-29", "2024-08-05"]
    assert out[0].forecast[0]["mean"] == pytest.approx(145, rel=0.15)  # one week of the pattern


def test_given_monthly_run_when_forecast_then_rows_are_month_starts():
    out = forecast_batch([SeriesInput("a", START, _weekly_pattern(400))], ForecastSpec(horizon=2, frequency="M"))
    assert [row["date"] for row in out[0].forecast] == ["2025-03-01", "2025-04-01"]


POISON = {
    "nan": np.r_[np.full(50, 3.0), np.nan, np.full(50, 3.0)],
    "inf": np.r_[np.full(50, 3.0), np.inf],
    "empty": np.array([]),
    "one_point": np.array([7.0]),
    "all_zeros": np.zeros(100),
    "spike": np.r_[np.full(100, 3.0), 1e9, np.full(30, 3.0)],
    "negative": np.r_[np.full(100, 3.0), -5.0, np.full(30, 3.0)],
}


def test_given_poison_series_when_batched_then_every_series_gets_a_result_and_good_ones_are_unaffected():
    good = SeriesInput("good", START, _weekly_pattern(150))
    batch = [SeriesInput(k, START, v) for k, v in POISON.items()] + [good]
    out = forecast_batch(batch, ForecastSpec(horizon=7))
    by_sku = {r.sku: r for r in out}
    assert [r.sku for r in out] == [*POISON, "good"]
    assert by_sku["nan"].error["code"] == "non_finite_values" and by_sku["nan"].forecast == []
    assert by_sku["inf"].error["code"] == "non_finite_values"
    assert by_sku["empty"].error["code"] == "empty_series"
    for sku in ("one_point", "all_zeros", "spike", "negative", "good"):
        r = by_sku[sku]
        assert r.error is None and len(r.forecast) == 7, sku
        assert all(_ordered(row) for row in r.forecast), sku
    assert by_sku["all_zeros"].demand_class == "inactive"
    assert by_sku["one_point"].demand_class == "new" and by_sku["one_point"].forecast[0]["mean"] == 7.0
    assert forecast_batch([good], ForecastSpec(horizon=7))[0] == by_sku["good"]


def test_given_failing_candidates_when_forecast_then_fallback_is_used(monkeypatch):
    import skucast.forecasting.backtest as backtest

    real = backtest.predict

    def broken(name, *args, **kwargs):
        if name != "historic_average":
            raise RuntimeError("boom")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(backtest, "predict", broken)
    out = forecast_batch([SeriesInput("a", START, _weekly_pattern(150))], ForecastSpec(horizon=7))[0]
    assert out.error is None and out.method == "historic_average" and out.reason.startswith("fallback")
    assert out.forecast[0]["mean"] == pytest.approx(np.mean(_weekly_pattern(150)), rel=1e-6)


def test_given_same_input_twice_when_forecast_then_identical_output():
    series = [SeriesInput("a", START, _weekly_pattern(150, seed=4))]
    spec = ForecastSpec(horizon=7, backtest_windows=2)
    a, b = forecast_batch(series, spec), forecast_batch(series, spec)
    assert a == b


def test_given_backtest_windows_when_forecast_then_metrics_cover_those_windows_and_sums_finalize_to_them():
    series = [SeriesInput("a", START, _weekly_pattern(150))]
    r2 = forecast_batch(series, ForecastSpec(horizon=7, backtest_windows=2, method="seasonal_naive"))[0]
    r0 = forecast_batch(series, ForecastSpec(horizon=7, backtest_windows=0))[0]
    assert r2.metrics["n_points"] == 14 and r2.metrics == r2.metric_sums.finalize()
    assert {"mae", "rmse", "wape", "mase", "smape", "bias", "coverage_80", "coverage_95"} <= set(r2.metrics)
    assert r0.metrics == {} and r0.metric_sums == MetricSums()


def test_given_user_method_when_forecast_then_it_is_used_without_selection():
    out = forecast_batch([SeriesInput("a", START, _weekly_pattern(150))], ForecastSpec(horizon=7, method="naive"))[0]
    assert out.method == "naive" and list(out.candidates) == ["naive"]


@pytest.mark.parametrize(
    "bad",
    [
        dict(horizon=0),
        dict(horizon=367),
        dict(horizon=7, frequency="Q"),
        dict(horizon=7, levels=(40,)),
        dict(horizon=7, method="prophet"),
        dict(horizon=7, backtest_windows=6),
    ],
)
def test_given_invalid_spec_when_built_then_value_error(bad):
    with pytest.raises(ValueError):
        ForecastSpec(**bad)


def test_given_config_without_ensemble_when_auto_then_ensemble_is_not_a_candidate():
    config = dataclasses.replace(EngineConfig(), ensemble=False)
    out = forecast_batch([SeriesInput("a", START, _weekly_pattern(150))], ForecastSpec(horizon=7), config)[0]
    assert "ensemble" not in out.candidates


def test_given_smooth_series_when_auto_daily_then_the_daily_candidates_run_and_weekly_keeps_the_default():
    series = [SeriesInput("a", START, _weekly_pattern(400))]
    day = forecast_batch(series, ForecastSpec(horizon=14))[0]
    week = forecast_batch(series, ForecastSpec(horizon=4, frequency="W"))[0]
    assert set(day.candidates) == {*FREQUENCY_POLICY["D"][day.demand_class], "ensemble"}
    assert set(week.candidates) == {*DEFAULT_POLICY[week.demand_class], "ensemble"}


def test_given_config_frequency_policy_when_auto_then_it_overrides_the_daily_candidates():
    config = dataclasses.replace(EngineConfig(), frequency_policy={"D": {"smooth": ("naive",), "erratic": ("naive",)}})
    out = forecast_batch([SeriesInput("a", START, _weekly_pattern(200))], ForecastSpec(horizon=7), config)[0]
    assert out.method == "naive" and list(out.candidates) == ["naive"]


# ---------------------------------------------------------------- grain and origin
def _monthly(n: int = 48, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(5000 * (1 + 0.3 * np.sin(2 * np.pi * np.arange(n) / 12))).astype(float)


def test_given_monthly_data_when_forecast_monthly_then_the_last_month_is_whole_not_prorated() -> None:
    values = _monthly()
    spec = ForecastSpec(horizon=6, frequency="M", backtest_windows=0, method="naive")

    result = forecast_one(SeriesInput("m", dt.date(2021, 1, 1), values, "M"), spec)

    assert result.error is None and result.demand_class == "smooth"
    assert [p["date"] for p in result.forecast][:2] == ["2025-01-01", "2025-02-01"]
    assert {p["mean"] for p in result.forecast} == {values[-1]}  # naive: the last whole month


def test_given_data_coarser_than_the_run_then_each_sku_fails_with_granularity_too_coarse() -> None:
    for grain, frequency in (("M", "D"), ("M", "W"), ("W", "D")):
        start = dt.date(2024, 1, 1)  # a Monday and the 1st
        spec = ForecastSpec(horizon=3, frequency=frequency)
        result = forecast_one(SeriesInput("x", start, np.ones(30), grain), spec)
        assert result.error is not None and result.error["code"] == "granularity_too_coarse", (grain, frequency)
        assert result.forecast == []


def test_given_an_origin_after_the_last_row_then_the_gap_is_zero_demand_and_forecasts_start_after_it() -> None:
    spec = ForecastSpec(horizon=2, frequency="D", backtest_windows=0, method="naive", as_of=dt.date(2024, 1, 20))

    result = forecast_one(SeriesInput("x", dt.date(2024, 1, 1), np.full(10, 4.0)), spec)

    assert [p["date"] for p in result.forecast] == ["2024-01-21", "2024-01-22"]
    assert [p["mean"] for p in result.forecast] == [0.0, 0.0]


def test_given_an_origin_before_the_last_row_then_later_rows_are_not_history() -> None:
    values = np.arange(1.0, 11.0)  # 2024-01-01 .. 01-10
    spec = ForecastSpec(horizon=1, frequency="D", backtest_windows=0, method="naive", as_of=dt.date(2024, 1, 5))

    result = forecast_one(SeriesInput("x", dt.date(2024, 1, 1), values), spec)

    assert (result.forecast[0]["date"], result.forecast[0]["mean"]) == ("2024-01-06", 5.0)


def test_given_weekly_data_when_forecast_monthly_then_weeks_are_spread_over_their_days() -> None:
    weeks = np.full(20, 70.0)  # 10 a day, Mondays from 2024-01-01 to 2024-05-13
    spec = ForecastSpec(horizon=1, frequency="M", backtest_windows=0, method="naive")

    result = forecast_one(SeriesInput("w", dt.date(2024, 1, 1), weeks, "W"), spec)

    # May is covered through Sunday the 19th: 19 days of 10, pro-rated to 31 days.
    assert result.forecast[0]["date"] == "2024-06-01"
    assert result.forecast[0]["mean"] == pytest.approx(310.0)


def test_given_unknown_missing_periods_then_gaps_inside_are_interpolated_and_forecasts_reach_the_origin() -> None:
    values = np.array([10.0, 0.0, 30.0, 40.0, 0.0, 0.0])  # rows on days 0, 2, 3: the rest unknown
    recorded = np.array([True, False, True, True, False, False])
    spec = ForecastSpec(horizon=2, frequency="D", backtest_windows=0, method="naive", as_of=dt.date(2024, 1, 8))

    result = forecast_one(SeriesInput("x", dt.date(2024, 1, 1), values, "D", recorded), spec)
    zero = forecast_one(SeriesInput("x", dt.date(2024, 1, 1), values, "D"), spec)

    # Unknown: the last row (40) carries across the unobserved days; zero: the gap is no demand.
    assert [p["date"] for p in result.forecast] == ["2024-01-09", "2024-01-10"] == [p["date"] for p in zero.forecast]
    assert [p["mean"] for p in result.forecast] == [40.0, 40.0]
    assert [p["mean"] for p in zero.forecast] == [0.0, 0.0]
    averaged = dataclasses.replace(spec, method="historic_average")
    mean = forecast_one(SeriesInput("x", dt.date(2024, 1, 1), values, "D", recorded), averaged)
    assert mean.forecast[0]["mean"] == pytest.approx(np.mean([10.0, 20.0, 30.0, 40.0]))  # day 1 interpolated


def test_given_unknown_missing_periods_and_a_gap_too_long_then_stale_history() -> None:
    spec = ForecastSpec(horizon=2, frequency="D", backtest_windows=0, method="naive", as_of=dt.date(2026, 1, 1))
    recorded = np.ones(10, bool)

    result = forecast_one(SeriesInput("x", dt.date(2024, 1, 1), np.ones(10), "D", recorded), spec)

    assert result.error is not None and result.error["code"] == "stale_history"
