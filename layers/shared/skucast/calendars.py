"""A tenant's calendar, pure: public holidays (ISO 3166 country or country-subdivision codes, from
the `holidays` package) and the tenant's own events, validated, and turned into per-period
features at a run's frequency for the models. No AWS, no env.

- A holiday code is `CC` (a country the package knows: "US") or `CC-SUB` (one of its
  subdivisions: "DE-BY", "US-CA"); anything else is refused naming it. Codes are kept as sent
  after upper-casing the country part (the package's subdivision codes are case-sensitive for a
  few countries, so the subdivision is matched as the package spells it).
- An event has a name (1-100 characters), dates (ISO YYYY-MM-DD, 1900-01-01 onwards) and
  optionally the SKUs it concerns (none: every SKU). Duplicate dates are folded.
- Limits keep the calendar one small item: MAX_HOLIDAY_CODES codes, MAX_EVENTS events,
  MAX_EVENT_DATES dates over all events, MAX_EVENT_SKUS SKU references over all events.

Features (`calendar_features`): for each period of [start, end] at D/W/M, `holiday` = how many
days of the period are a public holiday in any of the codes (0/1 daily), and `event:<name>` = how
many of the period's days the event falls on. For a SKU, events that name other SKUs are left out.
Lead/lag windows (the days before Easter...) are for the model work to measure and add.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from skucast.drivers import period_start

MAX_HOLIDAY_CODES = 20
MAX_EVENTS = 100
MAX_EVENT_DATES = 5000
MAX_EVENT_SKUS = 1000
MAX_EVENT_NAME = 100
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2100, 12, 31)
_CODE = re.compile(r"^([A-Za-z]{2})(?:-([A-Za-z0-9]{1,5}))?$")


@dataclass(frozen=True)
class Event:
    name: str
    dates: tuple[str, ...]
    skus: tuple[str, ...] | None = None  # None: every SKU


@dataclass(frozen=True)
class Calendar:
    holidays: tuple[str, ...] = ()
    events: tuple[Event, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "holidays": list(self.holidays),
            "events": [
                {"name": e.name, "dates": list(e.dates), **({"skus": list(e.skus)} if e.skus is not None else {})}
                for e in self.events
            ],
        }


@dataclass
class CalendarProblems:
    """Everything wrong with a calendar, each naming the field and the value."""

    items: list[tuple[str, str, str]] = field(default_factory=list)  # (field, code, message)

    def add(self, where: str, code: str, message: str) -> None:
        self.items.append((where, code, message))


@cache
def _supported() -> dict[str, tuple[str, ...]]:
    import holidays  # only the API's calendar routes and the model work need it

    return {country: tuple(subs) for country, subs in holidays.list_supported_countries().items()}


def holiday_code(code: str) -> str | None:
    """The code as the package names it, or None when it knows no such country or subdivision."""
    match = _CODE.match(code.strip()) if isinstance(code, str) else None
    if match is None:
        return None
    country, sub = match.group(1).upper(), match.group(2)
    subdivisions = _supported().get(country)
    if subdivisions is None:
        return None
    if sub is None:
        return country
    known = {s.upper(): s for s in subdivisions}
    return f"{country}-{known[sub.upper()]}" if sub.upper() in known else None


def _date(value: Any) -> str | None:
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    return value if MIN_DATE <= day <= MAX_DATE else None


def _codes(holiday_codes: Sequence[str], problems: CalendarProblems) -> list[str]:
    if len(holiday_codes) > MAX_HOLIDAY_CODES:
        problems.add("holidays", "too_many", f"at most {MAX_HOLIDAY_CODES} holiday codes")
    codes: list[str] = []
    for i, code in enumerate(holiday_codes):
        known = holiday_code(code)
        if known is None:
            problems.add(
                f"holidays[{i}]",
                "unknown_holiday_code",
                f"{code!r} is not an ISO 3166 country or country-subdivision code the holidays calendar knows",
            )
        elif known not in codes:
            codes.append(known)
    return codes


def _event(i: int, event: dict[str, Any], names: set[str], problems: CalendarProblems) -> Event:
    name = str(event.get("name") or "").strip()
    if not 1 <= len(name) <= MAX_EVENT_NAME:
        problems.add(f"events[{i}].name", "invalid", f"an event's name has 1 to {MAX_EVENT_NAME} characters")
    elif name in names:
        problems.add(f"events[{i}].name", "duplicate", f"two events are named {name!r}")
    names.add(name)
    dates: list[str] = []
    for j, value in enumerate(event.get("dates") or []):
        day = _date(value)
        if day is None:
            problems.add(
                f"events[{i}].dates[{j}]",
                "date_invalid",
                f"event {name!r}: {value!r} is not a date YYYY-MM-DD between {MIN_DATE} and {MAX_DATE}",
            )
        else:
            dates.append(day)
    if not event.get("dates"):
        problems.add(f"events[{i}].dates", "missing", f"event {name!r} has no dates")
    skus = event.get("skus")
    return Event(name, tuple(sorted(set(dates))), tuple(dict.fromkeys(skus)) if skus is not None else None)


def parse_calendar(holiday_codes: Sequence[str], events: Sequence[dict[str, Any]]) -> Calendar | CalendarProblems:
    """The calendar, or every problem with it (a refused calendar changes nothing)."""
    problems = CalendarProblems()
    codes = _codes(holiday_codes, problems)
    if len(events) > MAX_EVENTS:
        problems.add("events", "too_many", f"at most {MAX_EVENTS} events")
    names: set[str] = set()
    parsed = [_event(i, e, names, problems) for i, e in enumerate(events)]
    total_dates = sum(len(e.dates) for e in parsed)
    total_skus = sum(len(e.skus or ()) for e in parsed)
    if total_dates > MAX_EVENT_DATES:
        problems.add("events", "too_many_dates", f"at most {MAX_EVENT_DATES} event dates in all ({total_dates} sent)")
    if total_skus > MAX_EVENT_SKUS:
        problems.add("events", "too_many_skus", f"at most {MAX_EVENT_SKUS} event SKUs in all ({total_skus} sent)")
    if problems.items:
        return problems
    return Calendar(tuple(codes), tuple(parsed))


def holiday_dates(codes: Iterable[str], start: dt.date, end: dt.date) -> set[dt.date]:
    """Every public holiday between start and end (inclusive) in any of the codes."""
    return {d for code in codes for d in _holidays_of(code, start.year, end.year) if start <= d <= end}


@lru_cache(maxsize=256)
def _holidays_of(code: str, first_year: int, last_year: int) -> frozenset[dt.date]:
    """One code's holidays over whole years: cached, since every SKU of a run asks for the same
    ones (the package builds its tables in Python, milliseconds a call)."""
    import holidays

    country, _, sub = code.partition("-")
    return frozenset(holidays.country_holidays(country, subdiv=sub or None, years=range(first_year, last_year + 1)))


def periods(start: dt.date, end: dt.date, freq: str, week_start: int = 0) -> list[dt.date]:
    """The first days of the periods at `freq` covering [start, end]."""
    first = period_start(start, freq, week_start)
    out: list[dt.date] = []
    day = first
    while day <= end:
        out.append(day)
        if freq == "D":
            day += dt.timedelta(days=1)
        elif freq == "W":
            day += dt.timedelta(days=7)
        else:
            day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return out


def calendar_features(
    calendar: Calendar,
    start: dt.date,
    end: dt.date,
    freq: str,
    sku: str | None = None,
    week_start: int = 0,
) -> dict[str, dict[str, int]]:
    """Per period (its first day, ISO) of [start, end]: {"holiday": n, "event:<name>": n, ...}, n
    the number of the period's days (within [start, end]) that are a holiday / fall on the event.
    Daily, n is 0 or 1. With `sku`, events naming other SKUs are left out."""
    firsts = periods(start, end, freq, week_start)
    features: dict[str, dict[str, int]] = {d.isoformat(): {"holiday": 0} for d in firsts}
    events = [e for e in calendar.events if sku is None or e.skus is None or sku in e.skus]
    for e in events:
        for row in features.values():
            row[f"event:{e.name}"] = 0

    def count(day: dt.date, name: str) -> None:
        if start <= day <= end:
            features[period_start(day, freq, week_start).isoformat()][name] += 1

    for day in holiday_dates(calendar.holidays, start, end):
        count(day, "holiday")
    for e in events:
        for value in e.dates:
            count(dt.date.fromisoformat(value), f"event:{e.name}")
    return features
