"""The global LightGBM model on a small synthetic shard: promotions lift demand by a known factor."""

import datetime as dt

import numpy as np
import pytest

from skucast.forecasting import global_model
from skucast.forecasting.engine import Features, ForecastSpec, SeriesInput, history_at_frequency
from skucast.forecasting.periods import next_period

START = dt.date(2025, 1, 6)  # a Monday
DAYS = 300
H = 14


def _shard(n_skus: int = 12, seed: int = 0, promo_future: bool = True):
    """SKUs with a weekly pattern and a 'promo' flag that doubles demand; the future has promos
    on days 3..6 of the horizon. Base levels differ 50x across SKUs (the model must scale)."""
    rng = np.random.default_rng(seed)
    items, features = [], {}
    for k in range(n_skus):
        level = 2.0 + 100.0 * (k % 4) / 3
        days = DAYS + H
        promo = (rng.random(days) < 0.08).astype(float)
        promo[DAYS : DAYS + H] = 0.0
        if promo_future:
            promo[DAYS + 3 : DAYS + 7] = 1.0
        week = 1.0 + 0.3 * np.sin(2 * np.pi * np.arange(days) / 7)
        y = rng.poisson(level * week * (1.0 + promo)).astype(float)
        sku = f"sku-{k:02d}"
        items.append(SeriesInput(sku, START, y[:DAYS], "D"))
        values = {next_period(START, "D", i).isoformat(): float(promo[i]) for i in range(days)}
        features[sku] = Features({"promo": values}, {"promo": "flag"}, frozenset({"promo"}))
    return items, features


SPEC = ForecastSpec(horizon=H, frequency="D", backtest_windows=1, as_of=next_period(START, "D", DAYS - 1))
SMALL = global_model.GlobalConfig(n_estimators=60)


@pytest.fixture(scope="module")
def trained():
    items, features = _shard()
    return items, features, global_model.train(items, features, SPEC, SMALL)


def test_given_a_shard_when_trained_then_every_sku_gets_a_final_forecast_and_two_backtest_windows(trained):
    items, features, models = trained
    out = global_model.predict(models, items, features, SPEC)
    assert sorted(out) == [i.sku for i in items]
    for item in items:
        ext = out[item.sku]
        assert ext.name == "global_lgbm"
        assert ext.final.shape == (H,) and np.all(ext.final >= 0)
        assert sorted(ext.windows) == [0, 1]  # max(backtest_windows, 2)
        assert all(w.shape == (H,) for w in ext.windows.values())


def test_given_planned_promotions_when_predicted_then_promoted_days_are_forecast_higher_and_the_effect_is_positive(
    trained,
):
    items, features, models = trained
    out = global_model.predict(models, items, features, SPEC)
    for item in items:
        ext = out[item.sku]
        assert ext.final[3:7].mean() > 1.4 * np.delete(ext.final, range(3, 7)).mean()
        (effect,) = ext.feature_effects()
        assert effect["name"] == "promo"
        assert effect["units"] > 0
    # A high-volume SKU's effect in units is far larger than a low-volume one's (scaled back).
    assert out["sku-03"].feature_effects()[0]["units"] > 10 * out["sku-00"].feature_effects()[0]["units"]


def test_given_a_window_model_when_predicting_then_it_never_saw_the_data_after_its_origin():
    items, features = _shard()
    # Change the demand after window 0's origin: the window models must not move, the final must.
    cut = DAYS - H
    changed = [SeriesInput(i.sku, i.start, np.concatenate([i.values[:cut], i.values[cut:] * 5]), "D") for i in items]
    a = global_model.predict(global_model.train(items, features, SPEC, SMALL), items, features, SPEC)
    b = global_model.predict(global_model.train(changed, features, SPEC, SMALL), changed, features, SPEC)
    sku = items[0].sku
    np.testing.assert_array_equal(a[sku].windows[1], b[sku].windows[1])
    assert not np.array_equal(a[sku].final, b[sku].final)


def test_given_the_same_model_and_inputs_when_predicted_twice_or_in_another_batch_then_the_bits_are_equal(trained):
    items, features, models = trained
    first = global_model.predict(models, items, features, SPEC)
    again = global_model.predict(models, items[5:7], features, SPEC)
    for sku in again:
        assert first[sku].final.tobytes() == again[sku].final.tobytes()
        assert first[sku].feature_effects() == again[sku].feature_effects()
    # And training is deterministic: the same shard trains the same model.
    retrained = global_model.train(items, features, SPEC, SMALL)
    assert global_model.predict(retrained, items, features, SPEC)["sku-01"].final.tobytes() == (
        first["sku-01"].final.tobytes()
    )


def test_given_changed_future_drivers_when_predicted_then_only_the_forecast_moves_not_the_model(trained):
    items, features, models = trained
    no_promo = {sku: _drop_future_promos(f) for sku, f in features.items()}
    base = global_model.predict(models, items, features, SPEC)["sku-02"]
    scenario = global_model.predict(models, items, no_promo, SPEC)["sku-02"]
    assert scenario.final.sum() < base.final.sum()
    for j in base.windows:  # backtests look at the past: unchanged
        assert scenario.windows[j].tobytes() == base.windows[j].tobytes()


def test_given_a_promotion_when_explained_then_its_effect_is_the_forecast_minus_the_forecast_without_it(trained):
    # The counterfactual through the recursive lags: what a planner asks "the promotion adds".
    items, features, models = trained
    no_promo = {sku: _drop_future_promos(f) for sku, f in features.items()}
    base = global_model.predict(models, items, features, SPEC)
    without = global_model.predict(models, items, no_promo, SPEC)
    for sku in ("sku-00", "sku-03"):
        (effect,) = base[sku].feature_effects()
        assert effect["units"] == pytest.approx(base[sku].final.sum() - without[sku].final.sum(), rel=1e-9)
        # No promotion planned: the feature is at its reference all horizon long, it adds nothing.
        assert without[sku].feature_effects() == ({"name": "promo", "units": 0.0},)


def _drop_future_promos(f: Features) -> Features:
    future = {next_period(START, "D", DAYS + i).isoformat() for i in range(H)}
    values = {k: (0.0 if k in future else v) for k, v in f.values["promo"].items()}
    return Features({"promo": values}, f.kinds, f.known_in_advance)


def test_given_short_or_stale_histories_when_predicted_then_they_get_no_candidate(trained):
    items, features, models = trained
    short = SeriesInput("short", next_period(START, "D", DAYS - 20), np.ones(20), "D")
    stale = SeriesInput("stale", START, np.ones(DAYS - 30), "D", recorded=np.ones(DAYS - 30, bool))
    assert history_at_frequency(stale, SPEC).skip > 0
    both = [*items[:2], short, stale]
    models = global_model.train(both, features, SPEC, SMALL)
    assert sorted(global_model.predict(models, both, features, SPEC)) == [items[0].sku, items[1].sku]


def test_given_weekly_and_monthly_runs_when_trained_then_they_predict_at_that_frequency():
    items, _ = _shard(n_skus=4, promo_future=False)
    for freq, h in (("W", 4), ("M", 2)):
        spec = ForecastSpec(horizon=h, frequency=freq, backtest_windows=0, as_of=SPEC.as_of)
        config = global_model.GlobalConfig(n_estimators=20, min_periods={"W": 20, "M": 6})
        out = global_model.predict(global_model.train(items, {}, spec, config), items, {}, spec)
        assert sorted(out) == [i.sku for i in items]
        assert out[items[0].sku].final.shape == (h,)
        assert out[items[0].sku].feature_effects() == ()  # no features: nothing to explain


def test_given_models_for_another_horizon_when_predicting_then_no_candidate(trained):
    items, features, models = trained
    other = ForecastSpec(horizon=H + 1, frequency="D", backtest_windows=1, as_of=SPEC.as_of)
    assert global_model.predict(models, items, features, other) == {}
