"""The analog method (forecasting/analog.py): launch profile, level scaling, intervals, group
choice, and the engine using it only for new SKUs that have a group."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from skucast.forecasting import analog
from skucast.forecasting.engine import ForecastSpec, SeriesInput, forecast_one

CURVE = np.array([2.0, 5.0, 9.0, 10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.5, 4.0, 3.5, 3.0, 3.0, 3.0, 3.0])


def _members(scales: list[float], noise: float = 0.0, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [s * CURVE * (1 + noise * rng.standard_normal(CURVE.size)).clip(0.1) for s in scales]


def test_given_members_of_different_scales_when_profiled_then_the_shape_is_their_common_curve() -> None:
    profile = analog.build_profile({"category": "Kitchen"}, _members([1, 2, 4, 8, 16]), ages=20, early=8)
    assert profile is not None and profile.members == 5
    early_level = float(np.mean(CURVE[:8]))
    np.testing.assert_allclose(profile.shape[:16], CURVE / early_level)
    assert np.all(profile.shape[16:] == profile.shape[15])  # past the members' ages: the last one
    assert profile.level == pytest.approx(4 * early_level)  # the members' median early level


def test_given_too_few_members_or_histories_too_short_then_there_is_no_profile() -> None:
    assert analog.build_profile({"c": "x"}, _members([1, 2, 3, 4]), ages=10, early=8) is None
    short = [m[:5] for m in _members([1, 2, 3, 4, 5, 6])]
    assert analog.build_profile({"c": "x"}, short, ages=10, early=8) is None


def test_given_a_few_points_when_forecast_then_the_level_is_scaled_from_them_and_shrunk_to_the_group() -> None:
    profile = analog.build_profile({"c": "x"}, _members([1, 2, 4, 8, 16]), ages=30, early=8)
    assert profile is not None
    none, _, level0 = analog.forecast(profile, np.array([]), horizon=4)
    assert level0 == pytest.approx(profile.level)
    np.testing.assert_allclose(none, profile.level * profile.shape[:4])
    # Three points of a SKU at 10x the unit curve: its own level, shrunk toward the group's.
    own = 10 * CURVE[:3]
    mean, bounds, level = analog.forecast(profile, own, horizon=5)
    own_level = 10 * float(np.mean(CURVE[:8]))
    w = 3 / (3 + analog.SHRINK)
    expected = np.exp(w * np.log(own_level) + (1 - w) * np.log(profile.level))
    assert level == pytest.approx(expected)
    np.testing.assert_allclose(mean, level * profile.shape[3:8])
    for lo, hi in bounds.values():
        assert np.all(lo >= 0) and np.all(lo <= mean) and np.all(mean <= hi)
    # An unknown gap moves the ages on.
    gap, _, _ = analog.forecast(profile, own, horizon=2, skip=2)
    np.testing.assert_allclose(gap, level * profile.shape[5:7])


def test_given_noisy_members_then_the_bands_widen_with_the_members_spread() -> None:
    calm = analog.build_profile({"c": "x"}, _members([1.0] * 30, noise=0.05), ages=16, early=8)
    wild = analog.build_profile({"c": "x"}, _members([1.0] * 30, noise=0.5), ages=16, early=8)
    assert calm is not None and wild is not None
    width = {name: p.own[80][1] - p.own[80][0] for name, p in (("calm", calm), ("wild", wild))}
    assert np.all(width["wild"] > width["calm"])
    assert analog.Profile.from_dict(wild.to_dict()).to_dict() == wild.to_dict()


def test_given_attributes_when_choosing_a_group_then_the_most_specific_big_enough_one_wins() -> None:
    brands = ["Acme"] * 6 + ["Other"] * 3 + ["Third"] * 3
    established = {f"k{i}": {"category": "Kitchen", "brand": b} for i, b in enumerate(brands)}
    established |= {f"t{i}": {"category": "Toys", "brand": "Acme"} for i in range(3)}
    index = analog.GroupIndex(established, min_group=5)
    assert index.order == ["category", "brand"]  # 2 categories, 3 brands: coarse to fine
    group, members = index.choose({"category": "Kitchen", "brand": "Acme"}) or ({}, [])
    assert group == {"category": "Kitchen", "brand": "Acme"} and sorted(members) == [f"k{i}" for i in range(6)]
    assert members == sorted(members, key=analog.member_order)
    # Toys/Acme has 3 members: its category alone has 3 too - no group; Kitchen/Nobody -> Kitchen.
    assert index.choose({"category": "Toys", "brand": "Acme"}) is None
    assert (index.choose({"category": "Kitchen", "brand": "Nobody"}) or ({}, []))[0] == {"category": "Kitchen"}
    assert index.choose({"colour": "red"}) is None


def test_given_a_new_sku_with_a_profile_then_the_engine_forecasts_it_by_analog_and_without_one_as_before() -> None:
    profile = analog.build_profile({"category": "Kitchen"}, _members([1, 2, 4, 8, 16]), ages=20, early=8)
    start = dt.date(2024, 1, 1)  # a Monday: weekly data
    spec = ForecastSpec(horizon=4, frequency="W", as_of=start + dt.timedelta(weeks=2))
    new = SeriesInput("n1", start, np.array([20.0, 50.0, 90.0]), "W")
    with_group = forecast_one(SeriesInput("n1", start, new.values, "W", analog=profile), spec)
    assert (with_group.method, with_group.demand_class) == ("analog", "new")
    assert with_group.analog is not None and with_group.analog["group"] == {"category": "Kitchen"}
    assert [p["date"] for p in with_group.forecast] == ["2024-01-22", "2024-01-29", "2024-02-05", "2024-02-12"]
    assert forecast_one(new, spec).method in ("window_average", "naive", "historic_average", "ensemble")
    # An established SKU ignores a profile; a run naming another method too.
    old = SeriesInput("o", start, np.full(30, 10.0), "W", analog=profile)
    assert forecast_one(old, ForecastSpec(horizon=4, frequency="W")).method != "analog"
    named = forecast_one(
        SeriesInput("n1", start, new.values, "W", analog=profile), ForecastSpec(4, "W", method="naive")
    )
    assert named.method == "naive"


def test_given_a_sku_never_sold_with_a_profile_then_it_launches_in_the_first_forecast_period() -> None:
    profile = analog.build_profile({"category": "Kitchen"}, _members([1, 2, 4, 8, 16]), ages=20, early=8)
    assert profile is not None
    start = dt.date(2024, 1, 1)
    listed = SeriesInput("soon", start, np.zeros(3), "W", analog=profile)  # zero rows only
    out = forecast_one(listed, ForecastSpec(horizon=4, frequency="W"))
    assert out.method == "analog" and out.analog is not None and out.analog["level"] == pytest.approx(profile.level)
    np.testing.assert_allclose([p["mean"] for p in out.forecast], profile.level * profile.shape[:4])
    assert out.forecast[0]["date"] == "2024-01-22"  # the period after its last (zero) row
    assert forecast_one(dataclasses.replace(listed, analog=None), ForecastSpec(4, "W")).method == "zero"
