"""Planner adjustments: the arithmetic and the rules, with no storage and no AWS.

A result's forecast points carry `mean` (the statistical forecast, never changed) and `final`
(the forecast after every adjustment, in the order they were made; the mean when there is none).
An adjustment changes `final` over the forecast periods from `start` through `end`:

- `set: v`      final = v                      (v >= 0)
- `add: v`      final = max(0, final + v)      (v may be negative; the final forecast is floored at 0)
- `multiply: v` final = final * v              (0 <= v <= 1000)

Lower and upper interval bounds stay the statistical ones. Rules where the contract is silent:

- `start` and `end` must each be a forecast period of the run, at its frequency: a date outside
  the forecast is refused (`outside_forecast`), and so is a date inside it that does not begin one
  of its weekly or monthly periods (`not_a_period_start`: nothing is snapped, the message names the
  periods around it); `end` is not before `start`.
- exactly one of set, add and multiply; a value past the quantity range (1e15) is refused, and
  so is an adjustment that would take any final value past it.
- `expires` only on a sticky adjustment, and not before today; without it a sticky adjustment is
  carried until its `end` date.
- Carry-over (services/adjustments.py): a sticky adjustment is carried into every run of the same
  frequency planned after it was saved and created on or before its expiry date; it changes the
  periods of that run that fall in [start, end] (none: it is not carried into it).
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import replace

from skucast.errors import FieldError
from skucast.records import AdjustmentRecord, Operation, PointChange

OPERATIONS: tuple[Operation, ...] = ("set", "add", "multiply")
MAX_VALUE = 1e15  # what a quantity may be (ingestion/validate.py): the final forecast stays within it
MAX_MULTIPLY = 1000.0
MAX_COMMENT = 1000
PERIODS = {"D": "daily", "W": "weekly", "M": "monthly"}


def etag(run_id: str, sku: str, version: int) -> str:
    """A strong ETag of one version of one result (an ETag of another result never matches it)."""
    digest = hashlib.sha256(f"{run_id}\n{sku}\n{version}".encode()).hexdigest()[:16]
    return f'"{version}.{digest}"'


def operate(before: float | None, operation: Operation, value: float) -> float | None:
    """One period's final forecast after the operation (None: an undefined point stays undefined,
    unless the operation sets it)."""
    if operation == "set":
        return value
    if before is None:
        return None
    if operation == "add":
        return max(0.0, before + value)
    return before * value


def apply(
    dates: Sequence[str], final: Sequence[float | None], start: str, end: str, operation: Operation, value: float
) -> tuple[list[float | None], tuple[PointChange, ...]]:
    """The final forecast after the operation over the periods dated [start, end] (ISO dates), and
    each changed period's value before and after. Periods outside the range are untouched."""
    after = list(final)
    changes = []
    for i, date in enumerate(dates):
        if start <= date <= end:
            after[i] = operate(final[i], operation, value)
            changes.append(PointChange(date, final[i], after[i]))
    return after, tuple(changes)


def carry(
    dates: Sequence[str], means: Sequence[float | None], entries: Sequence[AdjustmentRecord]
) -> tuple[list[float | None], tuple[AdjustmentRecord, ...]]:
    """A later run's final forecast after the sticky adjustments it carries, applied to its means
    in the order given (the order they were made), and the ones that changed any of its periods,
    each with its changes. Entries covering none of its dates are not carried."""
    final: list[float | None] = list(means)
    applied = []
    for entry in entries:
        final, changes = apply(dates, final, entry.start, entry.end, entry.operation, entry.value)
        if changes:
            applied.append(replace(entry, changes=changes))
    return final, tuple(applied)


def check_operation(values: dict[str, float | None]) -> list[FieldError]:
    """Exactly one of set, add, multiply (`values` maps each name to what the request gave)."""
    given = [name for name in OPERATIONS if values.get(name) is not None]
    if len(given) == 1:
        return []
    if not given:
        return [FieldError("set", "one_operation", "Give exactly one of set, add or multiply: none was given.")]
    return [
        FieldError(given[1], "one_operation", f"Give exactly one of set, add or multiply, not {' and '.join(given)}.")
    ]


def check_dates(start: str, end: str, dates: Sequence[str], frequency: str) -> list[FieldError]:
    """`start` and `end` are forecast periods of the run (its `dates`, sorted) and in order."""
    found = (_period_error(name, value, dates, frequency) for name, value in (("start", start), ("end", end)))
    errors = [e for e in found if e]
    if end < start:
        errors.append(FieldError("end", "end_before_start", f"end ({end}) is before start ({start})."))
    return errors


def _period_error(name: str, value: str, dates: Sequence[str], frequency: str) -> FieldError | None:
    if not dates:
        return FieldError(name, "outside_forecast", "This result has no forecast periods.")
    kind = PERIODS.get(frequency, frequency)
    if value < dates[0] or value > dates[-1]:
        message = f"{value} is outside this run's forecast: its {kind} periods run from {dates[0]} to {dates[-1]}."
        return FieldError(name, "outside_forecast", message)
    if value in dates:
        return None
    i = bisect.bisect_left(dates, value)
    message = (
        f"{value} does not begin a {kind} period of this run: the periods around it begin on "
        f"{dates[i - 1]} and {dates[i]}. Give the first day of a period."
    )
    return FieldError(name, "not_a_period_start", message)


def check_sticky(sticky: bool, expires: str | None, today: dt.date) -> list[FieldError]:
    if expires is None:
        return []
    if not sticky:
        message = 'expires applies to sticky adjustments only: add "sticky": true, or leave expires out.'
        return [FieldError("expires", "not_sticky", message)]
    if expires < today.isoformat():
        return [FieldError("expires", "in_past", f"expires ({expires}) is before today ({today.isoformat()}).")]
    return []


def check_result(operation: Operation, after: Sequence[float | None]) -> list[FieldError]:
    """The adjusted final forecast stays within the quantity range."""
    top = max((v for v in after if v is not None), default=0.0)
    if top > MAX_VALUE:
        message = f"The adjusted forecast would reach {top:g}, past the largest quantity ({MAX_VALUE:g})."
        return [FieldError(operation, "out_of_range", message)]
    return []


def effective_expiry(end: str, expires: str | None) -> str:
    """The last date a sticky adjustment is carried into new runs: `expires`, else its `end`."""
    return expires or end


def carries_into(entry: AdjustmentRecord, frequency: str, created_on: str) -> bool:
    """Whether a sticky adjustment is carried into a run of `frequency` created on `created_on`
    (an ISO date) and planned after it was saved."""
    return entry.frequency == frequency and created_on <= effective_expiry(entry.end, entry.expires)
