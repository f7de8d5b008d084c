import numpy as np

from bench.accuracy.launch_suite import HISTORY_WEEKS, LAUNCHES, TEST_WEEKS, generate, score


def test_given_a_seed_then_the_launch_suite_is_the_same_and_its_launches_start_where_they_say() -> None:
    a, b = generate(3, categories=1), generate(3, categories=1)
    assert all(np.array_equal(x.values, y.values) and x.sku == y.sku for x, y in zip(a, b, strict=True))
    launches = [s for s in a if s.kind == "launch"]
    assert len(launches) == 3 * LAUNCHES and {s.history_weeks for s in launches} == {0, 1, 2, 3}
    for s in a:
        assert s.values.size == HISTORY_WEEKS + TEST_WEEKS
        if s.launch > 0:  # nothing before the launch, a sale in its week
            assert not s.values[: s.launch].any() and s.values[s.launch] >= 1
        else:  # selling since before the data starts
            assert s.kind == "old" and s.values[:4].any()


def test_given_perfect_forecasts_then_the_analog_variant_scores_zero_and_meets_the_target() -> None:
    suite = generate(3, categories=1)
    truth = {s.sku: s.test for s in suite if s.kind == "launch"}
    res = score(suite, {"analog": truth, "new_policy": {k: v * 0 for k, v in truth.items()}})
    assert res["all"]["analog"] == 0.0 and res["all"]["new_policy"] == 1.0 and res["verdict"]["all"]
