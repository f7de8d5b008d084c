import numpy as np
import pytest

from skucast.forecasting.backtest import Plan, run
from skucast.forecasting.classification import DEMAND_CLASSES
from skucast.forecasting.methods import (
    DEFAULT_POLICY,
    FREQUENCY_POLICY,
    METHODS,
    effective_season,
    list_methods,
    method_names,
    policy_for,
)

SLOW = {"auto_arima", "auto_ets", "auto_theta", "auto_ces", "arima_x", "mstl_x"}  # the _x ones: test_exog.py


def test_given_every_demand_class_when_policy_looked_up_then_registered_candidates_exist():
    for demand_class in DEMAND_CLASSES:
        assert DEFAULT_POLICY[demand_class], demand_class
        assert set(DEFAULT_POLICY[demand_class]) <= set(METHODS)


def test_given_registry_when_listed_then_every_method_and_auto_are_served_with_their_classes():
    infos = {i.name: i for i in list_methods()}
    assert set(infos) == {"auto", *method_names()}
    assert "intermittent" in infos["croston_sba"].demand_classes
    assert infos["zero"].demand_classes == ("inactive",)
    assert all(i.description for i in infos.values())


def test_given_short_history_when_season_chosen_then_seasonality_needs_two_seasons():
    assert effective_season(7, 14) == 7
    assert effective_season(7, 13) == 1
    assert effective_season(52, 100) == 1


@pytest.mark.parametrize("name", sorted(set(METHODS) - SLOW))
@pytest.mark.parametrize("demand_class", ["smooth", "intermittent"])
def test_given_any_registered_method_when_forecasting_then_bounds_are_ordered_and_non_negative(name, demand_class):
    rng = np.random.default_rng(3)
    if demand_class == "smooth":
        y = np.maximum(0, 5 + 3 * np.sin(np.arange(120) * 2 * np.pi / 7) + rng.normal(0, 2, 120))
    else:
        y = (rng.random(120) < 0.3) * rng.poisson(2, 120).astype(float)
    plan = Plan(
        horizon=14,
        season_length=7,
        levels=(80, 95),
        candidates=(name,),
        ensemble=False,
        backtest_windows=2,
        demand_class=demand_class,
    )
    out = run(y, plan)
    lo95, hi95 = out.bounds[95]
    lo80, hi80 = out.bounds[80]
    assert out.method == name and out.mean.shape == (14,)
    assert np.all(lo95 >= 0)
    assert np.all(lo95 <= lo80) and np.all(lo80 <= out.mean) and np.all(out.mean <= hi80) and np.all(hi80 <= hi95)
    if name != "zero":
        assert np.any(hi95 > lo95)  # an interval, not a point


def test_given_frequency_overrides_when_policy_looked_up_then_only_listed_classes_change():
    daily = policy_for("D")
    assert daily["smooth"] == FREQUENCY_POLICY["D"]["smooth"] != DEFAULT_POLICY["smooth"]
    assert daily["intermittent"] == DEFAULT_POLICY["intermittent"]
    assert policy_for("W") == policy_for("M") == DEFAULT_POLICY
    for overrides in FREQUENCY_POLICY.values():
        for names in overrides.values():
            assert names and set(names) <= set(METHODS)


def test_given_daily_override_when_listed_then_its_methods_carry_the_classes_they_serve():
    infos = {i.name: i for i in list_methods()}
    assert {"smooth", "erratic"} <= set(infos["ets_level"].demand_classes)
    assert infos["ets"].demand_classes == ()  # no longer auto's choice at any frequency
    assert infos["auto_ets"].demand_classes == ()
