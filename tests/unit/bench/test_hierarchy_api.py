"""bench/accuracy/hierarchy_api.py's pure part: the files it uploads, and the product's answers
(node items at every level, SKU results) turned into MASE per level - on a small seeded suite
with made-up answers, no stack."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.accuracy import hierarchy_api as api
from bench.accuracy.hierarchy_suite import HISTORY_WEEKS, START, TEST_WEEKS, Suite, generate
from bench.accuracy.through_api import BenchError


def _suite() -> Suite:
    return generate(21, categories=2, subcategories=2, skus_per_subcategory=2)


def _points(values: np.ndarray) -> list[dict[str, Any]]:
    start = START + dt.timedelta(weeks=HISTORY_WEEKS)
    return [{"date": (start + dt.timedelta(weeks=t)).isoformat(), "mean": float(v)} for t, v in enumerate(values)]


def _answers(suite: Suite, offset: dict[str, float]) -> tuple[dict[str, list], dict[str, list]]:
    """Node items and SKU results as the API answers them, each forecast the actuals + offset[kind]
    (base: the node items' base_forecast, and run C's SKU results)."""
    keys: list[tuple[str, dict[str, str]]] = [("total", {})]
    for sku in suite.skus:
        a = suite.attributes[sku]
        for level, key in (("category", {"category": a["category"]}), ("subcategory", dict(a))):
            if (level, key) not in keys:
                keys.append((level, key))
    nodes: dict[str, list] = {}
    for kind in ("min_trace", "bottom_up"):
        nodes[kind] = []
        for i, (level, key) in enumerate(keys):
            test = suite.test[api.node_rows(suite, key)].sum(axis=0)
            item = {"node_id": f"n{i}", "level": level, "key": key, "forecast": _points(test + offset[kind])}
            item["base_forecast"] = _points(test + offset["base"])
            nodes[kind].append(item)
    skus = {
        kind: [
            {"sku": api.sku_name(s), "forecast": _points(suite.test[i] + offset[kind])}
            for i, s in enumerate(suite.skus)
        ]
        for kind in api.KINDS
    }
    return nodes, skus


def test_given_the_suite_then_the_files_are_an_erp_export_every_week_and_its_attributes(tmp_path: Path) -> None:
    suite = _suite()
    demand, attributes = tmp_path / "demand.csv", tmp_path / "attributes.csv"
    assert api.write_demand(demand, suite) == len(suite.skus) * HISTORY_WEEKS
    assert api.write_attributes(attributes, suite) == len(suite.skus)
    with demand.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    with attributes.open(encoding="utf-8", newline="") as f:
        attrs = list(csv.reader(f))
    assert rows[0] == ["sku", "date", "quantity"] and attrs[0] == ["sku", "category", "subcategory"]
    assert rows[1] == ['Crème "sku-c0-s0-00" 500 g', "2023-01-02", f"{suite.history[0, 0]:g}"]
    assert all(dt.date.fromisoformat(r[1]).weekday() == 0 for r in rows[1:])  # Mondays
    assert [float(r[2]) for r in rows[1 : HISTORY_WEEKS + 1]] == list(suite.history[0])
    assert attrs[1] == ['Crème "sku-c0-s0-00" 500 g', "cat-0", "cat-0/sub-0"]


def test_given_a_node_key_then_its_rows_are_the_suite_skus_under_it() -> None:
    suite = _suite()
    assert api.node_rows(suite, {}).all()
    rows = api.node_rows(suite, {"category": "cat-1", "subcategory": "cat-1/sub-0"})
    assert [s for s, r in zip(suite.skus, rows, strict=True) if r] == ["sku-c1-s0-00", "sku-c1-s0-01"]


def test_given_answers_then_each_level_is_scored_on_its_own_series_and_kind() -> None:
    suite = _suite()
    nodes, skus = _answers(suite, {"base": 3.0, "min_trace": 0.0, "bottom_up": 1.0})
    scores = api.score_seed(suite, nodes, skus)
    counts = {level: len(kinds["base"]) for level, kinds in scores.items()}
    assert counts == {
        "total": 1,
        "category": 2,
        "subcategory": 4,
        "sku": 8,
        "sku_intermittent": int(suite.intermittent.sum()),
    }
    for level in ("total", "category", "subcategory", "sku"):
        assert scores[level]["min_trace"] == [0.0] * counts[level]  # the actuals exactly
        assert all(b > u > 0 for b, u in zip(scores[level]["base"], scores[level]["bottom_up"], strict=True))
    table = api.pooled_result(
        [21],
        {
            21: {
                "scores": scores,
                "checks": {"x": 0.0},
                "reconciliation": ["m"],
                "series": 15,
                "timings": {},
                "runs": {},
            }
        },
    )
    assert table["verdict"] == {"upper_levels_better": True, "bottom_within_2pct": True}
    assert table["levels"]["category"]["min_trace_better"] == 2


def test_given_a_node_or_sku_short_of_the_horizon_then_the_seed_is_refused_not_scored_on_fewer() -> None:
    suite = _suite()
    nodes, skus = _answers(suite, {"base": 1.0, "min_trace": 0.0, "bottom_up": 1.0})
    nodes["bottom_up"][2]["forecast"] = nodes["bottom_up"][2]["forecast"][: TEST_WEEKS - 1]
    with pytest.raises(BenchError, match="bottom_up: node"):
        api.score_seed(suite, nodes, skus)
    nodes, skus = _answers(suite, {"base": 1.0, "min_trace": 0.0, "bottom_up": 1.0})
    skus["base"].pop()
    with pytest.raises(BenchError, match="7 of 8"):
        api.score_seed(suite, nodes, skus)


def test_given_two_runs_answers_then_the_largest_difference_of_their_means_is_found() -> None:
    a = [{"sku": "x", "forecast": _points(np.array([1.0, 2.0]))}, {"sku": "y", "forecast": _points(np.array([0.0]))}]
    b = [{"sku": "y", "forecast": _points(np.array([0.5]))}, {"sku": "x", "forecast": _points(np.array([1.0, 2.25]))}]
    assert api.max_abs_diff(a, b, "sku", "forecast") == 0.5
    with pytest.raises(BenchError):
        api.max_abs_diff(a, b[:1], "sku", "forecast")
