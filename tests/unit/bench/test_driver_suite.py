import numpy as np

from bench.accuracy.driver_suite import HISTORY_WEEKS, TEST_WEEKS, _season, generate, weeks


def test_given_a_seed_then_the_suite_is_the_same_and_its_truth_is_consistent() -> None:
    a, b = generate(12), generate(12)
    assert all(np.array_equal(x.history, y.history) and x.values == y.values for x, y in zip(a, b, strict=True))
    keys = [d.isoformat() for d in weeks()]
    assert all(d.weekday() == 0 for d in weeks()) and len(keys) == HISTORY_WEEKS + TEST_WEEKS
    for s in a:
        assert all(list(v) == keys for v in s.values.values())  # history and future, every week
        promo_test = np.array([s.values["promo"][k] for k in keys[HISTORY_WEEKS:]]) > 0
        assert np.array_equal(promo_test, s.promo_test)
        # the true promotion effect: zero without a promotion; with one, 1 - 1/(1 + uplift) of the
        # promoted weeks' demand, the uplift 0.3..1.2 times 0.85..1.15
        if not promo_test.any():
            assert s.true_effects["promo"] == 0.0
        else:
            share = s.true_effects["promo"] / s.mu_test[promo_test].sum()
            assert 1 - 1 / (1 + 0.3 * 0.85) <= share <= 1 - 1 / (1 + 1.2 * 1.15)
    holidays = np.array([a[0].values["holiday"][k] for k in keys[HISTORY_WEEKS:]])
    assert holidays[0] == 1 and holidays.sum() == 3  # New Year, MLK day, Washington's Birthday


def test_given_the_peaked_shape_then_each_year_has_one_sharp_peak_over_a_flat_year() -> None:
    # the season drawn alone: its peak is at least 30 % over the flat year and at most 12 weeks wide
    t = np.arange(52, dtype=float)
    for seed in range(20):
        season = _season(np.random.default_rng(seed), t, "peaked")
        flat = np.median(season)
        assert season.max() >= 1.3 * flat
        assert np.sum(season > flat + (season.max() - flat) / 2) <= 12
