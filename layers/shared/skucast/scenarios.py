"""What-if scenarios and run comparisons, pure: the rules a scenario's changes and events follow,
and the arithmetic of comparing two runs. No AWS, no env (services/runs.py and
services/compare.py orchestrate).

Decisions:
- A scenario run takes its base run's parameters (horizon, frequency, levels, method, SKUs,
  as_of, drivers, history_cleaning, backtest_windows). A request that sends one of them with
  another value than the base run's is refused (422 naming each field): silently ignoring it
  would answer a question the planner did not ask. The same value is accepted.
- A change names a declared driver the base run could use (its `drivers` is `auto`, or lists
  it), a period `start` <= `end` that ends after the base run's origin (only future values
  change), and exactly one of set / multiply / add (finite; the schema refuses NaN and the
  infinities). A flag driver is only `set`, to 0 or 1: multiplying or adding to a 0/1 flag has
  no meaning a planner would mean.
- Events use the calendar's own rules (skucast/calendars.py): a bad date is named.
- SKU references over all changes and events are capped (MAX_SCENARIO_SKUS) so the run's item
  stays small; a change without `skus` covers every SKU of the run.
- A scenario of a scenario stacks: its changes and events apply after its base's.

Comparing (`compare`): per SKU both runs forecast (a result without error in each), the sum of
`mean` over the horizon; delta = run - to, delta_pct = 100 * delta / to (None when `to` is 0).
Items biggest absolute delta first (ties by SKU); totals sum the same items (math.fsum), so the
totals' delta is the sum of the items' deltas.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from skucast.calendars import CalendarProblems, parse_calendar
from skucast.errors import FieldError

MAX_SCENARIO_SKUS = 1000
# The base run's parameters a scenario inherits, and may not change.
INHERITED = ("horizon", "frequency", "levels", "method", "backtest_windows", "history_cleaning", "drivers", "as_of")
OPERATIONS = ("set", "multiply", "add")


def inherited_conflicts(sent: Mapping[str, Any], base: Mapping[str, Any]) -> list[FieldError]:
    """The parameters a scenario request sent with another value than its base run's."""
    errors = []
    for name in INHERITED:
        if name in sent and sent[name] != base.get(name):
            errors.append(
                FieldError(
                    name,
                    "set_by_base_run",
                    f"a scenario run takes {name} from its base run ({base.get(name)!r}); leave it out",
                )
            )
    if "skus" in sent:
        errors.append(
            FieldError(
                "skus", "set_by_base_run", "a scenario run forecasts its base run's SKUs; target SKUs in changes[].skus"
            )
        )
    return errors


@dataclass(frozen=True)
class BaseRun:
    """What the checks need of the base run: its origin and the drivers it could use."""

    as_of: dt.date | None
    drivers: str | list[str]  # "auto" | "none" | names


def check_changes(changes: Sequence[Mapping[str, Any]], declared: Mapping[str, str], base: BaseRun) -> list[FieldError]:
    """Every problem with the changes (`declared`: driver name -> kind), each naming its field."""
    errors: list[FieldError] = []
    for i, change in enumerate(changes):
        where = f"scenario.changes[{i}]"
        name = change["driver"]
        ops = [op for op in OPERATIONS if change.get(op) is not None]
        if name not in declared:
            errors.append(FieldError(f"{where}.driver", "undeclared_driver", f"{name!r} is not a declared driver"))
        elif base.drivers == "none" or (isinstance(base.drivers, list) and name not in base.drivers):
            errors.append(
                FieldError(f"{where}.driver", "driver_not_used", f"the base run does not use driver {name!r}")
            )
        if len(ops) != 1:
            errors.append(FieldError(where, "one_operation", "exactly one of set, multiply, add"))
        elif declared.get(name) == "flag" and (ops[0] != "set" or change["set"] not in (0, 1)):
            errors.append(FieldError(f"{where}.{ops[0]}", "flag_not_binary", f"{name!r} is a flag: set it to 0 or 1"))
        start, end = change["start"], change["end"]
        if start > end:
            errors.append(FieldError(f"{where}.start", "after_end", f"start {start} is after end {end}"))
        elif base.as_of is not None and end <= base.as_of:
            errors.append(
                FieldError(
                    f"{where}.end",
                    "before_forecast",
                    f"the change ends on {end}, not after the base run's origin {base.as_of}: nothing it forecasts",
                )
            )
    return errors


def check_events(events: Sequence[Mapping[str, Any]]) -> list[FieldError]:
    """The events by the calendar's rules, fields named under `scenario.`."""
    parsed = parse_calendar([], [dict(e) for e in events])
    if isinstance(parsed, CalendarProblems):
        return [FieldError(f"scenario.{where}", code, message) for where, code, message in parsed.items]
    return []


def sku_references(scenario: Mapping[str, Any]) -> int:
    parts = [*scenario.get("changes", ()), *scenario.get("events", ())]
    return sum(len(p.get("skus") or ()) for p in parts)


def stacked(base_scenario: Mapping[str, Any] | None, scenario: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario as a run applies it: a base that is itself a scenario contributes its changes
    and events first."""
    before = base_scenario or {}
    return {
        "base_run_id": scenario["base_run_id"],
        "changes": [*before.get("changes", ()), *scenario.get("changes", ())],
        "events": [*before.get("events", ()), *scenario.get("events", ())],
    }


# ---------------------------------------------------------------- comparing two runs
@dataclass(frozen=True)
class Delta:
    sku: str
    run_total: float
    to_total: float

    @property
    def delta(self) -> float:
        return self.run_total - self.to_total

    @property
    def delta_pct(self) -> float | None:
        return percent(self.delta, self.to_total)


def percent(delta: float, base: float) -> float | None:
    return None if base == 0 else 100.0 * delta / base


def forecast_total(points: Iterable[Mapping[str, Any]]) -> float:
    return math.fsum(float(p.get("mean") or 0.0) for p in points)


def compare(run: Mapping[str, float], to: Mapping[str, float]) -> tuple[list[Delta], dict[str, Any]]:
    """Per-SKU totals of two runs (SKU -> sum of mean) -> the items over the SKUs both have,
    biggest absolute delta first, and the totals."""
    items = [Delta(sku, run[sku], to[sku]) for sku in run.keys() & to.keys()]
    items.sort(key=lambda d: (-abs(d.delta), d.sku))
    total_run = math.fsum(d.run_total for d in items)
    total_to = math.fsum(d.to_total for d in items)
    delta = math.fsum(d.delta for d in items)
    return items, {"run": total_run, "to": total_to, "delta": delta, "delta_pct": percent(delta, total_to)}
