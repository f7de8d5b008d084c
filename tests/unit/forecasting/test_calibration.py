"""Interval calibration on backtest errors, searched forms refitted in backtests, and combinations."""

import numpy as np
import pytest

from skucast.forecasting.backtest import Plan, _combine, _metric_sums, _Window, run
from skucast.forecasting.intervals import held_out_multipliers, points_needed, scale_bounds, width_multipliers
from skucast.forecasting.methods import METHODS, predict


def _window(rng: np.random.Generator, sigma: float, half_width: float, n: int = 40):
    """A backtest window whose actuals scatter with `sigma` around a flat forecast whose own
    80/95 % intervals have the given half-widths (95 % twice the 80 % one)."""
    mean = np.full(n, 100.0)
    actual = mean + rng.normal(0, sigma, n)
    bounds = {80: (mean - half_width, mean + half_width), 95: (mean - 2 * half_width, mean + 2 * half_width)}
    return actual, mean, bounds


def test_given_intervals_too_narrow_when_calibrated_then_they_widen_to_cover_the_backtest():
    rng = np.random.default_rng(1)
    windows = [_window(rng, sigma=10.0, half_width=4.0, n=200)]
    mult = width_multipliers(windows, (80, 95))
    assert 2.5 < mult[80] < 4.0  # 80 % of N(0, 10) lies within 12.8: 12.8 / 4 = 3.2
    assert mult[95] >= mult[80]
    actual, mean, bounds = windows[0]
    scaled = scale_bounds(mean, bounds, mult)
    lo, hi = scaled[80]
    assert 0.75 < np.mean((actual >= lo) & (actual <= hi)) < 0.9


def test_given_intervals_too_wide_when_calibrated_then_they_narrow():
    rng = np.random.default_rng(2)
    mult = width_multipliers([_window(rng, sigma=1.0, half_width=10.0, n=200)], (80,))
    assert mult[80] < 0.3


def test_given_too_few_backtest_points_for_a_level_when_calibrated_then_it_keeps_at_least_the_narrower_levels_scale():
    rng = np.random.default_rng(3)
    windows = [_window(rng, sigma=10.0, half_width=4.0, n=10)]  # 10 points: 80 % yes, 95 % needs 19
    assert points_needed(80) == 4 and points_needed(95) == 19
    mult = width_multipliers(windows, (80, 95))
    assert mult[80] > 1.5
    assert mult[95] == mult[80]  # not estimable: never narrower than the 80 % scaling


def test_given_several_windows_when_calibrated_then_each_level_uses_the_fewest_recent_windows_it_needs():
    rng = np.random.default_rng(4)
    recent = _window(rng, sigma=1.0, half_width=1.0, n=12)
    old = _window(rng, sigma=50.0, half_width=1.0, n=12)  # a wild older window
    mult = width_multipliers([recent, old], (80, 95))
    assert mult[80] < 3  # 12 recent points suffice for 80 %: the old window is not used
    assert mult[95] > 20  # 95 % needs 19 points: the old window joins


def test_given_empirical_quantile_when_calibrated_then_it_is_no_wider_than_the_conformal_one():
    rng = np.random.default_rng(5)
    windows = [_window(rng, sigma=5.0, half_width=4.0, n=28)]
    conformal = width_multipliers(windows, (80, 95))
    empirical = width_multipliers(windows, (80, 95), conformal=False)
    assert empirical[80] <= conformal[80] and empirical[95] <= conformal[95]


def test_given_a_searching_method_when_fitted_then_its_form_refits_to_the_same_forecast():
    rng = np.random.default_rng(6)
    t = np.arange(72)
    y = 100 * (1 + 0.3 * np.sin(2 * np.pi * t / 12)) * (1 + 0.01 * t) * rng.lognormal(0, 0.05, t.size)
    searched = predict("ets_zza", y, 12, 12, (80,))
    assert searched.form is not None and searched.form.season_length == 12
    refit = predict("ets_zza", y, 12, 12, (80,), searched.form)
    assert refit.form is None  # refitting a form searches nothing
    np.testing.assert_allclose(refit.mean, searched.mean, rtol=1e-9)
    np.testing.assert_allclose(refit.bounds[80][1], searched.bounds[80][1], rtol=1e-9)
    assert predict("theta", y, 12, 12, (80,)).form is None  # methods that do not search have no form


def test_given_a_form_chosen_at_another_season_when_refitting_then_the_method_searches_again():
    rng = np.random.default_rng(7)
    y = 50 + rng.normal(0, 3, 60)
    form = predict("ets_zza", y, 6, 12, ()).form
    assert form is not None
    short = predict("ets_zza", y[:20], 6, 12, (), form)  # 20 points: under two seasons, season 1
    assert short.form is not None and short.form.season_length == 1


@pytest.mark.parametrize("how, expected", [("median", [2.0, 2.0]), ("mean", [3.0, 10.0 / 3])])
def test_given_members_when_combined_then_median_or_mean_of_those_that_succeeded(how, expected):
    a = _Window(5, np.array([1.0, 1.0]), None)
    b = _Window(5, np.array([2.0, 2.0]), None)
    c = _Window(5, np.array([6.0, 7.0]), None)
    np.testing.assert_allclose(_combine([a, b, c], how).mean, expected)
    assert _combine([a, None, c], how) is not None  # a failed member stays out of the ensemble
    assert _combine([a, None, None], how) is None  # one member is not an ensemble


def test_given_a_member_that_fails_when_auto_runs_then_the_ensemble_is_made_of_the_others(monkeypatch):
    rng = np.random.default_rng(8)
    y = np.maximum(0, 20 + 5 * np.sin(np.arange(96) * 2 * np.pi / 12) + rng.normal(0, 1, 96))
    broken = METHODS["theta"]

    class NaNModel:
        def forecast(self, y, h, level=None):
            out = {"mean": np.full(h, np.nan)}
            for lv in level or ():
                out[f"lo-{lv}"] = out[f"hi-{lv}"] = np.full(h, np.nan)
            return out

    monkeypatch.setitem(METHODS, "theta", type(broken)("theta", broken.description, lambda m, n: NaNModel(), True))
    plan = Plan(12, 12, (80, 95), ("ets_level", "theta", "dynamic_optimized_theta"), True, 1, "smooth", 1.0, "mean")
    out = run(y, plan)
    assert out.method == "ensemble"
    assert np.all(np.isfinite(out.mean)) and np.all(out.mean >= 0)
    members = [predict(m, y, 12, 12, ()).mean for m in ("ets_level", "dynamic_optimized_theta")]
    np.testing.assert_allclose(out.mean, np.mean(members, axis=0), rtol=1e-9)


def _left_out_by_hand(window, older, levels, conformal):
    """The reference: width_multipliers called once per left-out point."""
    actual, mean, bounds = window
    out = {lv: np.empty(actual.size) for lv in levels}
    for i in range(actual.size):
        keep = np.arange(actual.size) != i
        others = (actual[keep], mean[keep], {lv: (lo[keep], hi[keep]) for lv, (lo, hi) in bounds.items()})
        for lv, m in width_multipliers([others, *older], levels, conformal).items():
            out[lv][i] = m
    return out


def _random_window(rng, h, spread, zero_width=False):
    mean = rng.uniform(5, 50, h)
    actual = np.round(mean + rng.normal(0, spread, h))
    half80, half95 = rng.uniform(1, 5, h), rng.uniform(5, 9, h)
    if zero_width:
        half80[::5] = 0.0  # a flat band: a miss on it needs an infinite factor
        actual[::7] = mean[::7]
    return actual, mean, {80: (mean - half80, mean + half80), 95: (mean - half95, mean + half95)}


@pytest.mark.parametrize("conformal", [True, False])
@pytest.mark.parametrize(("h", "n_older"), [(1, 0), (1, 2), (3, 0), (12, 1), (18, 1), (28, 0), (28, 2)])
def test_given_backtest_points_when_each_is_left_out_then_the_multipliers_equal_the_rule_called_per_point(
    h, n_older, conformal
):
    rng = np.random.default_rng(100 * h + n_older)
    for trial in range(5):
        window = _random_window(rng, h, spread=2 + trial, zero_width=trial % 2 == 1)
        older = [_random_window(rng, h, spread=3, zero_width=trial == 3) for _ in range(n_older)]
        fast = held_out_multipliers(window, older, (80, 95), conformal)
        slow = _left_out_by_hand(window, older, (80, 95), conformal)
        for lv in (80, 95):
            np.testing.assert_allclose(fast[lv], slow[lv], rtol=1e-12, atol=0)


def test_given_bands_three_times_too_wide_when_a_run_reports_coverage_then_it_is_that_of_the_shipped_bands():
    rng = np.random.default_rng(7)
    h = 200
    history = rng.normal(100, 1, 50)
    mean = np.full(h, 100.0)
    y = np.r_[history, mean + rng.normal(0, 1, h)]
    too_wide = {80: (mean - 3.85, mean + 3.85), 95: (mean - 5.9, mean + 5.9)}  # 3x the true widths
    windows = [_Window(history.size, mean, too_wide)]
    plan = Plan(h, 1, (80, 95), ("ets",), False, 1, conformal=False)
    native = _metric_sums(y, windows, plan, 1.0, scaled=False).finalize()
    shipped = _metric_sums(y, windows, plan, 1.0, scaled=True).finalize()
    assert native["coverage_80"] == 1.0 and native["coverage_95"] == 1.0
    assert 0.74 <= shipped["coverage_80"] <= 0.86
    assert 0.91 <= shipped["coverage_95"] <= 0.99
