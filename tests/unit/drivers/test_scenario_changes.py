"""Scenario changes on a driver's dated values and the run's driver choice (services/features.py's
pure parts); the assembly over stored data is in tests/integration/test_features.py."""

from __future__ import annotations

import datetime as dt

from skucast.calendars import Calendar, Event
from skucast.records import DriverRecord
from skucast.services.features import apply_change, first_forecast_day, selected_drivers, with_scenario_events

FIRST = dt.date(2027, 1, 4)  # the run's first forecast day (a Monday)


def _record(name: str) -> DriverRecord:
    return DriverRecord(name, "numeric", "mean", True, "g1")


def test_set_writes_every_future_day_of_the_range_and_never_the_history() -> None:
    points = {"2027-01-01": 10.0}
    apply_change(points, {"start": "2026-12-30", "end": "2027-01-06", "set": 1}, FIRST, "flag")
    assert points == {"2027-01-01": 10.0, "2027-01-04": 1.0, "2027-01-05": 1.0, "2027-01-06": 1.0}


def test_multiply_changes_the_stored_future_values_in_the_range_only() -> None:
    points = {"2027-01-01": 10.0, "2027-01-04": 10.0, "2027-01-11": 10.0, "2027-01-18": 10.0}
    apply_change(points, {"start": "2027-01-01", "end": "2027-01-11", "multiply": 0.9}, FIRST, "numeric")
    assert points == {"2027-01-01": 10.0, "2027-01-04": 9.0, "2027-01-11": 9.0, "2027-01-18": 10.0}


def test_without_future_values_a_numeric_change_applies_to_the_value_carried_forward() -> None:
    points = {"2026-12-28": 4.0}
    apply_change(points, {"start": "2027-01-04", "end": "2027-02-01", "add": -1}, FIRST, "numeric")
    assert points == {"2026-12-28": 4.0, "2027-01-04": 3.0}


def test_a_flag_without_values_in_the_range_is_left_alone_by_multiply() -> None:
    points = {"2026-12-28": 1.0}
    apply_change(points, {"start": "2027-01-04", "end": "2027-02-01", "multiply": 2}, FIRST, "flag")
    assert points == {"2026-12-28": 1.0}


def test_a_range_wholly_in_the_past_changes_nothing() -> None:
    points = {"2026-12-01": 5.0}
    apply_change(points, {"start": "2026-11-01", "end": "2026-12-31", "set": 9}, FIRST, "numeric")
    assert points == {"2026-12-01": 5.0}


def test_the_runs_driver_choice() -> None:
    declared = {"price": _record("price"), "promo": _record("promo")}
    assert set(selected_drivers(declared, "auto")) == {"price", "promo"}
    assert selected_drivers(declared, "none") == {}
    assert set(selected_drivers(declared, ["promo", "deleted_since"])) == {"promo"}


def test_scenario_events_join_the_calendar_for_future_dates_only() -> None:
    calendar = Calendar(("US",), (Event("launch", ("2026-12-01",)),))
    scenario = {"events": [{"name": "sale", "dates": ["2026-12-20", "2027-01-05"], "skus": ["A"]}]}
    joined = with_scenario_events(calendar, scenario, FIRST)
    assert joined.holidays == ("US",)
    assert joined.events == (Event("launch", ("2026-12-01",)), Event("sale", ("2027-01-05",), ("A",)))
    assert with_scenario_events(calendar, None, FIRST) is calendar


def test_the_first_forecast_day_follows_the_period_holding_the_origin() -> None:
    assert first_forecast_day(dt.date(2026, 12, 31), "W", 0) == FIRST
    assert first_forecast_day(dt.date(2026, 12, 31), "W", 6) == dt.date(2027, 1, 3)  # Sunday weeks
    assert first_forecast_day(dt.date(2026, 12, 31), "M", 0) == dt.date(2027, 1, 1)
    assert first_forecast_day(dt.date(2026, 12, 31), "D", 0) == dt.date(2027, 1, 1)
