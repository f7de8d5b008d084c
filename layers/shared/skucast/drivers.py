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

import csv
import datetime as dt
import io
import json
import math
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from skucast.ingestion.model import IngestStatus, RowError, summarise

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
MAX_ROWS = 500_000  # rows of one drivers upload (held in memory while validated)
MAX_DATES_PER_SKU = 5000  # dates one (driver, SKU) keeps: 13 years daily, one item well under 400 KB
SKU_ALIASES = ("sku", "unique_id")
DATE_ALIASES = ("date", "ds")
DELIMITERS = (",", ";", "\t", "|")

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
class DriverLimits:
    max_raw_bytes: int = 64 * 1024 * 1024  # the whole file is held while it is validated
    max_decompressed_bytes: int = 128 * 1024 * 1024
    max_rows: int = MAX_ROWS
    max_skus: int = 500_000
    max_rejected_share: float = 0.10
    max_errors: int = 100


# driver -> sku -> date (ISO) -> value
DriverValues = dict[str, dict[str, dict[str, float]]]


@dataclass
class DriverIngestResult:
    status: IngestStatus
    rows_total: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    values: DriverValues = field(default_factory=dict)
    all_errors: list[RowError] = field(default_factory=list)

    @property
    def skus_touched(self) -> int:
        return len({sku for per_sku in self.values.values() for sku in per_sku})

    def report(self) -> dict[str, object]:
        """The upload report of the HTTP contract (the same fields as a demand upload's)."""
        return {
            "status": self.status.value,
            "rows_total": self.rows_total,
            "rows_accepted": self.rows_accepted,
            "rows_rejected": self.rows_rejected,
            "skus_touched": self.skus_touched,
            "errors": [e.as_dict() for e in self.errors],
            "error_summary": [c.as_dict() for c in summarise(self.all_errors or self.errors)],
            "warnings": [],
        }


def rejected(code: str, message: str, row: int | None = None, column: str | None = None) -> DriverIngestResult:
    """A file-level refusal: nothing stored."""
    return DriverIngestResult(IngestStatus.REJECTED, errors=[RowError(row, column, code, message)])


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
class _Collector:
    def __init__(self, drivers: Mapping[str, DriverSpec], today: dt.date, limits: DriverLimits) -> None:
        self.drivers, self.today, self.limits = drivers, today, limits
        self.rows_total = 0
        self.errors: list[RowError] = []
        self.bad_rows: set[int] = set()
        # (sku, date) -> rows, and the accepted cells per row
        self.keys: dict[tuple[str, str], list[int]] = {}
        self.cells: dict[int, tuple[str, str, dict[str, float]]] = {}

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
            self.errors.extend(row_errors)
            self.bad_rows.add(row)
            return
        assert sku is not None and day is not None
        self.keys.setdefault((sku, day), []).append(row)
        self.cells[row] = (sku, day, accepted)

    def finish(self) -> DriverIngestResult:
        for (sku, day), rows in self.keys.items():
            if len(rows) > 1:
                for row in rows:
                    self.errors.append(
                        RowError(row, "date", "duplicate_row", f"SKU {sku!r} has {len(rows)} rows for {day}")
                    )
                    self.bad_rows.add(row)
                    del self.cells[row]
        rejected_rows = len(self.bad_rows)
        self.errors.sort(key=lambda e: (e.row or 0, e.column or ""))
        kept = _select(self.errors, self.limits.max_errors)
        if self.rows_total and rejected_rows > self.limits.max_rejected_share * self.rows_total:
            share = f"{rejected_rows} of {self.rows_total} rows"
            head = RowError(
                None,
                None,
                "too_many_rejected_rows",
                f"{share} were rejected (more than {self.limits.max_rejected_share:.0%}): nothing was stored",
            )
            return DriverIngestResult(
                IngestStatus.REJECTED,
                self.rows_total,
                0,
                rejected_rows,
                [head, *kept][: self.limits.max_errors],
                all_errors=[head, *self.errors],
            )
        values: DriverValues = {}
        for sku, day, accepted in self.cells.values():
            for name, number in accepted.items():
                values.setdefault(name, {}).setdefault(sku, {})[day] = number
        skus = {sku for sku, _, _ in self.cells.values()}
        if len(skus) > self.limits.max_skus:
            return rejected(
                "too_many_skus", f"{len(skus)} SKUs in one upload; at most {self.limits.max_skus}: split the file"
            )
        status = IngestStatus.PARTIAL if rejected_rows else IngestStatus.SUCCEEDED
        return DriverIngestResult(
            status,
            self.rows_total,
            self.rows_total - rejected_rows,
            rejected_rows,
            kept,
            values,
            all_errors=list(self.errors),
        )


def _select(errors: list[RowError], limit: int) -> list[RowError]:
    """The first `limit` errors in row order, always with the first of every code."""
    firsts: dict[str, RowError] = {}
    for e in errors:
        firsts.setdefault(e.code, e)
    chosen = list(firsts.values())
    for e in errors:
        if len(chosen) >= limit:
            break
        if e not in chosen:
            chosen.append(e)
    return sorted(chosen[:limit], key=lambda e: (e.row or 0, e.column or ""))


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
            collector.rows_total += 1
            collector.errors.append(
                RowError(row, None, "invalid_record", "a record is an object {sku, date, values: {<driver>: number}}")
            )
            collector.bad_rows.add(row)
            continue
        date = record.get("date")
        collector.add(row, record.get("sku"), date if isinstance(date, str) else None, record.get("values") or {})
    return collector.finish()


# ---------------------------------------------------------------- the file door
def _text_of(stream: IO[bytes], limits: DriverLimits) -> str | DriverIngestResult:
    raw = stream.read(limits.max_raw_bytes + 1)
    if len(raw) > limits.max_raw_bytes:
        return rejected("file_too_large", f"the file is larger than {limits.max_raw_bytes} bytes")
    if raw.startswith(b"\x1f\x8b"):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(raw, limits.max_decompressed_bytes + 1)
        except zlib.error:
            return rejected("corrupt_compression", "the gzip stream is corrupt")
        if len(raw) > limits.max_decompressed_bytes or inflater.unconsumed_tail:
            return rejected("decompressed_too_large", "the file inflates past its limit")
    if raw.startswith(b"PAR1"):
        return rejected("unsupported_format", "drivers are read from CSV files only (not Parquet) for now")
    if not raw.strip():
        return rejected("empty_file", "the file is empty")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return rejected("not_utf8", "the file is not UTF-8 text")


def _header(text: str) -> tuple[str, list[str]] | DriverIngestResult:
    first = text.split("\n", 1)[0].rstrip("\r")
    best: tuple[str, list[str]] | None = None
    for delimiter in DELIMITERS:
        names = next(csv.reader([first], delimiter=delimiter))
        lowered = [n.strip().lower() for n in names]
        if any(a in lowered for a in SKU_ALIASES) and any(a in lowered for a in DATE_ALIASES):
            return delimiter, names
        if best is None or len(names) > len(best[1]):
            best = (delimiter, names)
    assert best is not None
    return rejected(
        "missing_columns", f"the header {first[:200]!r} must name `sku` and `date` and the driver columns", row=1
    )


def _layout(
    names: list[str], drivers: Mapping[str, DriverSpec]
) -> tuple[int, int, list[tuple[int, str]]] | DriverIngestResult:
    """Where sku and date are, and the driver columns; or why the header rejects the file."""
    columns = [n.strip() for n in names]
    lowered = [c.lower() for c in columns]
    if len(set(lowered)) != len(lowered):
        twice = sorted({c for c in lowered if lowered.count(c) > 1})
        return rejected("duplicate_columns", f"columns named more than once: {', '.join(twice)}", row=1)
    sku_at = next(i for i, c in enumerate(lowered) if c in SKU_ALIASES)
    date_at = next(i for i, c in enumerate(lowered) if c in DATE_ALIASES)
    others = [(i, c) for i, c in enumerate(columns) if i not in (sku_at, date_at)]
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
    text = _text_of(stream, limits)
    if isinstance(text, DriverIngestResult):
        return text
    header = _header(text)
    if isinstance(header, DriverIngestResult):
        return header
    delimiter, names = header
    layout = _layout(names, drivers)
    if isinstance(layout, DriverIngestResult):
        return layout
    sku_at, date_at, others = layout
    width = len(names)
    collector = _Collector(drivers, today, limits)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    next(reader)
    try:
        for cells in reader:
            row = reader.line_num  # the header is row 1 (a quoted value spanning lines: its last line)
            if not any(c.strip() for c in cells):
                continue  # a blank line is not a row
            if collector.rows_total >= limits.max_rows:
                return rejected("too_many_rows", f"more than {limits.max_rows} rows: split the file")
            if len(cells) != width:
                collector.rows_total += 1
                collector.errors.append(
                    RowError(row, None, "wrong_field_count", f"{len(cells)} fields where the header has {width}")
                )
                collector.bad_rows.add(row)
                continue
            collector.add(row, cells[sku_at], cells[date_at], {c: cells[i] for i, c in others})
    except csv.Error as exc:
        return rejected("unreadable_file", f"the CSV cannot be read: {exc}")
    return collector.finish()


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
