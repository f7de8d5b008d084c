"""Planner adjustments, the domain (skucast/adjustments.py): the arithmetic of set, add and
multiply over a date range, the order they stack in, carry-over, and the validation rules."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skucast import adjustments as rules
from skucast.records import AdjustmentRecord, PointChange

DAYS = [f"2025-03-{d:02d}" for d in range(1, 8)]
WEEKS = ["2025-03-03", "2025-03-10", "2025-03-17", "2025-03-24"]  # ISO weeks, named by their Mondays
MONTHS = ["2025-04-01", "2025-05-01", "2025-06-01"]
MEANS = [10.0, 12.5, 0.0, 7.25, 3.0, 1e-6, 100.0]


def _sticky(start: str, end: str, operation: str, value: float, **kw: object) -> AdjustmentRecord:
    fields: dict[str, object] = {
        "adjustment_id": kw.pop("adjustment_id", "adj_000000000001aaaaaaaa"),
        "by": "usr_1",
        "by_kind": "user",
        "at": "2025-02-28T10:00:00Z",
        "start": start,
        "end": end,
        "operation": operation,
        "value": value,
        "reason": "promotion",
        "sticky": True,
        "carried_from": "run_earlier",
        **kw,
    }
    return AdjustmentRecord(**fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------- arithmetic
@pytest.mark.parametrize(
    ("operation", "value", "expected"),
    [
        ("set", 40.0, [10.0, 40.0, 40.0, 40.0, 3.0, 1e-6, 100.0]),
        ("add", 5.5, [10.0, 18.0, 5.5, 12.75, 3.0, 1e-6, 100.0]),
        ("add", -10.0, [10.0, 2.5, 0.0, 0.0, 3.0, 1e-6, 100.0]),  # floored at 0
        ("multiply", 1.5, [10.0, 18.75, 0.0, 10.875, 3.0, 1e-6, 100.0]),
        ("multiply", 0.0, [10.0, 0.0, 0.0, 0.0, 3.0, 1e-6, 100.0]),
    ],
)
def test_given_an_operation_over_a_range_then_only_those_periods_change_exactly(
    operation: str, value: float, expected: list[float]
) -> None:
    final, changes = rules.apply(DAYS, MEANS, "2025-03-02", "2025-03-04", operation, value)  # type: ignore[arg-type]
    assert final == expected
    assert changes == tuple(PointChange(DAYS[i], MEANS[i], expected[i]) for i in (1, 2, 3))


def test_given_adjustments_one_after_another_then_each_applies_to_the_final_the_last_left() -> None:
    first, _ = rules.apply(DAYS, MEANS, "2025-03-01", "2025-03-07", "multiply", 2.0)
    second, changes = rules.apply(DAYS, first, "2025-03-03", "2025-03-03", "add", -1.0)
    assert second == [20.0, 25.0, 0.0, 14.5, 6.0, 2e-6, 200.0]
    assert changes == (PointChange("2025-03-03", 0.0, 0.0),)
    third, _ = rules.apply(DAYS, second, "2025-03-07", "2025-03-07", "set", 1.0)
    assert third[-1] == 1.0 and third[:-1] == second[:-1]


def test_given_an_undefined_mean_then_set_defines_it_and_add_or_multiply_leave_it_undefined() -> None:
    means: list[float | None] = [None, 4.0]
    assert rules.apply(["a", "b"], means, "a", "b", "set", 2.0)[0] == [2.0, 2.0]
    assert rules.apply(["a", "b"], means, "a", "b", "add", 2.0)[0] == [None, 6.0]
    assert rules.apply(["a", "b"], means, "a", "b", "multiply", 2.0)[0] == [None, 8.0]


@given(
    means=st.lists(st.floats(0, 1e9, allow_nan=False), min_size=7, max_size=7),
    value=st.floats(-1e9, 1e9, allow_nan=False),
    bounds=st.tuples(st.integers(0, 6), st.integers(0, 6)).map(sorted),
    operation=st.sampled_from(["set", "add", "multiply"]),
)
def test_given_any_adjustment_then_outside_the_range_nothing_moves_and_the_final_is_never_negative(
    means: list[float], value: float, bounds: list[int], operation: str
) -> None:
    if operation != "add":
        value = abs(value)
    start, end = DAYS[bounds[0]], DAYS[bounds[1]]
    final, changes = rules.apply(DAYS, means, start, end, operation, value)  # type: ignore[arg-type]
    for i, date in enumerate(DAYS):
        assert final[i] == (rules.operate(means[i], operation, value) if start <= date <= end else means[i])  # type: ignore[arg-type]
        assert final[i] is not None and final[i] >= 0  # type: ignore[operator]
    assert [c.date for c in changes] == [d for d in DAYS if start <= d <= end]


# ---------------------------------------------------------------- carry-over
def test_given_sticky_adjustments_then_they_apply_in_order_to_the_overlapping_periods_only() -> None:
    entries = [
        _sticky("2025-02-20", "2025-03-02", "set", 50.0),  # overlaps the first two days only
        _sticky("2025-03-02", "2025-03-02", "multiply", 2.0, adjustment_id="adj_000000000002aaaaaaaa"),
        _sticky("2025-04-01", "2025-04-30", "add", 9.0, adjustment_id="adj_000000000003aaaaaaaa"),  # no overlap
    ]
    final, applied = rules.carry(DAYS, MEANS, entries)
    assert final == [50.0, 100.0, *MEANS[2:]]
    assert [a.adjustment_id for a in applied] == [entries[0].adjustment_id, entries[1].adjustment_id]
    assert applied[0].changes == (PointChange(DAYS[0], 10.0, 50.0), PointChange(DAYS[1], 12.5, 50.0))
    assert applied[1].changes == (PointChange(DAYS[1], 50.0, 100.0),)
    assert all(a.carried_from == "run_earlier" for a in applied)


def test_given_a_sticky_adjustment_then_it_carries_into_runs_of_its_frequency_created_until_it_expires() -> None:
    until_end = _sticky("2025-03-01", "2025-03-31", "add", 1.0, frequency="D")
    assert rules.carries_into(until_end, "D", "2025-03-31")
    assert not rules.carries_into(until_end, "D", "2025-04-01")  # past its end: no longer carried
    assert not rules.carries_into(until_end, "W", "2025-03-15")  # another frequency
    expiring = _sticky("2025-03-01", "2025-03-31", "add", 1.0, frequency="W", expires="2025-03-10")
    assert rules.carries_into(expiring, "W", "2025-03-10")
    assert not rules.carries_into(expiring, "W", "2025-03-11")


# ---------------------------------------------------------------- validation
def test_given_none_or_several_operations_then_one_field_error_each() -> None:
    assert rules.check_operation({"set": None, "add": 2.0, "multiply": None}) == []
    [none] = rules.check_operation({"set": None, "add": None, "multiply": None})
    assert (none.field, none.code) == ("set", "one_operation")
    [two] = rules.check_operation({"set": 1.0, "add": None, "multiply": 0.0})
    assert (two.field, two.code) == ("multiply", "one_operation") and "set and multiply" in two.message


@pytest.mark.parametrize(
    ("dates", "frequency", "start", "end", "expected"),
    [
        (DAYS, "D", "2025-03-01", "2025-03-07", []),
        (DAYS, "D", "2025-02-28", "2025-03-08", [("start", "outside_forecast"), ("end", "outside_forecast")]),
        (DAYS, "D", "2025-03-05", "2025-03-04", [("end", "end_before_start")]),
        (WEEKS, "W", "2025-03-10", "2025-03-17", []),
        (WEEKS, "W", "2025-03-11", "2025-03-24", [("start", "not_a_period_start")]),
        (WEEKS, "W", "2025-03-03", "2025-03-30", [("end", "outside_forecast")]),
        (MONTHS, "M", "2025-05-01", "2025-05-15", [("end", "not_a_period_start")]),
        (MONTHS, "M", "2025-03-01", "2025-04-01", [("start", "outside_forecast")]),
    ],
)
def test_given_dates_then_only_forecast_periods_at_the_runs_frequency_are_accepted(
    dates: list[str], frequency: str, start: str, end: str, expected: list[tuple[str, str]]
) -> None:
    errors = rules.check_dates(start, end, dates, frequency)
    assert [(e.field, e.code) for e in errors] == expected


def test_given_a_date_inside_a_weekly_period_then_the_message_names_the_periods_around_it() -> None:
    [error] = rules.check_dates("2025-03-12", "2025-03-17", WEEKS, "W")
    assert "2025-03-12" in error.message and "2025-03-10" in error.message and "2025-03-17" in error.message
    assert "weekly" in error.message


def test_given_expires_then_it_needs_sticky_and_cannot_be_past() -> None:
    today = dt.date(2025, 3, 1)
    assert rules.check_sticky(True, "2025-03-01", today) == []
    assert rules.check_sticky(False, None, today) == []
    assert [e.code for e in rules.check_sticky(False, "2025-04-01", today)] == ["not_sticky"]
    assert [e.code for e in rules.check_sticky(True, "2025-02-28", today)] == ["in_past"]
    assert rules.effective_expiry("2025-03-31", None) == "2025-03-31"
    assert rules.effective_expiry("2025-03-31", "2025-06-30") == "2025-06-30"


def test_given_a_final_past_the_quantity_range_then_refused() -> None:
    assert rules.check_result("multiply", [1e15, 0.0, None]) == []
    [error] = rules.check_result("multiply", [1e15 * 1.5])
    assert (error.field, error.code) == ("multiply", "out_of_range")


def test_given_versions_and_results_then_etags_differ_and_are_strong() -> None:
    tags = {rules.etag(run, sku, v) for run in ("run_a", "run_b") for sku in ("A", "B") for v in (0, 1)}
    assert len(tags) == 8
    tag = rules.etag("run_a", "A", 3)
    assert tag.startswith('"3.') and tag.endswith('"') and not tag.startswith("W/")
