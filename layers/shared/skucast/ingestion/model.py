"""Value types of the ingestion domain: limits in, report and accepted points out.

Row numbers (`RowError.row`) follow what a spreadsheet shows for a file: the header is row 1, the
first data row is row 2, and every record counts (blank lines included), so for ordinary files it is
the line number an editor shows. A quoted value spanning lines is one row. For JSON records the row
is the 1-based position in the `records` array, and for Parquet the 1-based row position (no
header). File-level problems carry `row=None` (or 1 when the header is at fault).

Codes. Row level (status PARTIAL, or REJECTED over the threshold): missing_value, sku_too_long,
sku_control_character, sku_formula, date_invalid, date_has_time (a date-time that is not
midnight), date_too_old, date_in_future, quantity_not_number, quantity_not_finite,
quantity_negative, quantity_out_of_range (not 0 and not within 1e-6..1e15, or a sum of
duplicate rows above 1e15: validate.py says why), duplicate_row, wrong_field_count.
File level (REJECTED, nothing written): empty_file, not_utf8, binary_content, unsupported_format,
file_too_large, decompressed_too_large, corrupt_compression, line_too_long, unreadable_file,
missing_header, missing_columns, duplicate_columns, unsupported_delimiter (the header is one
column under the delimiter used), invalid_parquet, wrong_column_type, too_many_rows,
too_many_skus (more distinct SKUs among the accepted rows than `max_skus`: one upload's merge
must finish within one ingest invocation), too_many_records, invalid_record, extra_columns (JSON
records only: a file's extra columns are ignored with a warning), too_many_rejected_rows (listed
first, followed by the row errors that caused it).
Warnings (the upload went ahead; `IngestResult.warnings`): extra_columns_ignored,
date_format_assumed.

The report keeps the first `max_errors` errors in row order, but always with the first occurrence
of every code among them, and `error_summary` gives every code with its exact count and first rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np


class IngestStatus(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"
    REJECTED = "REJECTED"


class Aggregate(StrEnum):
    REJECT = "reject"
    SUM = "sum"


class DateFormat(StrEnum):
    ISO = "YYYY-MM-DD"
    DMY_SLASH = "DD/MM/YYYY"
    MDY_SLASH = "MM/DD/YYYY"
    DMY_DOT = "DD.MM.YYYY"
    YMD_SLASH = "YYYY/MM/DD"


DELIMITERS = (",", ";", "\t", "|")
DECIMALS = (".", ",")


@dataclass(frozen=True)
class ReadOptions:
    """How a file is written, as the upload declared it; None means detect it from the file
    (how: reader.py and validate.py). The default detects everything."""

    delimiter: str | None = None
    decimal: str | None = None
    date_format: DateFormat | None = None

    def __post_init__(self) -> None:
        if self.delimiter is not None and self.delimiter not in DELIMITERS:
            raise ValueError(f"unsupported delimiter {self.delimiter!r}")
        if self.decimal is not None and self.decimal not in DECIMALS:
            raise ValueError(f"unsupported decimal separator {self.decimal!r}")
        if self.date_format is not None:
            object.__setattr__(self, "date_format", DateFormat(self.date_format))


@dataclass(frozen=True)
class IngestLimits:
    """Everything configurable; the service builds it from settings (the domain reads no env)."""

    max_raw_bytes: int = 100 * 1024 * 1024
    max_decompressed_bytes: int = 512 * 1024 * 1024
    # Bounds the memory of the accepted points (about 20 bytes a row) whatever the file size.
    max_rows: int = 5_000_000
    # Distinct SKUs one upload may store: its merge writes an item per SKU, one round of 98 at a
    # time, and must end within one IngestFunction invocation (services build it from settings).
    max_skus: int = 500_000
    max_records: int = 10_000
    # One CSV line (and the header) must fit in one reader block.
    max_line_bytes: int = 1024 * 1024
    max_rejected_share: float = 0.10
    # "today + 1" tolerates tenants ahead of UTC (UTC+14) reporting their own today.
    max_future_days: int = 1
    min_date: dt.date = dt.date(1900, 1, 1)
    max_sku_length: int = 128
    max_errors: int = 100


@dataclass(frozen=True)
class RowError:
    row: int | None
    column: str | None
    code: str
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "column": self.column, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class IngestWarning:
    """Something the upload went ahead despite (extra columns ignored, a date format assumed)."""

    code: str
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class ErrorCount:
    """One error code over the whole file: how many times it occurred, and its first rows (up to
    5, ascending; empty for a file-level error without a row)."""

    code: str
    count: int
    first_rows: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "count": self.count, "first_rows": list(self.first_rows)}


def summarise(errors: list[RowError]) -> list[ErrorCount]:
    """The summary of a list of errors taken whole (exact when nothing was left out of it)."""
    found: dict[str, list[int]] = {}
    counts: dict[str, int] = {}
    for e in errors:
        counts[e.code] = counts.get(e.code, 0) + 1
        rows = found.setdefault(e.code, [])
        if e.row is not None and e.row not in rows:
            rows.append(e.row)
    return [ErrorCount(code, n, tuple(sorted(found[code])[:5])) for code, n in counts.items()]


class UploadCounts(Protocol):
    """What an upload report is made of (a demand, drivers or attributes ingest result)."""

    @property
    def status(self) -> IngestStatus: ...
    @property
    def rows_total(self) -> int: ...
    @property
    def rows_accepted(self) -> int: ...
    @property
    def rows_rejected(self) -> int: ...
    @property
    def skus_touched(self) -> int: ...
    @property
    def errors(self) -> list[RowError]: ...


def upload_report(
    result: UploadCounts, summary: list[ErrorCount], warnings: Iterable[IngestWarning] = ()
) -> dict[str, object]:
    """The upload report fields of the HTTP contract."""
    return {
        "status": result.status.value,
        "rows_total": result.rows_total,
        "rows_accepted": result.rows_accepted,
        "rows_rejected": result.rows_rejected,
        "skus_touched": result.skus_touched,
        "errors": [e.as_dict() for e in result.errors],
        "error_summary": [c.as_dict() for c in summary],
        "warnings": [w.as_dict() for w in warnings],
    }


@dataclass(frozen=True)
class SkuPoints:
    """One SKU's accepted points: dates ascending and unique, `datetime64[D]`; quantities float64."""

    dates: np.ndarray
    quantities: np.ndarray

    def to_dict(self) -> dict[dt.date, float]:
        return dict(zip(self.dates.astype(object), self.quantities.tolist(), strict=True))


class AcceptedPoints(Mapping[str, SkuPoints]):
    """Columnar store of every accepted point, sorted by (sku, date): one array per column plus
    offsets, so 1,000,000 points cost ~12 bytes each instead of a dict entry each. Lookups return
    views, not copies."""

    def __init__(self, skus: list[str], offsets: np.ndarray, dates: np.ndarray, quantities: np.ndarray):
        self._skus = skus
        self._index = {sku: i for i, sku in enumerate(skus)}
        self._offsets = offsets
        self.dates = dates
        self.quantities = quantities

    @classmethod
    def empty(cls) -> AcceptedPoints:
        return cls([], np.zeros(1, np.int64), np.empty(0, "datetime64[D]"), np.empty(0, np.float64))

    def __getitem__(self, sku: str) -> SkuPoints:
        i = self._index[sku]
        lo, hi = int(self._offsets[i]), int(self._offsets[i + 1])
        return SkuPoints(self.dates[lo:hi], self.quantities[lo:hi])

    def __iter__(self) -> Iterator[str]:
        return iter(self._skus)

    def __len__(self) -> int:
        return len(self._skus)

    def to_dict(self) -> dict[str, dict[dt.date, float]]:
        return {sku: self[sku].to_dict() for sku in self._skus}


@dataclass(frozen=True)
class IngestResult:
    status: IngestStatus
    rows_total: int = 0
    rows_accepted: int = 0
    # Rows that failed validation. When the file is REJECTED nothing is written, so
    # rows_accepted is 0 and rows_total - rows_rejected valid rows were discarded with it.
    rows_rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    points: AcceptedPoints = field(default_factory=AcceptedPoints.empty)
    warnings: list[IngestWarning] = field(default_factory=list)
    # Every error code with its exact count; empty means "summarise `errors`" (file-level results).
    error_summary: list[ErrorCount] = field(default_factory=list)

    @property
    def skus_touched(self) -> int:
        return len(self.points)

    def report(self) -> dict[str, object]:
        """The upload report fields of the HTTP contract."""
        return upload_report(self, self.error_summary or summarise(self.errors), self.warnings)


class StructuralError(Exception):
    """The file as a whole is unusable: REJECTED, nothing written."""

    def __init__(self, code: str, message: str, row: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.row = row

    def to_result(self) -> IngestResult:
        return IngestResult(IngestStatus.REJECTED, errors=[RowError(self.row, None, self.code, self.message)])
