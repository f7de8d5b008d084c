"""Calendar validation (holiday codes from the holidays package, event dates) and its features."""

from __future__ import annotations

import datetime as dt

from skucast.calendars import Calendar, CalendarProblems, Event, calendar_features, parse_calendar


def test_given_country_and_subdivision_codes_then_they_are_kept_as_the_package_names_them() -> None:
    parsed = parse_calendar(["us", "DE-BY", "US-CA", "US"], [])
    assert isinstance(parsed, Calendar)
    assert parsed.holidays == ("US", "DE-BY", "US-CA")


def test_given_unknown_codes_and_bad_event_dates_then_each_is_named() -> None:
    parsed = parse_calendar(
        ["XX", "DE-ZZ", "USA"],
        [{"name": "launch", "dates": ["2026-02-30", "2026-03-01"]}, {"name": "payday", "dates": []}],
    )
    assert isinstance(parsed, CalendarProblems)
    named = {(f, c) for f, c, _ in parsed.items}
    assert named == {
        ("holidays[0]", "unknown_holiday_code"),
        ("holidays[1]", "unknown_holiday_code"),
        ("holidays[2]", "unknown_holiday_code"),
        ("events[0].dates[0]", "date_invalid"),
        ("events[1].dates", "missing"),
    }
    assert any("'DE-ZZ'" in m for _, _, m in parsed.items)
    assert any("2026-02-30" in m for _, _, m in parsed.items)


def test_given_too_many_events_then_the_limit_is_named() -> None:
    parsed = parse_calendar([], [{"name": f"e{i}", "dates": ["2026-01-01"]} for i in range(101)])
    assert isinstance(parsed, CalendarProblems) and ("events", "too_many") in {(f, c) for f, c, _ in parsed.items}


CAL = Calendar(
    ("US",),
    (Event("launch", ("2026-07-02", "2026-07-03")), Event("fair", ("2026-07-06",), ("B",))),
)


def test_daily_features_flag_holidays_and_events() -> None:
    f = calendar_features(CAL, dt.date(2026, 7, 1), dt.date(2026, 7, 7), "D", sku="A")
    assert [d for d, row in f.items() if row["holiday"]] == ["2026-07-03", "2026-07-04"]  # and observed on Friday
    assert [d for d, row in f.items() if row["event:launch"]] == ["2026-07-02", "2026-07-03"]
    assert "event:fair" not in f["2026-07-06"]  # an event naming other SKUs is left out for A
    assert (
        calendar_features(CAL, dt.date(2026, 7, 1), dt.date(2026, 7, 7), "D", sku="B")["2026-07-06"]["event:fair"] == 1
    )


def test_weekly_and_monthly_features_count_days() -> None:
    weekly = calendar_features(CAL, dt.date(2026, 6, 29), dt.date(2026, 7, 12), "W")
    assert weekly == {
        "2026-06-29": {"holiday": 2, "event:launch": 2, "event:fair": 0},
        "2026-07-06": {"holiday": 0, "event:launch": 0, "event:fair": 1},
    }
    monthly = calendar_features(Calendar(("US",)), dt.date(2026, 1, 1), dt.date(2026, 12, 31), "M")
    assert len(monthly) == 12 and sum(r["holiday"] for r in monthly.values()) >= 10
    assert monthly["2026-12-01"]["holiday"] == 1  # Christmas
