"""The hierarchy benches' arithmetic and generator: aws_model.hierarchy_model on made-up
measurements (bench/hierarchy.py itself runs minutes), the accuracy suite's seeded hierarchy, and
the `hierarchy` section's report rows."""

from __future__ import annotations

import numpy as np

from bench import aws_model


def _point(skus: int, seconds: float, peak_mb: float) -> dict:
    return {
        "skus": skus,
        "series": skus + 1111,
        "nodes": 1111,
        "s_nonzeros": 5 * skus,
        "seconds": seconds,
        "peak_mb": peak_mb,
    }


def _measured(per_sku_seconds: float) -> dict:
    return {"scaling": [_point(n, per_sku_seconds * n, 200 + 0.005 * n) for n in (25_000, 50_000, 100_000)]}


def test_given_linear_scaling_then_the_model_extrapolates_memory_and_time_and_judges_one_invocation() -> None:
    m = aws_model.hierarchy_model(_measured(0.0001))  # 100 s of solve at 1M SKUs
    assert m["time_fit"]["exponent"] == 1.0 and m["solve_seconds"] == 100
    assert m["memory_fit_mb"] == {"intercept": 200.0, "per_sku_kb": 5.12} and m["peak_mb"] == 5200
    assert m["s_nonzeros"] == 5_000_000 and m["series"] == 1_001_111
    assert m["lambda_memory_mb_needed"] == 6528  # 5,200 x 1.25, up to 64 MB steps
    assert m["fits_memory"] and m["fits_time"] == (m["one_invocation_seconds"] <= 900)
    slow = aws_model.hierarchy_model(_measured(0.002))  # 2,000 s: never one invocation
    assert not slow["fits_one_invocation"] and slow["fan_out"]["period_messages"] == 28
    text = "\n".join(aws_model.hierarchy_markdown(slow))
    assert "does not fit" in text and "Fan-out plan" in text


def test_given_a_seed_then_the_accuracy_suite_is_the_same_hierarchy_with_shared_and_intermittent_series() -> None:
    from bench.accuracy.hierarchy_suite import HISTORY_WEEKS, TEST_WEEKS, generate

    a, b = generate(3, categories=2, subcategories=2, skus_per_subcategory=6), generate(3, 2, 2, 6)
    assert np.array_equal(a.history, b.history) and a.skus == b.skus
    assert a.history.shape == (24, HISTORY_WEEKS) and a.test.shape == (24, TEST_WEEKS)
    assert {v["subcategory"] for v in a.attributes.values()} == {
        "cat-0/sub-0",
        "cat-0/sub-1",
        "cat-1/sub-0",
        "cat-1/sub-1",
    }
    assert a.intermittent.any() and (a.history[a.intermittent] == 0).mean() > 0.3
    # A subcategory's SKUs share its season: their summed history repeats a year later.
    sub = [i for i, s in enumerate(a.skus) if a.attributes[s]["subcategory"] == "cat-0/sub-0"]
    summed = a.history[sub].sum(axis=0)
    assert np.corrcoef(summed[:-52], summed[52:])[0, 1] > 0.3


def test_given_a_hierarchy_result_then_make_bench_reports_its_ratios_and_the_aws_verdict() -> None:
    from bench.__main__ import SECTIONS, summary

    sk = {"method": "min_trace(wls_var)", "seconds": 110.0, "peak_mb": 700.0}
    bare = {"seconds": 100.0, "peak_mb": 650.0}
    compare = {"skucast": sk, "bare": bare, "time_ratio": 1.1, "peak_ratio": 1.08}
    result = {
        "status": "ok",
        "skus": 100_000,
        "compare": {"min_trace": compare},
        "model": aws_model.hierarchy_model(_measured(0.002)),
    }
    rows = [r for r in summary({"hierarchy": result}, None) if "hierarch" in r["what"] or "three levels" in r["what"]]
    assert "hierarchy" in SECTIONS
    assert [r["met"] for r in rows] == [True, None]
    assert "fan out" in rows[1]["figure"]
    assert "1.10x time" in rows[0]["figure"]
