"""What-if scenarios, pure: which changes and events are refused (each naming its field), which
inherited parameters a scenario may not change, how a scenario of a scenario stacks, and the
arithmetic of comparing two runs."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from skucast import scenarios
from skucast.scenarios import BaseRun

ORIGIN = dt.date(2026, 3, 1)
DECLARED = {"price": "numeric", "promo": "flag"}
BASE = BaseRun(ORIGIN, "auto")


def change(**kw: Any) -> dict[str, Any]:
    return {"driver": "price", "start": dt.date(2026, 3, 2), "end": dt.date(2026, 3, 8), "multiply": 0.9, **kw}


def fields(errors: list[Any]) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in errors]


def test_given_a_valid_change_then_nothing_is_refused() -> None:
    assert scenarios.check_changes([change(), change(driver="promo", multiply=None, set=1)], DECLARED, BASE) == []


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({"driver": "discount"}, ("scenario.changes[0].driver", "undeclared_driver")),
        ({"set": 3.0}, ("scenario.changes[0]", "one_operation")),  # multiply and set
        ({"multiply": None}, ("scenario.changes[0]", "one_operation")),  # none at all
        ({"start": dt.date(2026, 3, 9)}, ("scenario.changes[0].start", "after_end")),
        ({"start": ORIGIN, "end": ORIGIN}, ("scenario.changes[0].end", "before_forecast")),  # nothing forecast
        ({"driver": "promo", "multiply": None, "set": 0.5}, ("scenario.changes[0].set", "flag_not_binary")),
        ({"driver": "promo", "multiply": 2.0}, ("scenario.changes[0].multiply", "flag_not_binary")),
    ],
)
def test_given_a_bad_change_then_it_is_refused_naming_the_field(bad: dict[str, Any], expected: tuple) -> None:
    assert fields(scenarios.check_changes([change(**bad)], DECLARED, BASE)) == [expected]


def test_given_a_base_run_without_that_driver_then_its_change_is_refused() -> None:
    for drivers in ("none", ["promo"]):
        found = scenarios.check_changes([change()], DECLARED, BaseRun(ORIGIN, drivers))
        assert fields(found) == [("scenario.changes[0].driver", "driver_not_used")]


def test_given_the_second_change_is_bad_then_the_error_names_index_1() -> None:
    found = scenarios.check_changes([change(), change(driver="nope")], DECLARED, BASE)
    assert fields(found) == [("scenario.changes[1].driver", "undeclared_driver")]


def test_given_an_event_with_a_bad_date_then_the_date_is_named() -> None:
    found = scenarios.check_events([{"name": "launch", "dates": ["2026-03-10", "2026-02-30"]}])
    assert fields(found) == [("scenario.events[0].dates[1]", "date_invalid")]
    assert "2026-02-30" in found[0].message
    assert scenarios.check_events([{"name": "launch", "dates": ["2026-03-10"], "skus": ["A"]}]) == []


def test_given_inherited_parameters_then_only_different_values_are_refused() -> None:
    base = {"horizon": 13, "frequency": "W", "levels": [80, 95], "drivers": "auto", "as_of": "2026-03-01"}
    assert scenarios.inherited_conflicts({"horizon": 13, "frequency": "W", "levels": [80, 95]}, base) == []
    found = scenarios.inherited_conflicts({"horizon": 26, "as_of": "2026-04-01", "skus": ["A"]}, base)
    assert fields(found) == [("horizon", "set_by_base_run"), ("as_of", "set_by_base_run"), ("skus", "set_by_base_run")]


def test_given_a_scenario_of_a_scenario_then_the_base_changes_apply_first() -> None:
    first = {"base_run_id": "run_a", "changes": [{"driver": "price"}], "events": [{"name": "x"}]}
    second = {"base_run_id": "run_b", "changes": [{"driver": "promo"}]}
    assert scenarios.stacked(first, second) == {
        "base_run_id": "run_b",
        "changes": [{"driver": "price"}, {"driver": "promo"}],
        "events": [{"name": "x"}],
    }
    assert scenarios.stacked(None, second)["changes"] == [{"driver": "promo"}]


def test_given_sku_references_then_they_are_counted_over_changes_and_events() -> None:
    scenario = {"changes": [{"skus": ["A", "B"]}, {}], "events": [{"skus": ["C"]}]}
    assert scenarios.sku_references(scenario) == 3


# ---------------------------------------------------------------- compare
def test_given_two_runs_then_items_are_the_common_skus_biggest_absolute_delta_first() -> None:
    run = {"A": 110.0, "B": 50.0, "C": 0.0, "D": 7.0, "only-run": 5.0}
    to = {"A": 100.0, "B": 80.0, "C": 0.0, "D": 0.0, "only-to": 9.0}
    items, totals = scenarios.compare(run, to)
    assert [(d.sku, d.delta, d.delta_pct) for d in items] == [
        ("B", -30.0, -37.5),
        ("A", 10.0, 10.0),
        ("D", 7.0, None),  # the base total is 0: no percentage
        ("C", 0.0, None),
    ]
    assert totals == {"run": 167.0, "to": 180.0, "delta": -13.0, "delta_pct": pytest.approx(-100 * 13 / 180)}


def test_given_equal_deltas_then_skus_break_the_tie_and_totals_equal_the_sum_of_items() -> None:
    run = {f"S{i}": 0.1 * i + 1e-9 * (i % 3) for i in range(200)}
    to = {s: v * 0.9 for s, v in run.items()}
    items, totals = scenarios.compare(run, to)
    assert math.isclose(totals["delta"], math.fsum(d.delta for d in items), abs_tol=1e-12)
    keys = [(-abs(d.delta), d.sku) for d in items]
    assert keys == sorted(keys)
    same, same_totals = scenarios.compare(run, run)
    assert all(d.delta == 0 for d in same) and same_totals["delta"] == 0 and same_totals["delta_pct"] == 0


def test_given_a_forecast_then_its_total_is_the_sum_of_means() -> None:
    assert scenarios.forecast_total([{"mean": 1.5, "final": 9}, {"mean": 2.25}]) == 3.75
    assert scenarios.forecast_total([]) == 0.0


def test_given_a_finished_scenario_run_then_it_is_not_indexed_for_scoring_but_its_base_is() -> None:
    from skucast.records import RunRecord, RunStatus
    from skucast.services.scoring import index_actions

    params = {"horizon": 3, "frequency": "M", "as_of": "2026-03-01"}
    base = RunRecord(
        "run_a", RunStatus.SUCCEEDED, "2026-03-02T00:00:00Z", params=params, result_shards=1, as_of="2026-03-01"
    )
    what_if = RunRecord(
        "run_b",
        RunStatus.SUCCEEDED,
        "2026-03-02T00:00:00Z",
        params={**params, "scenario": {"base_run_id": "run_a", "changes": [], "events": []}},
        result_shards=1,
        as_of="2026-03-01",
    )
    assert len(index_actions(base, RunStatus.SUCCEEDED, "cli_a")) == 1
    assert index_actions(what_if, RunStatus.SUCCEEDED, "cli_a") == []
