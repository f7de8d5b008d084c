"""Demand drivers, pure: names, validation of driver rows (files and JSON records), the
order-independent merge of one (driver, SKU)'s values, and the roll-up of days to weeks/months.

No AWS, no env (services/drivers.py orchestrates, repositories/drivers.py stores).

Decisions:
- A drivers file is CSV (UTF-8, optionally gzip), with `sku` and `date` (or `unique_id`/`ds`) and
  one column per declared driver. A column that is not a declared driver rejects the whole file
  (`undeclared_driver`, naming it): nothing is stored. Parquet is not read for drivers yet
  (`unsupported_format`). The delimiter is `,` `;` TAB or `|`, found on the header line.
- Dates are ISO `YYYY-MM-DD`, from 1900-01-01 to today + MAX_FUTURE_DAYS (drivers are known in
  advance: next quarter's promotions), else `date_invalid` / `date_too_old` / `date_too_far`.
- An empty cell means "no value": nothing is stored for it and the stored value (if any) stays.
  A row whose driver cells are all empty is accepted and stores nothing.
- Values: a number (`.` decimal point) of magnitude at most VALUE_MAX, else `value_not_number`,
  `value_not_finite` (`NaN`, `Infinity`, `inf` as words, any case) or `value_out_of_range`; a
  `flag` driver takes only 0 or 1 (`flag_not_binary`).
- SKUs are kept exactly as sent, with demand's rules (length, control characters, formula
  prefixes). Values for a SKU that has no demand yet are kept: a launch promotion arrives first.
- The same (sku, date) twice in one upload: every row of it is rejected (`duplicate_row`), like
  demand's `aggregate: reject` - we cannot tell which is right.
- More than `max_rejected_share` of the rows rejected: REJECTED, nothing stored (demand's rule).
- Merge: each stored date remembers the upload that wrote it; an upload writes a date unless a
  later-created upload already did (upload ids sort by creation). So re-sending a file changes
  nothing and the store equals applying uploads in creation order, whatever order they land in.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from skucast.ingestion.csv_door import (
    FileIngestResult,
    FileLimits,
    RowCollector,
    collect_rows,
    read_text,
    refusal,
    repeated_columns,
    split_header,
)
from skucast.ingestion.model import RowError

DriverKind = Literal["numeric", "flag"]
AggregateRule = Literal["mean", "sum", "max", "last"]
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
# POST /drivers/values is a route of its own beside /drivers/{name}: a driver cannot be called that.
RESERVED_NAMES = frozenset({"values"})
MAX_DRIVERS = 50  # per tenant: a row of a file carries at most this many driver columns
MAX_FUTURE_DAYS = 1100  # about three years ahead: plans, not guesses
MIN_DATE = dt.date(1900, 1, 1)
VALUE_MAX = 1e15  # like demand quantities: what float64 and DynamoDB hold with margin
MAX_SKU_LENGTH = 128
MAX_DATES_PER_SKU = 5000  # dates one (driver, SKU) keeps: 13 years daily, one item well under 400 KB
SKU_ALIASES = ("sku", "unique_id")
DATE_ALIASES = ("date", "ds")

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_NON_FINITE = re.compile(r"^[+-]?(nan|inf|infinity)$", re.IGNORECASE)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_FORMULA = re.compile(r"^\s*[=+\-@]")


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a driver, or None."""
    if not re.match(NAME_PATTERN, name):
        return f"driver name {name!r} must match {NAME_PATTERN}: a lower-case letter, then up to 39 of a-z, 0-9, _"
    if name in RESERVED_NAMES:
        return f"driver name {name!r} is reserved (POST /drivers/values is a route of its own)"
    return None


@dataclass(frozen=True)
class DriverSpec:
    name: str
    kind: DriverKind = "numeric"
    aggregate: AggregateRule = "mean"
    known_in_advance: bool = True


@dataclass(frozen=True)
class DriverLimits(FileLimits):
    """One file's limits: the same as an attributes file's (ingestion/csv_door.py)."""


# driver -> sku -> date (ISO) -> value
DriverValues = dict[str, dict[str, dict[str, float]]]


@dataclass
class DriverIngestResult(FileIngestResult):
    values: DriverValues = field(default_factory=dict)

    @property
    def skus_touched(self) -> int:
        return len({sku for per_sku in self.values.values() for sku in per_sku})


def rejected(code: str, message: str, row: int | None = None, column: str | None = None) -> DriverIngestResult:
    """A file-level refusal: nothing stored."""
    return refusal(DriverIngestResult, code, message, row, column)


# ---------------------------------------------------------------- cell checks
def check_sku(value: Any) -> tuple[str | None, str | None]:
    """(sku, None) or (None, error code)."""
    if not isinstance(value, str) or not value.strip():
        return None, "missing_value"
    if len(value) > MAX_SKU_LENGTH:
        return None, "sku_too_long"
    if _CONTROL.search(value):
        return None, "sku_control_character"
    if _FORMULA.match(value):
        return None, "sku_formula"
    return value, None


def check_date(value: Any, today: dt.date) -> tuple[str | None, str | None]:
    """(ISO date, None) or (None, error code)."""
    if not isinstance(value, str) or not value.strip():
        return None, "missing_value"
    text = value.strip()
    if not _ISO_DATE.match(text):
        return None, "date_invalid"
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None, "date_invalid"
    if day < MIN_DATE:
        return None, "date_too_old"
    if day > today + dt.timedelta(days=MAX_FUTURE_DAYS):
        return None, "date_too_far"
    return text, None


def _number_of(value: Any) -> tuple[float | None, str | None]:
    """A JSON value or a cell's text as a float; (None, None) for "no value"."""
    if value is None:
        return None, None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None, "value_not_number"
    if not isinstance(value, str):
        return float(value), None
    text = value.strip()
    if not text:
        return None, None
    if _NON_FINITE.match(text):
        return None, "value_not_finite"
    if not _NUMBER.match(text):
        return None, "value_not_number"
    return float(text), None


def check_value(value: Any, kind: str) -> tuple[float | None, str | None]:
    """(value, None), (None, None) for "no value", or (None, error code). `value` is a cell's
    text (files) or a JSON value (records: a number, or null)."""
    number, code = _number_of(value)
    if number is None:
        return None, code
    if not math.isfinite(number):
        return None, "value_not_finite"
    if abs(number) > VALUE_MAX:
        return None, "value_out_of_range"
    if kind == "flag" and number not in (0.0, 1.0):
        return None, "flag_not_binary"
    return number + 0.0, None  # -0.0 is stored as 0


_MESSAGES = {
    "missing_value": "{column} is empty",
    "sku_too_long": f"the SKU is longer than {MAX_SKU_LENGTH} characters",
    "sku_control_character": "the SKU holds a control or bidi-override character",
    "sku_formula": "the SKU begins with = + - or @ (a spreadsheet formula)",
    "date_invalid": "{value} is not a date in YYYY-MM-DD",
    "date_too_old": "{value} is before 1900-01-01",
    "date_too_far": f"{{value}} is more than {MAX_FUTURE_DAYS} days ahead",
    "value_not_number": "{value} is not a number",
    "value_not_finite": "{value} is not a finite number",
    "value_out_of_range": f"{{value}} is beyond ±{VALUE_MAX:g}",
    "flag_not_binary": "{value} is not 0 or 1 ({column} is a flag)",
}


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else repr(value[:40])
    return text


def _error(row: int, column: str, code: str, value: Any) -> RowError:
    message = _MESSAGES[code].format(column=column, value=_show(value))
    return RowError(row, column, code, f"{column}: {message}")


# ---------------------------------------------------------------- the collector (both doors)
class _Collector(RowCollector[tuple[str, str], tuple[str, str, dict[str, float]]]):
    """Rows keyed by (sku, date), each with its accepted driver values."""

    def __init__(self, drivers: Mapping[str, DriverSpec], today: dt.date, limits: DriverLimits) -> None:
        super().__init__(limits)
        self.drivers, self.today = drivers, today

    def add(self, row: int, sku_cell: Any, date_cell: Any, values: Mapping[str, Any]) -> None:
        self.rows_total += 1
        sku, sku_code = check_sku(sku_cell)
        day, date_code = check_date(date_cell, self.today)
        row_errors = []
        if sku_code:
            row_errors.append(_error(row, "sku", sku_code, sku_cell))
        if date_code:
            row_errors.append(_error(row, "date", date_code, date_cell))
        accepted: dict[str, float] = {}
        for name, cell in values.items():
            number, code = check_value(cell, self.drivers[name].kind)
            if code:
                row_errors.append(_error(row, name, code, cell))
            elif number is not None:
                accepted[name] = number
        if row_errors:
            self.reject(row, row_errors)
            return
        assert sku is not None and day is not None
        self.keep(row, (sku, day), (sku, day, accepted))

    def finish(self) -> DriverIngestResult:
        self.drop_repeats("date", "duplicate_row", lambda key, n: f"SKU {key[0]!r} has {n} rows for {key[1]}")
        kept, too_many = self.verdict(DriverIngestResult)
        if too_many:
            return too_many
        values: DriverValues = {}
        for sku, day, accepted in self.cells.values():
            for name, number in accepted.items():
                values.setdefault(name, {}).setdefault(sku, {})[day] = number
        too_many_skus = self.too_many_skus(len({sku for sku, _, _ in self.cells.values()}), DriverIngestResult)
        return too_many_skus or self.counted(DriverIngestResult, kept, values=values)


# ---------------------------------------------------------------- the records door
def ingest_driver_records(
    records: Sequence[Any], drivers: Mapping[str, DriverSpec], today: dt.date, limits: DriverLimits = DriverLimits()
) -> DriverIngestResult:
    """POST /drivers/values: `records` is a list of {sku, date, values: {<driver>: number|null}};
    row = position in the list (1-based). A driver key that is not declared rejects the request."""
    undeclared = sorted(
        {
            str(name)
            for r in records
            if isinstance(r, dict) and isinstance(r.get("values"), dict)
            for name in r["values"]
            if name not in drivers
        }
    )
    if undeclared:
        return rejected(
            "undeclared_driver",
            f"not declared as drivers: {', '.join(map(repr, undeclared))} (PUT /drivers/{{name}} first); "
            "nothing was stored",
            column=undeclared[0],
        )
    collector = _Collector(drivers, today, limits)
    for row, record in enumerate(records, start=1):
        if not isinstance(record, dict) or not isinstance(record.get("values", {}), dict):
            collector.unreadable(row, "invalid_record", "a record is an object {sku, date, values: {<driver>: number}}")
            continue
        date = record.get("date")
        collector.add(row, record.get("sku"), date if isinstance(date, str) else None, record.get("values") or {})
    return collector.finish()


# ---------------------------------------------------------------- the file door
def _has_sku_and_date(lowered: list[str]) -> bool:
    return any(a in lowered for a in SKU_ALIASES) and any(a in lowered for a in DATE_ALIASES)


def _layout(
    names: list[str], drivers: Mapping[str, DriverSpec]
) -> tuple[int, int, list[tuple[int, str]]] | DriverIngestResult:
    """Where sku and date are, and the driver columns; or why the header rejects the file."""
    lowered = [c.lower() for c in names]
    twice = repeated_columns(lowered, DriverIngestResult)
    if twice:
        return twice
    sku_at = next(i for i, c in enumerate(lowered) if c in SKU_ALIASES)
    date_at = next(i for i, c in enumerate(lowered) if c in DATE_ALIASES)
    others = [(i, c) for i, c in enumerate(names) if i not in (sku_at, date_at)]
    for _, column in others:
        if column not in drivers:
            return rejected(
                "undeclared_driver",
                f"column {column!r} is not a declared driver (PUT /drivers/{{name}} first): nothing was stored",
                row=1,
                column=column,
            )
    if not others:
        return rejected("missing_columns", "the file has no driver column beside `sku` and `date`", row=1)
    return sku_at, date_at, others


def ingest_driver_file(
    stream: IO[bytes], drivers: Mapping[str, DriverSpec], today: dt.date, limits: DriverLimits = DriverLimits()
) -> DriverIngestResult:
    """A drivers CSV: validated whole before anything is stored (a rejected file stores nothing)."""
    text = read_text(stream, limits, "drivers", DriverIngestResult)
    if isinstance(text, DriverIngestResult):
        return text
    first, delimiter, names = split_header(text, _has_sku_and_date)
    if delimiter is None:
        return rejected(
            "missing_columns", f"the header {first[:200]!r} must name `sku` and `date` and the driver columns", row=1
        )
    layout = _layout(names, drivers)
    if isinstance(layout, DriverIngestResult):
        return layout
    sku_at, date_at, others = layout
    collector = _Collector(drivers, today, limits)

    def add(row: int, cells: list[str]) -> None:
        collector.add(row, cells[sku_at], cells[date_at], {c: cells[i] for i, c in others})

    refused = collect_rows(text, delimiter, len(names), collector, DriverIngestResult, add)
    return refused or collector.finish()


# ---------------------------------------------------------------- merge (one driver, one SKU)
@dataclass(frozen=True)
class StoredValues:
    """One (driver, SKU)'s values: date (ISO) -> (value, index into writers). Writers are upload
    ids ascending (= creation order)."""

    values: dict[str, tuple[float, int]]
    writers: tuple[str, ...]

    def as_points(self) -> dict[str, float]:
        return {d: v for d, (v, _) in sorted(self.values.items())}


def merge_values(stored: StoredValues | None, incoming: Mapping[str, float], upload_id: str) -> StoredValues | None:
    """The values after applying `upload_id`'s; None when nothing changes. A date is written
    unless a later-created upload wrote it (so applying uploads in any order, or twice, ends the
    same)."""
    stored = stored or StoredValues({}, ())
    owner = {d: stored.writers[w] for d, (_, w) in stored.values.items()}
    value = {d: v for d, (v, _) in stored.values.items()}
    changed = False
    for day, number in incoming.items():
        if day in owner and owner[day] > upload_id:
            continue  # a later upload wrote this date: it stays
        changed = changed or value.get(day) != number or owner.get(day) != upload_id
        value[day], owner[day] = number, upload_id
    if not changed:
        return None
    used = sorted(set(owner.values()))
    slot = {w: i for i, w in enumerate(used)}
    return StoredValues({d: (value[d], slot[owner[d]]) for d in value}, tuple(used))


def encode_values(stored: StoredValues) -> bytes:
    """Compact, deterministic: the same values always encode to the same bytes."""
    dates = sorted(stored.values)
    body = {
        "w": list(stored.writers),
        "d": dates,
        "v": [stored.values[d][0] for d in dates],
        "o": [stored.values[d][1] for d in dates],
    }
    return zlib.compress(json.dumps(body, separators=(",", ":"), allow_nan=False).encode(), 6)


def decode_values(blob: bytes) -> StoredValues:
    body = json.loads(zlib.decompress(blob))
    return StoredValues(
        {d: (float(v), int(o)) for d, v, o in zip(body["d"], body["v"], body["o"], strict=True)},
        tuple(body["w"]),
    )


# ---------------------------------------------------------------- roll-up (for the models)
def period_start(day: dt.date, freq: str, week_start: int = 0) -> dt.date:
    """The first day of `day`'s period: D itself, W the week beginning on `week_start`
    (0 = Monday, ISO weeks; 6 = Sunday), M the 1st."""
    if freq == "D":
        return day
    if freq == "W":
        return day - dt.timedelta(days=(day.weekday() - week_start) % 7)
    if freq == "M":
        return day.replace(day=1)
    raise ValueError(f"unknown frequency {freq!r}")


def roll_up(
    points: Mapping[str, float] | Iterable[tuple[str, float]], rule: str, freq: str, week_start: int = 0
) -> dict[str, float]:
    """A driver's dated values at `freq` by its declared rule: mean / sum / max of the values in
    each period, or the last one (by date). Only dates with a value count: a week with a promotion
    flag on 2 of its 7 days, 0 on the others, has mean 2/7; with values on 2 days only, mean 1.
    Periods are named by their first day (ISO)."""
    pairs = sorted(points.items() if isinstance(points, Mapping) else points)
    groups: dict[str, list[float]] = {}
    for day, value in pairs:
        start = period_start(dt.date.fromisoformat(day), freq, week_start).isoformat()
        groups.setdefault(start, []).append(value)
    if rule == "mean":
        return {p: math.fsum(v) / len(v) for p, v in groups.items()}
    if rule == "sum":
        return {p: math.fsum(v) for p, v in groups.items()}
    if rule == "max":
        return {p: max(v) for p, v in groups.items()}
    if rule == "last":
        return {p: v[-1] for p, v in groups.items()}
    raise ValueError(f"unknown aggregate rule {rule!r}")
