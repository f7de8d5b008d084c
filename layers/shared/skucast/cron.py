"""Schedules' cron expressions: AWS's syntax and the classic one, and how often they fire.

Accepted (UTC):
- AWS's six fields `minute hour day-of-month month day-of-week year`, bare or as `cron(...)`, as
  EventBridge takes them: `?` in exactly one of the two day fields, day-of-week 1-7 = SUN-SAT or
  names, `L`, `W` and `#` as cronsim reads them; the year must be `*` (a schedule does not end).
- The classic five fields `minute hour day-of-month month day-of-week` (day-of-week 0-7 = SUN-SUN),
  `?` read as `*`.

`min_interval` is the shortest time between two consecutive firings, exactly: the times of day
(minute x hour fields) are the same on every firing day, so it is the shortest gap within a day,
or between the last firing of a day and the first of the next firing day.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

from cronsim import CronSim, CronSimError

_WRAPPED = re.compile(r"^cron\((?P<inner>.*)\)$", re.IGNORECASE)
_AWS_DOW_NUMBER = re.compile(r"(?<![#/\d])([1-7])(?!\d)")
_DAY = 86_400


class CronError(ValueError):
    """Not a cron expression skucast runs; the message says why."""


def classic(text: str) -> str:
    """The five-field expression cronsim runs for `text` (AWS's or the classic syntax)."""
    inner = text.strip()
    wrapped = _WRAPPED.match(inner)
    if wrapped:
        inner = wrapped.group("inner").strip()
    fields = inner.split()
    if len(fields) == 6:
        minute, hour, dom, month, dow, year = fields
        if year != "*":
            raise CronError("The year field must be * (a schedule repeats every year).")
        if (dom == "?") == (dow == "?"):
            raise CronError("AWS cron needs ? in exactly one of day-of-month and day-of-week.")
        dom = "*" if dom == "?" else dom
        dow = "*" if dow == "?" else _AWS_DOW_NUMBER.sub(lambda m: str(int(m.group(1)) - 1), dow)
        return " ".join((minute, hour, dom, month, dow))
    if len(fields) == 5 and not wrapped:
        return " ".join("*" if f == "?" else f for f in fields)
    raise CronError(
        "A cron has 5 fields (minute hour day-of-month month day-of-week) or AWS's 6 "
        "(... day-of-week year), optionally as cron(...)."
    )


def next_slot(text: str, after: datetime) -> datetime:
    """The first firing strictly after `after`."""
    try:
        return next(CronSim(classic(text), after.astimezone(UTC)))
    except (CronSimError, StopIteration, ValueError) as exc:
        raise CronError(str(exc) or "The cron expression never fires.") from None


def min_interval(text: str, now: datetime) -> timedelta:
    """The shortest time between two consecutive firings (over the coming 400 days)."""
    minute, hour, dom, month, dow = classic(text).split()
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        times = _firings(f"{minute} {hour} * * *", midnight - timedelta(seconds=1), midnight + timedelta(days=1))
        days = _firings(f"0 0 {dom} {month} {dow}", midnight, midnight + timedelta(days=400))
    except (CronSimError, ValueError) as exc:
        raise CronError(str(exc) or "invalid") from None
    if not times or not days:
        raise CronError("The cron expression never fires.")
    seconds = [(t - midnight).total_seconds() for t in times]
    gaps = [b - a for a, b in itertools.pairwise(seconds)]
    day_gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(days)]
    if day_gaps:
        gaps.append(min(day_gaps) - (seconds[-1] - seconds[0]))
    return timedelta(seconds=min(gaps) if gaps else 366 * _DAY)


def _firings(expression: str, after: datetime, until: datetime) -> list[datetime]:
    out = []
    for moment in CronSim(expression, after):
        if moment >= until:
            break
        out.append(moment)
    return out


def slots_between(text: str, after: datetime, until: datetime, most: int = 1000) -> list[datetime]:
    """The firings strictly after `after` and at or before `until`, the first `most` of them."""
    out: list[datetime] = []
    try:
        for moment in CronSim(classic(text), after.astimezone(UTC)):
            if moment > until or len(out) >= most:
                break
            out.append(moment)
    except (CronSimError, ValueError) as exc:
        raise CronError(str(exc) or "invalid") from None
    return out
