"""Streaming readers: a binary stream in, batches of (sku, date, quantity) Arrow arrays out.

The format is decided by content, never by name: `PAR1` is Parquet, `1f 8b` is gzip (its content
must then be CSV), anything else is CSV. CSV columns are read as strings so that a bad value
becomes a row error in the validator rather than a reader crash; Parquet keeps its types, which
are checked here. Everything unusable about the file as a whole raises `StructuralError`.

The CSV delimiter is the upload's declared one, else it is detected once, on the header line:
of `,` `;` TAB `|` (in that order), the first under which the header names all three required
columns; if none does, the one that splits the header into the most fields (the first of them on
a tie), so that the error names the columns the file most likely has. Decimal separator and date
format are decided in the validator (validate.py). Columns other than the three required ones are
not converted at all, and are reported as a warning (`extra_columns_ignored`).

Parquet SKUs may be text or integers (`123` becomes the SKU "123"); dates text, date32 or
timestamps (midnight only: a time of day is the row error `date_has_time`).

Memory stays bounded by the block size: the stream is read in blocks of `max_line_bytes` (pyarrow
reads about ten blocks ahead, so ~20 MB in flight at the 1 MiB default), gzip is inflated a block
at a time, and the byte counters below stop a gzip bomb or an oversized stream as soon as it
crosses its limit.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import shutil
import tempfile
import zlib
from array import array
from collections.abc import Generator
from dataclasses import dataclass
from typing import IO, Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from skucast.ingestion.model import (
    DELIMITERS,
    DateFormat,
    IngestLimits,
    IngestWarning,
    ReadOptions,
    StructuralError,
)

FIELDS = ("sku", "date", "quantity")
ALIASES = {
    "sku": "sku",
    "unique_id": "sku",
    "date": "date",
    "ds": "date",
    "quantity": "quantity",
    "y": "quantity",
}

_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"
_PARQUET_BATCH_ROWS = 65_536
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
_DATE_LIKE = re.compile(r"^\s*(\d{4}[-/]\d{1,2}[-/]\d{1,2}|\d{1,2}[./]\d{1,2}[./]\d{4})\s*$")
_DELIMITER_NAMES = {",": "','", ";": "';'", "\t": "TAB", "|": "'|'"}
# The header is split with the csv module, whose per-field limit (128 KiB by default) a header under
# max_line_bytes may exceed (split at the wrong delimiter, it is one field): lift it, for the
# process (there is no per-reader setting), to what any header line can hold.
_MAX_HEADER_FIELD = 1 << 30
if csv.field_size_limit() < _MAX_HEADER_FIELD:
    csv.field_size_limit(_MAX_HEADER_FIELD)


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes | None: ...


@dataclass(frozen=True)
class RawBatch:
    """Columns of one block. `sku` is a string array; `date` string or date32; `quantity` string
    or float64. `skip_blank`: rows whose every cell is empty are ignored, not counted (CSV)."""

    sku: pa.Array
    date: pa.Array
    quantity: pa.Array
    skip_blank: bool = False

    def __len__(self) -> int:
        return len(self.sku)


class _CountingReader(io.RawIOBase):
    """Passes reads through and raises once more than `limit` bytes came out."""

    def __init__(self, inner: Readable, limit: int, code: str, message: str):
        self._inner = inner
        self._limit = limit
        self._error = (code, message)
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        # One byte beyond the limit is enough to know it is crossed; never ask for more.
        want = min(len(buffer), self._limit - self.count + 1)
        data = self._inner.read(want) or b""
        n = len(data)
        buffer[:n] = data
        self.count += n
        if self.count > self._limit:
            raise StructuralError(*self._error)
        return n


class _Prefixed(io.RawIOBase):
    """Replays bytes already read (for sniffing) before the rest of the stream."""

    def __init__(self, prefix: bytes, rest: Readable):
        self._prefix = memoryview(prefix)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(buffer)) or b""
        buffer[: len(data)] = data
        return len(data)


def _read_up_to(stream: Readable, n: int) -> bytes:
    chunks: list[bytes] = []
    got = 0
    while got < n:
        chunk = stream.read(n - got) or b""
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def resolve_columns(names: list[str], delimiter: str | None = None) -> tuple[dict[str, str], list[str]]:
    """Map each required field to the file's column name, and list the other columns (ignored);
    raise on any structural problem.

    Names match case-insensitively after trimming spaces. Two columns giving one field are an
    error (which one is meant cannot be told); a missing one too. `delimiter`: the CSV's, for the
    message when the header is one column because the file is separated by something else."""
    normalised = [name.strip().lower() for name in names]
    found: dict[str, str] = {}
    extra: list[str] = []
    for name, norm in zip(names, normalised, strict=True):
        field = ALIASES.get(norm)
        if field is None:
            extra.append(name)
        elif field in found:
            raise StructuralError(
                "duplicate_columns", f"columns {found[field]!r} and {name!r} both give {field!r}", row=1
            )
        else:
            found[field] = name
    missing = [f for f in FIELDS if f not in found]
    if missing and any(_DATE_LIKE.match(name) for name in names):
        raise StructuralError("missing_header", "the first row is data: add the header sku,date,quantity", row=1)
    if missing and delimiter is not None and len(names) == 1 and re.search(r"[^\w]", names[0].strip()):
        raise StructuralError(
            "unsupported_delimiter",
            f"the header is a single column when split at {_DELIMITER_NAMES[delimiter]}: separate the "
            "columns with ',' ';' TAB or '|' (or declare the delimiter on the upload)",
            row=1,
        )
    if missing:
        raise StructuralError("missing_columns", f"missing required columns: {', '.join(missing)}", row=1)
    return found, extra


def extra_columns_warning(extra: list[str]) -> list[IngestWarning]:
    if not extra:
        return []
    shown = ", ".join(_excerpt(e) if e else '""' for e in extra[:5])
    more = f" and {len(extra) - 5} more" if len(extra) > 5 else ""
    return [IngestWarning("extra_columns_ignored", f"Ignored columns: {shown}{more}")]


def choose_delimiter(header: str) -> str:
    """The header's delimiter (see the module docstring): deterministic, from the header alone."""
    splits = {d: next(csv.reader([header], delimiter=d)) for d in DELIMITERS}
    for delimiter, names in splits.items():
        if {ALIASES.get(n.strip().lower()) for n in names} >= set(FIELDS):
            return delimiter
    return max(DELIMITERS, key=lambda d: len(splits[d]))  # max keeps the first of equals


def _excerpt(value: str, width: int = 40) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


class Source:
    """What the validator consumes: batches, the row number of the first data row, and (CSV
    only) the record numbers pyarrow skipped because of a wrong field count. Also what the file
    told about its format: the decimal separator when it is settled by the source (None: detect
    it from the quantities), the date format assumed when slash dates are ambiguous (and why),
    and warnings."""

    first_row = 1
    decimal: str | None = "."
    ambiguous_dates = DateFormat.DMY_SLASH
    ambiguous_why = "Parquet files"

    def __init__(self) -> None:
        self.skipped = array("q")  # record numbers not yielded as rows (for row numbering)
        self.bad_rows = array("q")  # the subset that are errors (wrong field count)
        self.bad_counts = array("q")  # their field counts, for the message
        self.warnings: list[IngestWarning] = []

    def batches(self) -> Generator[RawBatch, None, None]:
        raise NotImplementedError


def open_source(stream: IO[bytes], limits: IngestLimits, options: ReadOptions | None = None) -> Source:
    options = options or ReadOptions()
    start = stream.tell() if _seekable(stream) else None
    raw = _CountingReader(
        stream,
        limits.max_raw_bytes,
        "file_too_large",
        f"the file is larger than {limits.max_raw_bytes} bytes",
    )
    head = _read_up_to(raw, 4)
    if not head:
        raise StructuralError("empty_file", "the file is empty")
    if head == _PARQUET_MAGIC:
        return _ParquetSource(_seekable_copy(stream, start, head, raw, limits), limits, options)
    content: Readable = _Prefixed(head, raw)
    if head.startswith(_GZIP_MAGIC):
        content = _CountingReader(
            _SafeGzip(_Prefixed(head, raw)),
            limits.max_decompressed_bytes,
            "decompressed_too_large",
            f"the file inflates to more than {limits.max_decompressed_bytes} bytes",
        )
    return _CsvSource(content, limits, options)


def _seekable(stream: IO[bytes]) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _seekable_copy(
    stream: IO[bytes], start: int | None, head: bytes, raw: _CountingReader, limits: IngestLimits
) -> IO[bytes]:
    """Parquet needs random access (its footer is at the end): use the stream if it can seek,
    else spool it (memory first, then a temp file)."""
    if start is not None:
        size = stream.seek(0, io.SEEK_END) - start
        if size > limits.max_raw_bytes:
            raise StructuralError("file_too_large", f"the file is larger than {limits.max_raw_bytes} bytes")
        stream.seek(start)
        return stream
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - owned by the source
    spool.write(head)
    shutil.copyfileobj(raw, spool, 1024 * 1024)
    spool.seek(0)
    return spool


class _CsvSource(Source):
    first_row = 2  # the header is row 1

    def __init__(self, content: Readable, limits: IngestLimits, options: ReadOptions):
        super().__init__()
        self._limits = limits
        prefix = self._read_header_block(content, limits.max_line_bytes)
        header = self._check_header(prefix)
        self.delimiter = options.delimiter or choose_delimiter(header)
        self._names = next(csv.reader([header], delimiter=self.delimiter))
        self._columns, extra = resolve_columns(self._names, self.delimiter)
        self.warnings = extra_columns_warning(extra)
        # A decimal comma is only detected where a comma cannot be the delimiter.
        self.decimal = options.decimal or ("." if self.delimiter == "," else None)
        # Slash dates that fit both orders: US order for comma files, day first otherwise.
        self.ambiguous_dates = DateFormat.MDY_SLASH if self.delimiter == "," else DateFormat.DMY_SLASH
        self.ambiguous_why = f"{_DELIMITER_NAMES[self.delimiter]}-separated files"
        self._stream = _Prefixed(prefix, content)

    @staticmethod
    def _read_header_block(content: Readable, max_line: int) -> bytes:
        """Read until the end of the header line (or EOF), in chunks, at most `max_line` bytes."""
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = content.read(64 * 1024) or b""
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if b"\n" in chunk or b"\r" in chunk:
                break
            if size > max_line:
                raise StructuralError("line_too_long", f"the header is longer than {max_line} bytes", row=1)
        return b"".join(chunks)

    @staticmethod
    def _check_header(prefix: bytes) -> str:
        if not prefix:
            raise StructuralError("empty_file", "the file is empty")
        if prefix.startswith(_UTF16_BOMS):
            raise StructuralError("not_utf8", "the file is UTF-16: save it as UTF-8 CSV")
        if prefix.startswith(_ZIP_MAGIC):
            raise StructuralError("unsupported_format", "this looks like an Excel/ZIP file: export it as CSV")
        if prefix.startswith(_PARQUET_MAGIC):
            raise StructuralError("unsupported_format", "gzip-compressed Parquet is not supported")
        line = re.split(rb"[\r\n]", prefix.removeprefix(_UTF8_BOM), maxsplit=1)[0]
        if b"\x00" in line:
            raise StructuralError("binary_content", "the file is binary, not a CSV text file", row=1)
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise StructuralError("not_utf8", "the header is not valid UTF-8", row=1) from None
        if not text.strip():
            raise StructuralError("missing_header", "the first line is empty: expected sku,date,quantity", row=1)
        return text

    def batches(self) -> Generator[RawBatch, None, None]:
        reader = None
        wanted = [self._columns[f] for f in FIELDS]
        guard = _LineGuard(self._stream, self._limits.max_line_bytes)
        try:
            reader = pacsv.open_csv(
                # Arrow takes a short read for the end of the file; BufferedReader fills every read.
                io.BufferedReader(guard, buffer_size=64 * 1024),
                read_options=pacsv.ReadOptions(use_threads=False, block_size=self._limits.max_line_bytes),
                # newlines_in_values: a quoted value spanning lines must stay one row whatever the
                # block boundaries. use_threads=False: pyarrow then reports skipped row numbers.
                parse_options=pacsv.ParseOptions(
                    delimiter=self.delimiter,
                    newlines_in_values=True,
                    ignore_empty_lines=False,
                    invalid_row_handler=self._on_invalid_row,
                ),
                # Only the three columns are converted (to strings): extra ones cost no conversion.
                convert_options=pacsv.ConvertOptions(
                    include_columns=wanted, column_types=dict.fromkeys(wanted, pa.string())
                ),
            )
            if reader.schema.names != wanted:
                raise StructuralError("unreadable_file", "the header could not be read consistently", row=1)
            for record_batch in reader:
                yield self._to_raw(record_batch)
            if guard.too_long:
                raise StructuralError("line_too_long", "a line is longer than the maximum line length")
        except pa.ArrowInvalid as exc:
            raise _csv_error(exc) from None
        finally:
            if reader is not None:
                # Stops pyarrow's read-ahead (about ten blocks) from touching the stream later.
                reader.close()

    def _to_raw(self, batch: pa.RecordBatch) -> RawBatch:
        sku = batch.column(self._columns["sku"])
        date = batch.column(self._columns["date"])
        quantity = batch.column(self._columns["quantity"])
        # Blank lines (and spreadsheet rows of empty cells) are not data: skip them, count them not.
        return RawBatch(sku, date, quantity, skip_blank=True)

    def _on_invalid_row(self, row: Any) -> str:
        number = row.number if row.number is not None else -1
        self.skipped.append(number)
        if row.text.strip(" \t\r\n" + self.delimiter):
            self.bad_rows.append(number)
            self.bad_counts.append(row.actual_columns)
        return "skip"


class _LineGuard(io.RawIOBase):
    """Ends the stream, as far as pyarrow can tell, where a line grows past `limit` bytes.

    pyarrow meets such a line as a parse error with its read-ahead still running, and a read-ahead
    that outlives the closed reader crashed the process later (a segfault in the next ingest). Cut
    short here, pyarrow reaches a clean end of file, and the caller rejects the file itself.
    """

    def __init__(self, inner: Readable, limit: int):
        self._inner = inner
        self._limit = limit - 1  # the longest line pyarrow will be shown, newline excluded
        self._run = 0  # bytes since the last newline
        self.too_long = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.too_long:
            return 0
        data = self._inner.read(len(buffer)) or b""
        cut = self._cut(data)
        if cut is not None:
            data, self.too_long = data[:cut], True
        buffer[: len(data)] = data
        return len(data)

    def _cut(self, data: bytes) -> int | None:
        """Where `data` must end so that no line exceeds the limit (None: it may pass whole)."""
        newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
        starts = np.concatenate(([-self._run - 1], newlines))  # position before each line's first byte
        ends = np.concatenate((newlines, [len(data)]))
        over = np.flatnonzero(ends - starts - 1 > self._limit)
        self._run = len(data) - 1 - int(newlines[-1]) if len(newlines) else self._run + len(data)
        if not len(over):
            return None
        return int(starts[over[0]]) + 1 + self._limit


class _SafeGzip(io.RawIOBase):
    """Inflates a bounded amount per read; turns a corrupt or truncated stream into a rejection."""

    def __init__(self, compressed: io.RawIOBase):
        self._gzip = gzip.GzipFile(fileobj=compressed, mode="rb")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._gzip.read(len(buffer))
        except (OSError, EOFError, zlib.error):
            raise StructuralError("corrupt_compression", "the gzip data is corrupt or truncated") from None
        buffer[: len(data)] = data
        return len(data)


def _csv_error(exc: Exception) -> StructuralError:
    text = str(exc)
    if "straddling" in text:
        return StructuralError("line_too_long", "a line is longer than the maximum line length")
    if "UTF8" in text:
        return StructuralError("not_utf8", "the file is not valid UTF-8 (save it as UTF-8 CSV)")
    return StructuralError("unreadable_file", "the CSV could not be parsed")


class _ParquetSource(Source):
    def __init__(self, stream: IO[bytes], limits: IngestLimits, options: ReadOptions):
        super().__init__()
        self.decimal = options.decimal  # text quantities: detected like a non-comma CSV's
        try:
            self._file = pq.ParquetFile(stream)
            schema = self._file.schema_arrow
            metadata = self._file.metadata
            inflated = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
        except (pa.ArrowException, OSError, ValueError, EOFError):
            raise StructuralError("invalid_parquet", "the Parquet file is corrupt or truncated") from None
        if inflated > limits.max_decompressed_bytes:
            raise StructuralError(
                "decompressed_too_large",
                f"the file inflates to more than {limits.max_decompressed_bytes} bytes",
            )
        if metadata.num_rows > limits.max_rows:
            raise StructuralError("too_many_rows", f"the file has more than {limits.max_rows} rows")
        self._columns, extra = resolve_columns(list(schema.names))
        self.warnings = extra_columns_warning(extra)
        self._types = {f: schema.field(self._columns[f]).type for f in FIELDS}
        _check_parquet_types(self._types)

    def batches(self) -> Generator[RawBatch, None, None]:
        names = [self._columns[f] for f in FIELDS]
        try:
            for batch in self._file.iter_batches(batch_size=_PARQUET_BATCH_ROWS, columns=names):
                yield RawBatch(
                    _parquet_sku(batch.column(0)),
                    _parquet_date(batch.column(1)),
                    _parquet_quantity(batch.column(2)),
                )
        except (pa.ArrowException, OSError, ValueError, EOFError):
            raise StructuralError("invalid_parquet", "the Parquet file is corrupt or truncated") from None


def _value_type(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def _is_text(t: pa.DataType) -> bool:
    t = _value_type(t)
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _check_parquet_types(types: dict[str, pa.DataType]) -> None:
    ok = {
        "sku": _is_text(types["sku"]) or pa.types.is_integer(_value_type(types["sku"])),
        "date": _is_text(types["date"]) or pa.types.is_date(types["date"]) or pa.types.is_timestamp(types["date"]),
        "quantity": _is_text(types["quantity"])
        or pa.types.is_integer(types["quantity"])
        or pa.types.is_floating(types["quantity"])
        or pa.types.is_decimal(types["quantity"]),
    }
    for field, good in ok.items():
        if not good:
            hint = ": SKUs must be text or integers" if field == "sku" else ""
            raise StructuralError("wrong_column_type", f"column {field!r} has unsupported type {types[field]}{hint}")


def _parquet_sku(values: pa.Array) -> pa.Array:
    """Text as it is; integers as their decimal text (123 -> "123")."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    return pc.cast(values, pa.string())


def _parquet_date(values: pa.Array) -> pa.Array:
    t = values.type
    if _is_text(t):
        return pc.cast(values, pa.string())
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            values = pc.local_timestamp(values)
        days = pc.cast(values, pa.date32())
        midnight = pc.equal(pc.cast(days, values.type), values)
        if pc.all(pc.or_kleene(midnight, pc.is_null(values))).as_py():
            return days
        # A time of day is not a daily date: keep the text so the row is reported (date_has_time).
        return pc.if_else(midnight, pc.cast(days, pa.string()), pc.cast(values, pa.string()))
    return pc.cast(values, pa.date32())


def _parquet_quantity(values: pa.Array) -> pa.Array:
    if _is_text(values.type):
        return pc.cast(values, pa.string())
    return pc.cast(values, pa.float64(), safe=False)
