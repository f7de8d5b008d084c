"""What the tenant's drivers and calendar say about each SKU of a run, at the run's frequency.

The engine's input (`forecasting.engine.Features`): per feature, a value per period named by the
period's first day, past and future. Where the values come from:
- Drivers (`params["drivers"]`: "auto" every declared driver, a list of names those, "none"
  nothing at all): the SKU's stored dated values, rolled up to the run's periods by the driver's
  declared rule (skucast.drivers.roll_up). A SKU without values of a driver has no such feature.
- The calendar (unless drivers is "none"): `holiday` (days of the period that are a public
  holiday in any of the tenant's codes) when the tenant has holiday codes, and `event:<name>` per
  event that concerns the SKU, from the SKU's first period through the run's horizon.
- A what-if run (`params["scenario"]`): its changes rewrite the driver values of the future only
  (from the run's first forecast day), so a scenario's history - and every fit on it - is its base
  run's. `set` writes every day of [start, end]; `multiply`/`add` change the stored values there,
  and where a numeric driver has none they change the value the engine would otherwise assume
  (the last one before, carried forward). Its events join the calendar for their future dates.

Weeks: a weekly run on weekly data keeps the data's weekday (as the engine does); otherwise weeks
are ISO weeks (Monday). Months are calendar months.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from skucast.calendars import Calendar, Event, calendar_features
from skucast.drivers import roll_up
from skucast.forecasting.periods import containing_period, next_period
from skucast.records import DriverRecord
from skucast.repositories import drivers as repo
from skucast.services import drivers as driver_service
from skucast.settings import Settings

if TYPE_CHECKING:  # the engine loads statsforecast: only the worker imports it, on first use
    from skucast.forecasting.engine import Features, SeriesInput


def selected_drivers(declared: Mapping[str, DriverRecord], choice: Any) -> dict[str, DriverRecord]:
    """The declared drivers a run's `drivers` parameter asks for (unknown names are refused when the
    run is created; one deleted since is simply gone)."""
    if choice in (None, "auto"):
        return dict(declared)
    if choice == "none":
        return {}
    return {name: declared[name] for name in choice if name in declared}


def uses_features(params: Mapping[str, Any]) -> bool:
    return params.get("drivers", "auto") != "none"


def first_forecast_day(as_of: dt.date, frequency: str, week_day: int) -> dt.date:
    """The first day of the run's first forecast period (the period after the one holding as_of)."""
    return next_period(containing_period(as_of, frequency, week_day), frequency)


def apply_change(points: dict[str, float], change: Mapping[str, Any], first_day: dt.date, kind: str) -> None:
    """One scenario change on one (driver, SKU)'s dated values, in place, on days >= first_day."""
    start = max(dt.date.fromisoformat(str(change["start"])), first_day)
    end = dt.date.fromisoformat(str(change["end"]))
    if start > end:
        return
    lo, hi = start.isoformat(), end.isoformat()
    if change.get("set") is not None:
        day = start
        while day <= end:
            points[day.isoformat()] = float(change["set"])
            day += dt.timedelta(days=1)
        return
    inside = [d for d in points if lo <= d <= hi]
    if not inside and kind == "numeric":
        before = [d for d in points if d < lo]
        if not before:
            return  # nothing to change and nothing to carry: the engine warns about the gap
        points[lo] = points[max(before)]  # what the engine would carry forward, now explicit
        inside = [lo]
    for iso in inside:
        if change.get("multiply") is not None:
            points[iso] = points[iso] * float(change["multiply"])
        elif change.get("add") is not None:
            points[iso] = points[iso] + float(change["add"])


def with_scenario_events(calendar: Calendar, scenario: Mapping[str, Any] | None, first_day: dt.date) -> Calendar:
    """The calendar with a scenario's events added for their future dates."""
    extra = []
    for event in (scenario or {}).get("events") or ():
        dates = tuple(d for d in event["dates"] if d >= first_day.isoformat())
        skus = event.get("skus")
        extra.append(Event(str(event["name"]), dates, tuple(skus) if skus is not None else None))
    return Calendar(calendar.holidays, (*calendar.events, *extra)) if extra else calendar


def features_for(
    settings: Settings,
    client_id: str,
    params: Mapping[str, Any],
    series: Sequence[SeriesInput],
    as_of: str | None,
) -> dict[str, Features]:
    """Each SKU's features at the run's frequency; SKUs with none are left out (history only)."""
    from skucast.forecasting.engine import Features

    if not series or not uses_features(params):
        return {}
    frequency = str(params.get("frequency", "D"))
    horizon = int(params["horizon"])
    drivers = selected_drivers(driver_service.declared(settings, client_id), params.get("drivers", "auto"))
    calendar = driver_service.calendar_of(settings, client_id)
    skus = [item.sku for item in series]
    stored = {
        name: repo.get_values(settings.table_name, client_id, name, record.generation, skus)
        for name, record in drivers.items()
    }
    scenario = params.get("scenario") or {}
    out: dict[str, Features] = {}
    for item in series:
        week_day = item.start.weekday() if frequency == "W" and item.granularity == "W" else 0
        origin = dt.date.fromisoformat(as_of) if as_of else item.start
        first_day = first_forecast_day(origin, frequency, week_day)
        found = _Found({}, {}, set())
        for name, record in drivers.items():
            values = stored[name].get(item.sku)
            if values is not None:
                _add_driver(found, record, values[0].as_points(), item.sku, scenario, first_day, frequency, week_day)
        last_day = next_period(first_day, frequency, horizon) - dt.timedelta(days=1)
        sku_calendar = with_scenario_events(calendar, scenario, first_day)
        if sku_calendar.holidays or sku_calendar.events:
            counts = calendar_features(sku_calendar, item.start, last_day, frequency, item.sku, week_day)
            _add_calendar(found, counts, bool(sku_calendar.holidays))
        if found.values:
            out[item.sku] = Features(found.values, found.kinds, frozenset(found.known))
    return out


@dataclass
class _Found:
    values: dict[str, dict[str, float]]
    kinds: dict[str, str]
    known: set[str]


def _add_driver(
    found: _Found,
    record: DriverRecord,
    points: dict[str, float],
    sku: str,
    scenario: Mapping[str, Any],
    first_day: dt.date,
    frequency: str,
    week_day: int,
) -> None:
    for change in scenario.get("changes") or ():
        if change["driver"] == record.name and (change.get("skus") is None or sku in change["skus"]):
            apply_change(points, change, first_day, record.kind)
    found.values[record.name] = roll_up(points, record.aggregate, frequency, week_day)
    found.kinds[record.name] = record.kind
    if record.known_in_advance:
        found.known.add(record.name)


def _add_calendar(found: _Found, counts: Mapping[str, Mapping[str, int]], with_holidays: bool) -> None:
    for period, row in counts.items():
        for name, count in row.items():
            if name == "holiday" and not with_holidays:
                continue  # events only: no holiday feature
            found.values.setdefault(name, {})[period] = float(count)
            found.kinds[name] = "holiday" if name == "holiday" else "event"
            found.known.add(name)
