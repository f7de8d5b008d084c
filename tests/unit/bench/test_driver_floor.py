import pytest

from bench.accuracy import driver_floor


def test_given_several_seeds_then_the_pooled_row_counts_every_promoted_sku_and_the_table_shows_each_seed() -> None:
    # two seeds' errors (half, relative error): the pooled share is over all four SKUs, not a mean of shares
    seeds = [
        {"seed": 1, "errors": {"skucast": [[0, 0.1], [1, 0.5], [1, 0.1]]}},
        {"seed": 2, "errors": {"skucast": [[0, 0.3]]}},
    ]
    pooled = driver_floor._row([e for s in seeds for e in s["errors"]["skucast"]])
    assert pooled["promoted_skus"] == 4 and pooled["within_all"] == 0.5
    assert pooled["within_quiet"] == 0.5 and pooled["within_noisy"] == 0.5
    rows = {s["seed"]: driver_floor._row(s["errors"]["skucast"]) for s in seeds}
    res = {
        "skus": 3,
        "seeds": [1, 2],
        "dispersion": [200.0, 15.0],
        "tolerance": 0.2,
        "references": {"skucast": pooled, "generator's model, fitted": pooled},
        "per_seed": [
            {"seed": k, "references": {"skucast": r, "generator's model, fitted": pooled}} for k, r in rows.items()
        ],
    }
    text = driver_floor.markdown(res)
    assert "seeds 1, 2" in text
    assert "| 1 | 4 | 50.0% | 66.7% | +16.7 pt |" in text and "| 2 | 4 | 50.0% | 0.0% | -50.0 pt |" in text
    # two seeds, gaps +16.7 and -50.0 pt: the mean and its t interval, one seed at or above the floor
    assert "mean -16.7 pt" in text and "on 1 of 2" in text
    low, high = driver_floor._mean_interval([1 / 6, -0.5])
    assert low < -0.5 and high > 1 / 6 and (low + high) / 2 == pytest.approx(-1 / 6)
