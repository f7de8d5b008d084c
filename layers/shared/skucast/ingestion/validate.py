"""Validation of demand rows, and the two doors into it: files and JSON records.

Both doors end in the same `_Collector`: each block is checked column by column with Arrow/numpy
kernels (SKUs and dates on their per-block dictionary of distinct values, which is small), the
accepted points are appended to flat arrays, and duplicates are settled once at the end with one
sort. No Python loop runs per row on the happy path; loops only format the first errors kept.

Decisions (see also model.py for row numbering):
- Date and quantity cells are trimmed of surrounding whitespace before they are checked. SKU
  cells are kept exactly as sent (" WS1 " and "WS1" are two SKUs, as they are in a run's `skus`
  and in paths); a SKU cell of only whitespace is missing, and the formula check looks past
  leading whitespace.
- A row whose every cell is empty (blank line, `,,`) is ignored and not counted.
- Header only, or `records: []`: SUCCEEDED with zero rows (a valid, empty upload).
- Dates are accepted from `limits.min_date` (1900-01-01) to `today + limits.max_future_days` (1)
  inclusive, in one format per file: the upload's declared one, else the one the first date
  with a recognised shape announces: `2024-01-31` YYYY-MM-DD, `2024/01/31` YYYY/MM/DD,
  `31.01.2024` DD.MM.YYYY (day and month may have one digit outside ISO), `a/b/2024` a slash
  date, whose order is settled over the whole date column: the first date with a > 12 (or
  b > 12) makes it DD/MM/YYYY (MM/DD/YYYY). When no date tells them apart, the source's
  default is assumed (MM/DD/YYYY in comma-separated files, DD/MM/YYYY otherwise) and a
  `date_format_assumed` warning says so; blocks read before the order is known are held
  (compactly, dictionary-encoded) and checked once it is. Dates in another format are
  date_invalid. The JSON records door takes ISO only.
- A date may carry a time if it is midnight: `2024-01-31 00:00`, `T00:00:00`, `T00:00:00.000Z`,
  `+00:00` or any other offset (the date is the one written, the time is the offset's local
  time, as for Parquet timestamps with a time zone). Any other time is `date_has_time`.
- Quantities: the decimal separator is the declared one, else `.` in comma-separated files, else
  the first quantity written with a separator decides (`12,5` → comma, `12.5` → point). No
  thousands separators: under a decimal comma `1.5` is quantity_not_number, so `1.234` is never
  read as 1.234 in a file where it means 1234.
- A quantity is 0 or between QUANTITY_MIN (1e-6) and QUANTITY_MAX (1e15), else
  quantity_out_of_range: what both the store and the models hold with margin. DynamoDB numbers
  hold 38 significant digits between 1e-130 and 9.99e125; the engine works in float64 (about 16
  digits, up to 1.8e308, integers exact to 2^53 = 9.0e15). At 1e15 a quantity's square (variance,
  squared errors) is 1e30 and a sum of squares over 10^5 periods 1e35, a horizon's total 3.7e17:
  all far inside both; at 1e-6 a square is 1e-12, far above DynamoDB's 1e-130. A series of
  1e307s or 1e-200s could be read and validated but not forecast and stored.
- SKUs: at most `max_sku_length` characters, no control or bidi-override characters, and no
  leading `= + - @`: such codes are formula-injection payloads when a CSV export is opened in a
  spreadsheet, so they never enter (exports still neutralise on their side).
- aggregate "reject": every row of a duplicated (sku, date) is rejected, since we cannot tell which
  one is right. aggregate "sum": they are summed (a non-finite sum rejects the group).
- More than `max_rejected_share` (10%) of rows rejected → REJECTED, nothing written.
- The report keeps `max_errors` (100) errors: the first occurrence of every code, then the
  earliest others, in row order. `error_summary` counts every code exactly (a row with two bad
  cells counts under each cell's code) with its first five rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skucast.ingestion.model import (
    AcceptedPoints,
    Aggregate,
    DateFormat,
    ErrorCount,
    IngestLimits,
    IngestResult,
    IngestStatus,
    IngestWarning,
    ReadOptions,
    RowError,
    StructuralError,
)
from skucast.ingestion.reader import ALIASES, FIELDS, RawBatch, Source, open_source

# Row-level problem codes; the int8 value is what the per-row code arrays hold (0 = fine).
OK, MISSING, SKU_TOO_LONG, SKU_CONTROL, SKU_FORMULA = 0, 1, 2, 3, 4
DATE_INVALID, DATE_TOO_OLD, DATE_FUTURE = 5, 6, 7
QTY_NOT_NUMBER, QTY_NOT_FINITE, QTY_NEGATIVE = 8, 9, 10
DATE_HAS_TIME = 11
QTY_OUT_OF_RANGE = 12
N_CODES = 13
CODE_NAMES = {
    MISSING: "missing_value",
    SKU_TOO_LONG: "sku_too_long",
    SKU_CONTROL: "sku_control_character",
    SKU_FORMULA: "sku_formula",
    DATE_INVALID: "date_invalid",
    DATE_HAS_TIME: "date_has_time",
    DATE_TOO_OLD: "date_too_old",
    DATE_FUTURE: "date_in_future",
    QTY_NOT_NUMBER: "quantity_not_number",
    QTY_NOT_FINITE: "quantity_not_finite",
    QTY_NEGATIVE: "quantity_negative",
    QTY_OUT_OF_RANGE: "quantity_out_of_range",
}
# The quantities the store and the models can hold (see the module docstring): 0, or within these.
QUANTITY_MIN = 1e-6
QUANTITY_MAX = 1e15
DUPLICATE_ROW = "duplicate_row"
WRONG_FIELD_COUNT = "wrong_field_count"
TOO_MANY_REJECTED = "too_many_rejected_rows"

_CONTROL_RE = r"[\x00-\x1f\x7f-\x9f\x{202a}-\x{202e}\x{2066}-\x{2069}]"
_FORMULA_RE = r"^[=+\-@]"
_NUMBER_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_NON_FINITE_RE = r"^[+-]?(nan|inf|infinity)$"
_COMMA_DECIMAL_RE = r"^[+-]?(\d+,\d*|,\d+)$"
_POINT_DECIMAL_RE = r"^[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?$"
# The format a date's shape announces (first match wins); None: a slash date, order still open.
_DATE_SHAPES: tuple[tuple[str, DateFormat | None], ...] = (
    (r"^\d{4}-\d{1,2}-\d{1,2}", DateFormat.ISO),
    (r"^\d{4}/\d{1,2}/\d{1,2}", DateFormat.YMD_SLASH),
    (r"^\d{1,2}\.\d{1,2}\.\d{4}", DateFormat.DMY_DOT),
    (r"^\d{1,2}/\d{1,2}/\d{4}", None),
)
_SLASH_PARTS = r"^(?P<a>\d{1,2})/(?P<b>\d{1,2})/\d{4}"
_DATE_PARTS = {
    DateFormat.ISO: r"^(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})",
    DateFormat.YMD_SLASH: r"^(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})",
    DateFormat.DMY_SLASH: r"^(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})",
    DateFormat.MDY_SLASH: r"^(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})",
    DateFormat.DMY_DOT: r"^(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})",
}
# An optional time after the date: a valid clock time, optional fraction, optional zone.
_TIME_PART = (
    r"(?P<t>[ T](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d{1,9})?)?"
    r"(?:Z|[+-](?:0\d|1[0-4])(?::?[0-5]\d)?)?)?$"
)
_MIDNIGHT_RE = r"^[ T]00:00(:00([.,]0+)?)?(Z|[+-].*)?$"
_EPOCH = np.datetime64("1970-01-01", "D")
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int16)
_DAY_BIAS = 1 << 31  # days since epoch shifted non-negative, to pack (sku, day) in one int64


def ingest_file(
    stream: IO[bytes],
    *,
    aggregate: str,
    limits: IngestLimits,
    today: dt.date,
    options: ReadOptions | None = None,
) -> IngestResult:
    """Read, validate and group a demand file. Never raises for bad content: a file that cannot be
    used at all comes back REJECTED with a file-level error. `options`: what the upload declared
    about the file's format (default: detect everything)."""
    mode = Aggregate(aggregate)
    options = options or ReadOptions()
    try:
        source = open_source(stream, limits, options)
        formats = _Formats(options.date_format, source.decimal, source.ambiguous_dates, source.ambiguous_why)
        collector = _Collector(limits, today, source.first_row, formats)
        with contextlib.closing(source.batches()) as batches:  # closes the reader on early exit
            for batch in batches:
                collector.add(batch)
        return collector.finish(mode, source)
    except StructuralError as exc:
        return exc.to_result()


def ingest_records(records: Sequence[Any], *, aggregate: str, limits: IngestLimits, today: dt.date) -> IngestResult:
    """The `POST /demand` door: same checks, rows numbered by their 1-based position."""
    mode = Aggregate(aggregate)
    try:
        batch = _records_batch(records, limits)
        formats = _Formats(DateFormat.ISO, ".", DateFormat.ISO, "")
        collector = _Collector(limits, today, first_row=1, formats=formats)
        collector.add(batch)
        return collector.finish(mode, Source())
    except StructuralError as exc:
        return exc.to_result()


def _records_batch(records: Sequence[Any], limits: IngestLimits) -> RawBatch:
    if len(records) > limits.max_records:
        raise StructuralError("too_many_records", f"at most {limits.max_records} records per request")
    columns: dict[str, list[str | None]] = {f: [] for f in FIELDS}
    for position, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            raise StructuralError("invalid_record", f"record {position} is not an object", row=position)
        found: dict[str, Any] = {}
        for key, value in record.items():
            field = ALIASES.get(str(key).strip().lower())
            if field is None:
                raise StructuralError("extra_columns", f"record {position} has unknown field {key!r}", row=position)
            if field in found:
                raise StructuralError("duplicate_columns", f"record {position} gives {field!r} twice", row=position)
            found[field] = value
        for field in FIELDS:
            columns[field].append(_as_text(found.get(field)))
    return RawBatch(*(pa.array(columns[f], pa.string()) for f in FIELDS))


def _as_text(value: Any) -> str | None:
    """Records go through the same text checks as CSV cells; other JSON types count as missing."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float):
        try:
            return repr(value)
        except ValueError:  # an int too long to print is no quantity anyway
            return "not a number"
    return None


class _Formats:
    """The file's date format and decimal separator: declared, or decided from the data, once."""

    def __init__(self, date_format: DateFormat | None, decimal: str | None, ambiguous: DateFormat, why: str):
        self.date_format = date_format
        self.decimal = decimal
        self._ambiguous, self._why = ambiguous, why
        self._slash = False  # the dates are a/b/yyyy and which of a, b is the day is still open
        self._example: str | None = None
        self.warnings: list[IngestWarning] = []

    def ready_for(self, dates: pa.Array) -> bool:
        """Whether a block with these dates can be checked now; decides the format when the
        block shows it. Blocks of typed dates (Parquet date32) need no format."""
        if self.date_format is not None or not pa.types.is_string(dates.type):
            return True
        distinct = pc.utf8_trim_whitespace(pc.unique(dates))  # in order of first appearance
        if not self._slash:
            first, found = len(distinct), None
            for pattern, fmt in _DATE_SHAPES:
                hits = np.flatnonzero(_matches(distinct, pattern))
                if len(hits) and hits[0] < first:
                    first, found = int(hits[0]), fmt
            if first == len(distinct):
                return False  # no date of a known shape yet
            if found is not None:
                self.date_format = found
                return True
            self._slash, self._example = True, distinct[first].as_py()
        return self._settle_order(distinct)

    def _settle_order(self, distinct: pa.Array) -> bool:
        parts = pc.extract_regex(distinct, _SLASH_PARTS)
        a = np.asarray(pc.fill_null(pc.cast(pc.struct_field(parts, "a"), pa.int32()), 0))
        b = np.asarray(pc.fill_null(pc.cast(pc.struct_field(parts, "b"), pa.int32()), 0))
        day_first = np.flatnonzero((a > 12) & (b >= 1) & (b <= 12))
        month_first = np.flatnonzero((b > 12) & (a >= 1) & (a <= 12))
        if not len(day_first) and not len(month_first):
            return False
        earlier = not len(month_first) or (len(day_first) and day_first[0] < month_first[0])
        self.date_format = DateFormat.DMY_SLASH if earlier else DateFormat.MDY_SLASH
        return True

    def settle(self) -> None:
        """At the end of the file: the format nothing in it decided."""
        if self.date_format is not None:
            return
        if not self._slash:
            self.date_format = DateFormat.ISO  # no date of a known shape: they are all invalid
            return
        self.date_format = self._ambiguous
        self.warnings.append(
            IngestWarning(
                "date_format_assumed",
                f"Dates such as {self._example} fit both DD/MM/YYYY and MM/DD/YYYY and none in the file "
                f"tells them apart: read as {self._ambiguous.value}, the default for {self._why}. "
                "Declare date_format on the upload if that is wrong.",
            )
        )

    def decimal_for(self, quantities: pa.Array) -> str:
        """The decimal separator for a block: decided by the first quantity that has one."""
        if self.decimal is not None:
            return self.decimal
        if not pa.types.is_string(quantities.type):
            return "."
        distinct = pc.utf8_trim_whitespace(pc.unique(quantities))
        comma = np.flatnonzero(_matches(distinct, _COMMA_DECIMAL_RE))
        point = np.flatnonzero(_matches(distinct, _POINT_DECIMAL_RE))
        if not len(comma) and not len(point):
            return "."  # whole numbers only so far: read the same either way
        self.decimal = "," if len(comma) and (not len(point) or comma[0] < point[0]) else "."
        return self.decimal


def _matches(values: pa.Array, pattern: str) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.match_substring_regex(values, pattern), False))


def _compact(batch: RawBatch) -> RawBatch:
    """A block held until the date format is known, dictionary-encoded (small for demand data)."""
    sku, date, quantity = (
        pc.dictionary_encode(c) if pa.types.is_string(c.type) else c for c in (batch.sku, batch.date, batch.quantity)
    )
    return RawBatch(sku, date, quantity, skip_blank=batch.skip_blank)


def _expand(batch: RawBatch) -> RawBatch:
    sku, date, quantity = (
        c.dictionary_decode() if pa.types.is_dictionary(c.type) else c for c in (batch.sku, batch.date, batch.quantity)
    )
    return RawBatch(sku, date, quantity, skip_blank=batch.skip_blank)


class _Collector:
    """Accumulates accepted points and error counts over blocks, then settles duplicates."""

    def __init__(self, limits: IngestLimits, today: dt.date, first_row: int, formats: _Formats):
        self._limits = limits
        self._first_row = first_row
        self._formats = formats
        self._min_day = int((np.datetime64(limits.min_date, "D") - _EPOCH).astype(np.int64))
        latest = today + dt.timedelta(days=limits.max_future_days)
        self._max_day = int((np.datetime64(latest, "D") - _EPOCH).astype(np.int64))
        self._sku_dicts: list[pa.Array] = []
        self._dict_size = 0
        self._sku_idx: list[np.ndarray] = []
        self._days: list[np.ndarray] = []
        self._qty: list[np.ndarray] = []
        # (first data index, accepted positions or None for all, block length) per block: the data
        # index of each point is only needed to cite rows of duplicates, so it is built lazily.
        self._blocks: list[tuple[int, np.ndarray | None, int]] = []
        self._seen = 0  # data records yielded so far, blank ones included (for numbering)
        self._held: list[RawBatch] = []  # blocks waiting for the date format
        self._held_rows = 0
        self.rows_total = 0
        self.rows_rejected = 0
        # (data index, column position, code, raw value) of the first rejected cells, plus the
        # first cell of every code (so that the report shows every kind of problem).
        self._kept: list[tuple[int, int, int, Any]] = []
        self._kept_codes: set[int] = set()
        self._counts = np.zeros(N_CODES, np.int64)  # every rejected cell, by code
        self._first: dict[int, list[int]] = {}  # data indices of each code's first 5 rows

    def add(self, batch: RawBatch) -> None:
        if not self._formats.ready_for(batch.date):
            if self._seen + self._held_rows + len(batch) > 2 * self._limits.max_rows:
                raise StructuralError("too_many_rows", f"the file has more than {2 * self._limits.max_rows} lines")
            self._held.append(_compact(batch))
            self._held_rows += len(batch)
            return
        self._release()
        self._add(batch)

    def _release(self) -> None:
        held, self._held, self._held_rows = self._held, [], 0
        for batch in held:
            self._add(_expand(batch))

    def _add(self, batch: RawBatch) -> None:
        sku_local, sku_dict, sku_code = _check_skus(batch.sku, self._limits)
        fmt = self._formats.date_format or DateFormat.ISO  # None only for typed dates
        days, date_code = _check_dates(batch.date, self._min_day, self._max_day, fmt)
        qty, qty_code = _check_quantities(batch.quantity, self._formats.decimal_for(batch.quantity))
        bad = (sku_code | date_code | qty_code) != OK
        n = len(batch)
        n_blank = 0
        accepted: np.ndarray | slice = slice(None)  # the usual block: keep views, copy nothing
        if bad.any():
            keep = ~bad
            if batch.skip_blank:
                blank = _blank_rows(batch, sku_code)
                bad[blank] = False
                keep[blank] = False
                n_blank = len(blank)
            accepted = np.flatnonzero(keep)
        counted = n - n_blank
        rejected = int(bad.sum())
        self.rows_total += counted
        self.rows_rejected += rejected
        if self.rows_total > self._limits.max_rows:
            raise StructuralError("too_many_rows", f"the file has more than {self._limits.max_rows} rows")
        if self._seen + n > 2 * self._limits.max_rows:
            # Blank lines are skipped, not counted, but each still costs a row of work: a gzip of
            # nothing but newlines (0.5 MB inflating to 512 MiB) must stop at a line limit too.
            raise StructuralError("too_many_rows", f"the file has more than {2 * self._limits.max_rows} lines")
        if rejected:
            self._keep_errors(bad, batch, (sku_code, date_code, qty_code))
        self._sku_idx.append(sku_local[accepted] + self._dict_size)
        self._days.append(days[accepted])
        self._qty.append(qty[accepted])
        self._blocks.append((self._seen, None if isinstance(accepted, slice) else accepted, n))
        self._sku_dicts.append(sku_dict)
        self._dict_size += len(sku_dict)
        self._seen += n

    def _keep_errors(self, bad: np.ndarray, batch: RawBatch, codes: tuple[np.ndarray, ...]) -> None:
        columns = (batch.sku, batch.date, batch.quantity)
        in_block = np.sum([np.bincount(code[bad], minlength=N_CODES) for code in codes], axis=0)
        in_block[OK] = 0  # a bad row's fine cells
        self._counts += in_block
        room = self._limits.max_errors - len(self._kept)
        if room > 0:
            for i in np.flatnonzero(bad)[:room].tolist():
                for position, (code, values) in enumerate(zip(codes, columns, strict=True)):
                    if code[i] != OK:
                        self._kept.append((self._seen + i, position, int(code[i]), values[i].as_py()))
                        self._kept_codes.add(int(code[i]))
        for c in np.flatnonzero(in_block).tolist():
            first = self._first.setdefault(c, [])
            if len(first) >= 5 and c in self._kept_codes:
                continue
            has = [code == c for code in codes]
            rows = np.flatnonzero(bad & (has[0] | has[1] | has[2]))
            first.extend((rows[: 5 - len(first)] + self._seen).tolist())
            if c not in self._kept_codes:  # the file's first cell with this code
                i = int(rows[0])
                position = next(p for p in range(len(codes)) if has[p][i])
                self._kept.append((self._seen + i, position, c, columns[position][i].as_py()))
                self._kept_codes.add(c)

    def finish(self, mode: Aggregate, source: Source) -> IngestResult:
        self._formats.settle()
        self._release()
        numbering = _Numbering(source, self._first_row)
        context = _Context(self._limits, self._formats.date_format or DateFormat.ISO, self._formats.decimal or ".")
        errors = [numbering.cell_error(e, context) for e in self._kept]
        summary = _Summary()
        for c in np.flatnonzero(self._counts).tolist():
            summary.add(CODE_NAMES[c], int(self._counts[c]), numbering.rows(np.array(self._first[c])).tolist())
        field_errors = _field_count_errors(source, self._limits.max_errors)
        errors += field_errors
        summary.add(WRONG_FIELD_COUNT, len(source.bad_rows), [e.row or 0 for e in field_errors[:5]])
        self.rows_total += len(source.bad_rows)
        self.rows_rejected += len(source.bad_rows)
        key, qty, order = self._sorted_points()
        key, qty, group_errors, group_rejected = _settle_groups(
            key, qty, lambda: self._data_index(order), mode, numbering, self._limits
        )
        errors += group_errors
        if group_errors:
            summary.add(group_errors[0].code, group_rejected, [e.row or 0 for e in group_errors[:5]])
        self.rows_rejected += group_rejected
        self._check_skus(key)
        limit = self._limits.max_errors
        warnings = [*source.warnings, *self._formats.warnings]
        if self.rows_total and self.rows_rejected / self.rows_total > self._limits.max_rejected_share:
            too_many = RowError(
                None,
                None,
                TOO_MANY_REJECTED,
                f"{self.rows_rejected} of {self.rows_total} rows are invalid, more than "
                f"{self._limits.max_rejected_share:.0%}: nothing was written",
            )
            return IngestResult(
                IngestStatus.REJECTED,
                self.rows_total,
                0,
                self.rows_rejected,
                [too_many, *_select(errors, limit - 1)],
                warnings=warnings,
                error_summary=[ErrorCount(TOO_MANY_REJECTED, 1), *summary.counts()],
            )
        status = IngestStatus.PARTIAL if self.rows_rejected else IngestStatus.SUCCEEDED
        points = self._points(key, qty)
        return IngestResult(
            status,
            self.rows_total,
            self.rows_total - self.rows_rejected,
            self.rows_rejected,
            _select(errors, limit),
            points,
            warnings=warnings,
            error_summary=summary.counts(),
        )

    def _check_skus(self, key: np.ndarray) -> None:
        """Refuse the file when its accepted rows hold more distinct SKUs than one upload may
        store (before anything is stored; `key` is sorted, the SKU id in its high bits)."""
        limit = self._limits.max_skus
        if len(key) <= limit:
            return
        ids = key >> 32
        distinct = 1 + int(np.count_nonzero(ids[1:] != ids[:-1]))
        if distinct > limit:
            raise StructuralError(
                "too_many_skus",
                f"the file has {distinct:,} distinct SKUs; one upload stores at most {limit:,}: split the "
                "file by SKU (all rows of a SKU in the same part) and upload the parts one after another. "
                "Nothing was stored.",
            )

    def _data_index(self, order: np.ndarray | None) -> np.ndarray:
        parts = [np.arange(start, start + n) if rows is None else rows + start for start, rows, n in self._blocks]
        index = np.concatenate(parts) if parts else np.empty(0, np.int64)
        return index if order is None else index[order]

    def _sorted_points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Accepted points as one int64 key (global sku id, day), sorted, and the sort order."""
        if not self._sku_dicts or not any(len(a) for a in self._days):
            self._names = pa.array([], pa.string())
            return np.empty(0, np.int64), np.empty(0, np.float64), None
        # One dictionary over the per-block dictionaries gives every SKU one global id.
        unified = pc.dictionary_encode(pa.concat_arrays(self._sku_dicts))
        self._names = unified.dictionary
        remap = np.asarray(unified.indices).astype(np.int64)
        key = remap[np.concatenate(self._sku_idx)]
        key <<= 32
        key |= np.concatenate(self._days).astype(np.int64) + _DAY_BIAS
        qty = np.concatenate(self._qty)
        if len(key) > 1 and not bool(np.all(key[1:] >= key[:-1])):
            # Stable keeps file order inside a duplicate group, so messages cite the earlier row.
            order = np.argsort(key, kind="stable")
            return key[order], qty[order], order
        return key, qty, None

    def _points(self, key: np.ndarray, qty: np.ndarray) -> AcceptedPoints:
        if not len(key):
            return AcceptedPoints.empty()
        # Key is sorted, so each SKU's points start where its id << 32 would be inserted.
        bounds = np.searchsorted(key, np.arange(len(self._names) + 1, dtype=np.int64) << 32)
        present = np.flatnonzero(bounds[1:] > bounds[:-1])
        offsets = np.append(bounds[present], len(key)).astype(np.int64)
        first_ids = present
        skus = self._names.take(pa.array(first_ids)).to_pylist()
        dates = ((key & 0xFFFFFFFF) - _DAY_BIAS).view("datetime64[D]")
        return AcceptedPoints(skus, offsets, dates, qty)


def _column_order(column: str | None) -> int:
    return FIELDS.index(column) if column in FIELDS else len(FIELDS)


class _Numbering:
    """Maps a data index (position among the records the reader yielded) to the row number the
    user sees, accounting for the records the CSV reader skipped (wrong field count)."""

    def __init__(self, source: Source, first_row: int):
        skipped = np.sort(np.frombuffer(source.skipped, np.int64)) if len(source.skipped) else np.empty(0, np.int64)
        # gaps[j] = how many yielded records come before the j-th skipped one.
        self._gaps = skipped - first_row - np.arange(len(skipped))
        self._first_row = first_row

    def rows(self, index: np.ndarray) -> np.ndarray:
        return index + self._first_row + np.searchsorted(self._gaps, index, side="right")

    def row(self, index: int) -> int:
        return int(self.rows(np.array([index]))[0])

    def cell_error(self, kept: tuple[int, int, int, Any], context: _Context) -> RowError:
        index, position, code, value = kept
        column = FIELDS[position]
        return RowError(self.row(index), column, CODE_NAMES[code], _message(code, column, value, context))


@dataclass(frozen=True)
class _Context:
    """What messages cite: the limits and the file's formats."""

    limits: IngestLimits
    date_format: DateFormat
    decimal: str


def _message(code: int, column: str, value: Any, context: _Context) -> str:
    shown = _show(value)
    limits = context.limits
    decimal = " (the file's decimal separator is ',')" if context.decimal == "," else ""
    messages = {
        MISSING: f"{column} is empty or missing",
        SKU_TOO_LONG: f"sku is longer than {limits.max_sku_length} characters",
        SKU_CONTROL: f"sku {shown} contains a control character",
        SKU_FORMULA: f"sku {shown} starts with = + - or @ (spreadsheet formula)",
        DATE_INVALID: f"date {shown} is not a valid {context.date_format.value} date",
        DATE_HAS_TIME: f"date {shown} has a time of day: a daily date has no time, or midnight (00:00:00)",
        DATE_TOO_OLD: f"date {shown} is before {limits.min_date.isoformat()}",
        DATE_FUTURE: f"date {shown} is more than {limits.max_future_days} day(s) in the future",
        QTY_NOT_NUMBER: f"quantity {shown} is not a number{decimal}",
        QTY_NOT_FINITE: f"quantity {shown} is not a finite number",
        QTY_NEGATIVE: f"quantity {shown} is negative",
        QTY_OUT_OF_RANGE: f"quantity {shown} is out of range: 0, or from {QUANTITY_MIN:g} to {QUANTITY_MAX:g}",
    }
    return messages[code]


class _Summary:
    """Every error code over the file: exact count and first rows, merged across sources."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._rows: dict[str, list[int]] = {}

    def add(self, code: str, count: int, first_rows: list[int]) -> None:
        if count:
            self._counts[code] = self._counts.get(code, 0) + count
            self._rows[code] = sorted({*self._rows.get(code, []), *first_rows})[:5]

    def counts(self) -> list[ErrorCount]:
        """In order of each code's first row."""
        codes = sorted(self._counts, key=lambda c: (self._rows[c][:1], c))
        return [ErrorCount(c, self._counts[c], tuple(self._rows[c])) for c in codes]


def _select(errors: list[RowError], limit: int) -> list[RowError]:
    """At most `limit` errors in row order: the first of every code, then the earliest others."""
    errors = sorted(errors, key=lambda e: (e.row or 0, _column_order(e.column)))
    codes: set[str] = set()
    firsts = []
    for i, e in enumerate(errors):
        if e.code not in codes:
            codes.add(e.code)
            firsts.append(i)
    chosen = set(firsts[:limit])
    for i in range(len(errors)):
        if len(chosen) >= limit:
            break
        chosen.add(i)
    return [errors[i] for i in sorted(chosen)]


def _show(value: Any, width: int = 40) -> str:
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    text = text if len(text) <= width else text[: width - 1] + "…"
    return repr(text)  # repr escapes control characters so messages stay one clean line


def _field_count_errors(source: Source, limit: int) -> list[RowError]:
    rows = np.frombuffer(source.bad_rows, np.int64)
    counts = np.frombuffer(source.bad_counts, np.int64)
    first = np.argsort(rows, kind="stable")[:limit]
    return [
        RowError(int(rows[i]), None, WRONG_FIELD_COUNT, f"expected {len(FIELDS)} fields, found {int(counts[i])}")
        for i in first.tolist()
    ]


def _settle_groups(
    key: np.ndarray,
    qty: np.ndarray,
    index_of: Callable[[], np.ndarray],
    mode: Aggregate,
    numbering: _Numbering,
    limits: IngestLimits,
) -> tuple[np.ndarray, np.ndarray, list[RowError], int]:
    """Resolve rows sharing (sku, date): reject them all, or sum them. Input is sorted by key."""
    n = len(key)
    if n < 2:
        return key, qty, [], 0
    new_group = np.empty(n, bool)
    new_group[0] = True
    np.not_equal(key[1:], key[:-1], out=new_group[1:])
    if new_group.all():
        return key, qty, [], 0
    starts = np.flatnonzero(new_group)
    sizes = np.diff(np.append(starts, n))
    if mode is Aggregate.SUM:
        with np.errstate(over="ignore"):  # an overflowing sum is reported below, not warned
            sums = np.add.reduceat(qty, starts)
        flagged = ~(sums <= QUANTITY_MAX)  # every row is at most QUANTITY_MAX: the sum is finite
        code = CODE_NAMES[QTY_OUT_OF_RANGE]
        why = f"the sum of the rows for this sku and date is above {QUANTITY_MAX:g}"
    else:
        flagged = sizes > 1
        code, why = DUPLICATE_ROW, "another row has the same sku and date"
    in_flagged = np.repeat(flagged, sizes)
    errors = _group_errors(in_flagged, starts, index_of(), numbering, limits.max_errors, code, why)
    rejected = int(in_flagged.sum())
    if mode is Aggregate.SUM:
        keep = ~flagged
        return key[starts][keep], sums[keep] + 0.0, errors, rejected
    return key[~in_flagged], qty[~in_flagged], errors, rejected


def _group_errors(
    in_flagged: np.ndarray,
    starts: np.ndarray,
    index: np.ndarray,
    numbering: _Numbering,
    limit: int,
    code: str,
    why: str,
) -> list[RowError]:
    positions = np.flatnonzero(in_flagged)
    positions = positions[np.argsort(index[positions], kind="stable")][:limit]
    errors = []
    for p in positions.tolist():
        first = int(starts[np.searchsorted(starts, p, side="right") - 1])
        other = first + 1 if first == p else first
        message = f"{why} (row {numbering.row(int(index[other]))})"
        errors.append(RowError(numbering.row(int(index[p])), None, code, message))
    return errors


# --- column checks: each returns per-row values and an int8 code array -------------------------


def _blank_rows(batch: RawBatch, sku_code: np.ndarray) -> np.ndarray:
    """Indices of rows with every cell empty; only rows with a missing SKU can be blank."""
    candidates = np.flatnonzero(sku_code == MISSING)
    if not len(candidates):
        return candidates
    take = pa.array(candidates)
    empty = _empty(batch.date.take(take)) & _empty(batch.quantity.take(take))
    return candidates[empty]


def _codes_by_row(indices: pa.Array, per_value: np.ndarray) -> np.ndarray:
    """Spread per-dictionary-value codes to rows; a null row reads the trailing MISSING slot."""
    table = np.append(per_value, np.int8(MISSING))
    return table[np.asarray(pc.fill_null(indices, -1))]


def _check_skus(values: pa.Array, limits: IngestLimits) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    encoded = pc.dictionary_encode(values)
    names = encoded.dictionary  # kept as sent: " WS1 " is its own SKU, not "WS1"
    code = np.zeros(len(names), np.int8)
    if len(names):
        trimmed = pc.utf8_trim_whitespace(names)  # only to judge: blank, or a formula after spaces
        code[np.asarray(pc.match_substring_regex(trimmed, _FORMULA_RE))] = SKU_FORMULA
        code[np.asarray(pc.match_substring_regex(names, _CONTROL_RE))] = SKU_CONTROL
        lengths = np.asarray(pc.utf8_length(names))
        code[lengths > limits.max_sku_length] = SKU_TOO_LONG
        code[np.asarray(pc.utf8_length(trimmed)) == 0] = MISSING
    local = np.asarray(pc.fill_null(encoded.indices, 0))
    return local, names, _codes_by_row(encoded.indices, code)


def _check_dates(values: pa.Array, min_day: int, max_day: int, fmt: DateFormat) -> tuple[np.ndarray, np.ndarray]:
    if fmt is DateFormat.ISO and pa.types.is_string(values.type) and not values.null_count:
        # Arrow's string->date32 cast is exactly YYYY-MM-DD, as strict as _parse_dates: the fast path.
        with contextlib.suppress(pa.ArrowInvalid):
            values = pc.cast(values, pa.date32())
    if pa.types.is_date32(values.type):
        days = np.asarray(pc.fill_null(values.view(pa.int32()), 0))
        code = np.zeros(len(values), np.int8)
        if values.null_count:
            code[np.asarray(values.is_null())] = MISSING
    else:
        encoded = pc.dictionary_encode(values)
        distinct_days, distinct_code = _parse_dates(pc.utf8_trim_whitespace(encoded.dictionary), fmt)
        code = _codes_by_row(encoded.indices, distinct_code)
        days = np.append(distinct_days, np.int32(0))[np.asarray(pc.fill_null(encoded.indices, -1))]
    code[(code == OK) & (days < min_day)] = DATE_TOO_OLD
    code[(code == OK) & (days > max_day)] = DATE_FUTURE
    return days, code


def _parse_dates(values: pa.Array, fmt: DateFormat) -> tuple[np.ndarray, np.ndarray]:
    """Strict dates in `fmt`, with an optional time that must be midnight; vectorised over the
    (distinct) values. Arrow's strptime would roll 02-30 into March, so days are checked here."""
    n = len(values)
    days = np.zeros(n, np.int32)
    code = np.full(n, DATE_INVALID, np.int8)
    if not n:
        return days, code
    lengths = np.asarray(pc.fill_null(pc.binary_length(values), 0))
    code[lengths == 0] = MISSING
    parts = pc.extract_regex(values, _DATE_PARTS[fmt] + _TIME_PART)
    shaped = np.asarray(pc.fill_null(parts.is_valid(), False))
    if not shaped.any():
        return days, code

    def number(name: str) -> np.ndarray:
        return np.asarray(pc.fill_null(pc.cast(pc.struct_field(parts, name), pa.int32()), 0))

    year, month, day = number("y"), number("m"), number("d")
    time = pc.struct_field(parts, "t")
    has_time = np.asarray(pc.fill_null(pc.binary_length(time), 0)) > 0
    midnight = _matches(time, _MIDNIGHT_RE)
    month_ok = (month >= 1) & (month <= 12)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    last_day = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    valid = shaped & month_ok & (day >= 1) & (day <= last_day)
    months = ((year - 1970) * 12 + np.where(month_ok, month, 1) - 1).astype("datetime64[M]")
    ordinal = (months.astype("datetime64[D]") - _EPOCH).astype(np.int64) + day - 1
    days[valid] = ordinal[valid]
    code[valid] = OK
    code[valid & has_time & ~midnight] = DATE_HAS_TIME
    return days, code


def _check_quantities(values: pa.Array, decimal: str = ".") -> tuple[np.ndarray, np.ndarray]:
    not_number = None
    if pa.types.is_string(values.type):
        parse = values
        if decimal == ",":
            # `1.5` under a decimal comma may be a thousands separator: not a number, never 1.5.
            dotted = pc.match_substring(values, ".")
            parse = pc.if_else(dotted, pa.scalar("not a number"), pc.replace_substring(values, ",", "."))
        try:
            floats = pc.cast(parse, pa.float64())
        except pa.ArrowInvalid:
            floats, not_number = _cast_lenient(parse)
    else:
        floats = values
    qty = np.asarray(pc.fill_null(floats, np.nan), dtype=np.float64) + 0.0  # -0.0 becomes 0.0
    code = np.zeros(len(values), np.int8)
    # 0 or within the bounds rules out NaN, negatives and infinities too.
    with np.errstate(invalid="ignore"):
        fine = (qty == 0) | ((qty >= QUANTITY_MIN) & (qty <= QUANTITY_MAX))
    if bool(fine.all()):
        return qty, code
    with np.errstate(invalid="ignore"):
        code[~fine & (qty > 0)] = QTY_OUT_OF_RANGE
        code[qty < 0] = QTY_NEGATIVE
    code[~np.isfinite(qty)] = QTY_NOT_FINITE
    if not_number is not None:
        code[not_number] = QTY_NOT_NUMBER
    code[_empty(values)] = MISSING
    return qty, code


def _empty(values: pa.Array) -> np.ndarray:
    if pa.types.is_string(values.type):
        return np.asarray(pc.fill_null(pc.binary_length(pc.utf8_trim_whitespace(values)), 0)) == 0
    return np.asarray(values.is_null())


def _cast_lenient(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """The slow path, only for blocks with a bad quantity: trim, keep what looks numeric, cast."""
    trimmed = pc.utf8_trim_whitespace(values)
    looks = pc.or_(
        pc.match_substring_regex(trimmed, _NUMBER_RE),
        pc.match_substring_regex(trimmed, _NON_FINITE_RE, ignore_case=True),
    )
    looks = pc.fill_null(looks, False)
    candidates = pc.if_else(looks, trimmed, pa.scalar(None, pa.string()))
    try:
        floats = pc.cast(candidates, pa.float64())
    except pa.ArrowInvalid:
        floats = _cast_halves(candidates)
    not_number = ~np.asarray(looks) | np.asarray(pc.and_(looks, floats.is_null()))
    return floats, not_number


def _cast_halves(values: pa.Array) -> pa.Array:
    """Safety net if the regex lets through what Arrow refuses: bisect to the refused cells."""
    try:
        return pc.cast(values, pa.float64())
    except pa.ArrowInvalid:
        if len(values) == 1:
            return pa.array([None], pa.float64())
        half = len(values) // 2
        return pa.concat_arrays([_cast_halves(values[:half]), _cast_halves(values[half:])])
