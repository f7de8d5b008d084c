"""The file door the side uploads share (drivers, attributes; pure, no AWS): a CSV read whole
within size limits (gzip inflated, UTF-8 decoded), its header's delimiter found, its rows fed to
the caller's checks, and the verdict on the rows (repeated keys, the rejected share, which errors
the report keeps).

Demand files have their own streaming reader (reader.py, pyarrow): they can be far larger than
what these files are allowed to be, which is held in memory while it is validated.
"""

from __future__ import annotations

import csv
import io
import zlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import IO, Any, Generic, TypeVar

from skucast.ingestion.model import DELIMITERS, IngestStatus, RowError, summarise, upload_report


@dataclass(frozen=True)
class FileLimits:
    max_raw_bytes: int = 64 * 1024 * 1024  # the whole file is held while it is validated
    max_decompressed_bytes: int = 128 * 1024 * 1024
    max_rows: int = 500_000
    max_skus: int = 500_000
    max_rejected_share: float = 0.10
    max_errors: int = 100


@dataclass
class FileIngestResult:
    """What a side upload's validation says; subclasses add the accepted `values`."""

    status: IngestStatus
    rows_total: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    all_errors: list[RowError] = field(default_factory=list)

    @property
    def skus_touched(self) -> int:
        raise NotImplementedError

    def report(self) -> dict[str, object]:
        """The upload report of the HTTP contract (the same fields as a demand upload's)."""
        return upload_report(self, summarise(self.all_errors or self.errors))


R = TypeVar("R", bound=FileIngestResult)
K = TypeVar("K", bound=Hashable)
C = TypeVar("C")


def refusal(result_type: type[R], code: str, message: str, row: int | None = None, column: str | None = None) -> R:
    """A file-level refusal: nothing stored."""
    return result_type(IngestStatus.REJECTED, errors=[RowError(row, column, code, message)])


def read_text(stream: IO[bytes], limits: FileLimits, noun: str, result_type: type[R]) -> str | R:
    """The file's text, or why it is refused; `noun` names what the file holds ("drivers")."""
    raw = stream.read(limits.max_raw_bytes + 1)
    if len(raw) > limits.max_raw_bytes:
        return refusal(result_type, "file_too_large", f"the file is larger than {limits.max_raw_bytes} bytes")
    if raw.startswith(b"\x1f\x8b"):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(raw, limits.max_decompressed_bytes + 1)
        except zlib.error:
            return refusal(result_type, "corrupt_compression", "the gzip stream is corrupt")
        if len(raw) > limits.max_decompressed_bytes or inflater.unconsumed_tail:
            return refusal(result_type, "decompressed_too_large", "the file inflates past its limit")
    if raw.startswith(b"PAR1"):
        return refusal(result_type, "unsupported_format", f"{noun} are read from CSV files only (not Parquet) for now")
    if not raw.strip():
        return refusal(result_type, "empty_file", "the file is empty")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return refusal(result_type, "not_utf8", "the file is not UTF-8 text")


def split_header(text: str, accepts: Callable[[list[str]], bool]) -> tuple[str, str | None, list[str]]:
    """(the header line, the first delimiter under which `accepts` the lower-cased column names,
    the names stripped); the delimiter is None when none does."""
    first = text.split("\n", 1)[0].rstrip("\r")
    for delimiter in DELIMITERS:
        names = [n.strip() for n in next(csv.reader([first], delimiter=delimiter))]
        if accepts([n.lower() for n in names]):
            return first, delimiter, names
    return first, None, []


def repeated_columns(lowered: list[str], result_type: type[R]) -> R | None:
    if len(set(lowered)) == len(lowered):
        return None
    twice = sorted({c for c in lowered if lowered.count(c) > 1})
    return refusal(result_type, "duplicate_columns", f"columns named more than once: {', '.join(twice)}", row=1)


class RowCollector(Generic[K, C]):
    """Rows as they are checked: the errors, the rejected rows, and the accepted ones by key."""

    def __init__(self, limits: FileLimits) -> None:
        self.limits = limits
        self.rows_total = 0
        self.errors: list[RowError] = []
        self.bad_rows: set[int] = set()
        self.rows_of: dict[K, list[int]] = {}
        self.cells: dict[int, C] = {}

    def unreadable(self, row: int, code: str, message: str) -> None:
        """A row that cannot be checked at all (not an object, the wrong number of fields)."""
        self.rows_total += 1
        self.errors.append(RowError(row, None, code, message))
        self.bad_rows.add(row)

    def reject(self, row: int, row_errors: list[RowError]) -> None:
        self.errors.extend(row_errors)
        self.bad_rows.add(row)

    def keep(self, row: int, key: K, cells: C) -> None:
        self.rows_of.setdefault(key, []).append(row)
        self.cells[row] = cells

    def drop_repeats(self, column: str, code: str, message: Callable[[K, int], str]) -> None:
        """Every row of a key sent more than once is rejected: we cannot tell which is right."""
        for key, rows in self.rows_of.items():
            if len(rows) > 1:
                for row in rows:
                    self.errors.append(RowError(row, column, code, message(key, len(rows))))
                    self.bad_rows.add(row)
                    del self.cells[row]

    def verdict(self, result_type: type[R]) -> tuple[list[RowError], R | None]:
        """The errors the report keeps, and the REJECTED result when too many rows were rejected."""
        rejected_rows = len(self.bad_rows)
        self.errors.sort(key=lambda e: (e.row or 0, e.column or ""))
        kept = select_errors(self.errors, self.limits.max_errors)
        if not (self.rows_total and rejected_rows > self.limits.max_rejected_share * self.rows_total):
            return kept, None
        head = RowError(
            None,
            None,
            "too_many_rejected_rows",
            f"{rejected_rows} of {self.rows_total} rows were rejected "
            f"(more than {self.limits.max_rejected_share:.0%}): nothing was stored",
        )
        too_many = result_type(
            IngestStatus.REJECTED,
            self.rows_total,
            0,
            rejected_rows,
            [head, *kept][: self.limits.max_errors],
            all_errors=[head, *self.errors],
        )
        return kept, too_many

    def too_many_skus(self, skus: int, result_type: type[R]) -> R | None:
        if skus <= self.limits.max_skus:
            return None
        return refusal(
            result_type, "too_many_skus", f"{skus} SKUs in one upload; at most {self.limits.max_skus}: split the file"
        )

    def counted(self, result_type: type[R], kept: list[RowError], **values: Any) -> R:
        """The result of the rows collected: SUCCEEDED, or PARTIAL when some were rejected."""
        rejected_rows = len(self.bad_rows)
        status = IngestStatus.PARTIAL if rejected_rows else IngestStatus.SUCCEEDED
        accepted = self.rows_total - rejected_rows
        return result_type(
            status, self.rows_total, accepted, rejected_rows, kept, all_errors=list(self.errors), **values
        )


def select_errors(errors: list[RowError], limit: int) -> list[RowError]:
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


def collect_rows(
    text: str,
    delimiter: str,
    width: int,
    collector: RowCollector[K, C],
    result_type: type[R],
    add: Callable[[int, list[str]], None],
) -> R | None:
    """Feeds each data row to `add(row, cells)`; a refusal when the file cannot be read or is too long.
    Rows are numbered as a spreadsheet shows them: the header is row 1 (a quoted value spanning
    lines: its last line); a blank line is not a row."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    next(reader)
    try:
        for cells in reader:
            row = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if collector.rows_total >= (max_rows := collector.limits.max_rows):
                return refusal(result_type, "too_many_rows", f"more than {max_rows} rows: split the file")
            if len(cells) != width:
                collector.unreadable(row, "wrong_field_count", f"{len(cells)} fields where the header has {width}")
                continue
            add(row, cells)
    except csv.Error as exc:
        return refusal(result_type, "unreadable_file", f"the CSV cannot be read: {exc}")
    return None
