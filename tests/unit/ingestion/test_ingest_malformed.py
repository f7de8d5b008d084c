"""The malformed corpus: every file ends in a clear status, never an exception, a hang or a blow-up."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from skucast.ingestion import IngestLimits, IngestResult, ingest_file
from tests.fixtures.make_malformed import OUT, TODAY, Case, cases

CASES = cases()


def ingest(data: bytes | io.RawIOBase, limits: IngestLimits | None = None, aggregate: str = "reject") -> IngestResult:
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    return ingest_file(stream, aggregate=aggregate, limits=limits or IngestLimits(), today=TODAY)  # type: ignore[arg-type]


def test_given_the_corpus_when_counted_then_it_has_at_least_25_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_given_a_committed_malformed_file_when_regenerated_then_it_is_unchanged(case: Case) -> None:
    assert (OUT / case.name).read_bytes() == case.content


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_given_a_malformed_file_when_ingested_then_the_outcome_is_exactly_the_expected_one(
    case: Case,
) -> None:
    result = ingest((OUT / case.name).read_bytes())

    assert result.status.value == case.expect.status, result.report()
    assert [(e.row, e.column, e.code) for e in result.errors] == case.expect.errors
    if case.expect.rows_accepted is not None:
        assert result.rows_accepted == case.expect.rows_accepted
    assert [w.code for w in result.warnings] == case.expect.warnings
    if result.status.value == "REJECTED":
        assert result.rows_accepted == 0 and len(result.points) == 0
    for error in result.errors:
        assert error.message and "\n" not in error.message


class _Endless(io.RawIOBase):
    """A stream of `size` bytes made on the fly: a file larger than we would ever hold."""

    def __init__(self, head: bytes, line: bytes, size: int):
        self._pending, self._line, self._left = head, line, size
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        if not self._pending:
            self._pending = self._line * max(1, len(buffer) // len(self._line))
        n = min(len(buffer), self._left, len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self._left -= n
        self.served += n
        return n


@pytest.fixture(scope="module", autouse=True)
def _tracing() -> Iterator[None]:
    """Python allocations traced for this module's whole run. Stopping tracemalloc right after a
    read crashed the interpreter now and then (CPython 3.11): pyarrow's read-ahead thread may still
    be in Python code (reading the file object) when the trace tables are freed. At module end
    every reader has long finished."""
    tracemalloc.start()
    yield
    time.sleep(0.5)
    tracemalloc.stop()


def _peak_python_bytes(run: Any) -> tuple[Any, int]:
    """The run's result and the peak of the Python memory it allocated beyond what was live."""
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    result = run()
    return result, tracemalloc.get_traced_memory()[1] - before


def _gzip_bomb(inflated: int) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as packed:
        packed.write(b"sku,date,quantity\n")
        zeros = bytes(1024 * 1024)
        for _ in range(inflated // len(zeros)):
            packed.write(zeros)
    return out.getvalue()


def test_given_a_gzip_bomb_when_ingested_then_it_is_rejected_early_in_bounded_memory() -> None:
    bomb = _gzip_bomb(512 * 1024 * 1024)  # 512 MiB of NULs in about 0.5 MB
    limits = IngestLimits(max_decompressed_bytes=16 * 1024 * 1024)
    pool_before = pa.total_allocated_bytes()
    began = time.monotonic()

    result, peak = _peak_python_bytes(lambda: ingest(bomb, limits))

    assert result.status.value == "REJECTED"
    # NULs after the header are one endless line: stopped at the first block.
    assert [e.code for e in result.errors] == ["line_too_long"]
    assert time.monotonic() - began < 5
    assert peak < 32 * 1024 * 1024
    assert pa.total_allocated_bytes() - pool_before < 8 * 1024 * 1024


def test_given_a_gzip_bomb_of_valid_rows_when_ingested_then_the_inflated_size_limit_stops_it() -> None:
    rows = b"A,2024-01-01,1\n" * (1024 * 1024)
    bomb = gzip.compress(b"sku,date,quantity\n" + rows * 8, compresslevel=9, mtime=0)  # ~120 MB inflated
    limits = IngestLimits(max_decompressed_bytes=20 * 1024 * 1024)

    result, peak = _peak_python_bytes(lambda: ingest(bomb, limits))

    assert [e.code for e in result.errors] == ["decompressed_too_large"]
    assert peak < 64 * 1024 * 1024


def test_given_a_stream_larger_than_the_raw_limit_when_ingested_then_reading_stops_at_the_limit() -> None:
    stream = _Endless(b"sku,date,quantity\n", b"A,2024-01-01,1\n", 10**12)  # "a terabyte"
    limits = IngestLimits(max_raw_bytes=8 * 1024 * 1024)

    result, peak = _peak_python_bytes(lambda: ingest(stream, limits))

    assert [e.code for e in result.errors] == ["file_too_large"]
    assert stream.served <= limits.max_raw_bytes + 1024 * 1024
    assert peak < 64 * 1024 * 1024


def test_given_too_many_rows_when_ingested_then_it_is_rejected_before_memory_grows() -> None:
    stream = _Endless(b"sku,date,quantity\n", b"A,2024-01-01,1\n", 10**12)  # "a terabyte"
    limits = IngestLimits(max_rows=100_000)

    result = ingest(stream, limits)

    assert [e.code for e in result.errors] == ["too_many_rows"]
    # 1.5 MB of rows plus pyarrow's read-ahead, which runs further on a loaded machine (35 MB was
    # seen with both cores busy) but stays bounded: far below what an unbounded read would take.
    assert stream.served < 128 * 1024 * 1024


def test_given_100000_columns_when_ingested_then_the_extra_ones_are_ignored_with_a_short_warning() -> None:
    header = "sku,date,quantity," + ",".join(f"c{i}" for i in range(100_000 - 3))
    data = (header + "\n" + "A,2024-01-01,1" + ",x" * (100_000 - 3) + "\n").encode()

    began = time.monotonic()
    result = ingest(data)

    assert result.status.value == "SUCCEEDED" and result.points.to_dict() == {"A": {dt.date(2024, 1, 1): 1.0}}
    assert [w.as_dict() for w in result.warnings] == [
        {"code": "extra_columns_ignored", "message": "Ignored columns: c0, c1, c2, c3, c4 and 99992 more"}
    ]
    assert time.monotonic() - began < 5


def test_given_a_header_with_one_huge_field_under_another_delimiter_when_ingested_then_it_is_read() -> None:
    """Detection splits the header at every candidate: one ~800 KB field must not crash the split."""
    data = ("sku,date,quantity," + "x" * (800 * 1024) + "\nA,2024-01-01,1,y\n").encode()

    result = ingest(data)

    assert result.status.value == "SUCCEEDED" and [w.code for w in result.warnings] == ["extra_columns_ignored"]


def test_given_a_header_longer_than_a_line_may_be_when_ingested_then_it_is_rejected() -> None:
    data = ("sku,date,quantity," + "x" * (3 * 1024 * 1024)).encode()

    result = ingest(data, IngestLimits(max_line_bytes=1024 * 1024))

    assert [e.code for e in result.errors] == ["line_too_long"]


def test_given_a_very_long_data_line_when_ingested_then_the_file_is_rejected_as_line_too_long() -> None:
    data = b"sku,date,quantity\nA,2024-01-01,1\n" + b"B" * (2 * 1024 * 1024) + b",2024-01-01,1\n"

    result = ingest(data, IngestLimits(max_line_bytes=1024 * 1024))

    assert [e.code for e in result.errors] == ["line_too_long"]


def test_given_forged_parquet_metadata_claiming_a_huge_inflated_size_when_ingested_then_it_is_rejected() -> None:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.table({"sku": ["A"] * 50_000, "date": ["2024-01-01"] * 50_000, "quantity": [1.0] * 50_000}), sink)

    result = ingest(sink.getvalue(), IngestLimits(max_decompressed_bytes=256))

    assert [e.code for e in result.errors] == ["decompressed_too_large"]


def test_given_random_garbage_of_any_kind_when_ingested_then_no_exception_escapes() -> None:
    seeds = [bytes((i * 37 + j * 11) % 256 for j in range(3000)) for i in range(20)]
    variants = [*seeds, *(b"PAR1" + s for s in seeds[:5]), *(b"\x1f\x8b" + s for s in seeds[:5])]
    variants += [zlib.compress(s) for s in seeds[:5]]

    for data in variants:
        assert ingest(data).status.value in {"REJECTED", "PARTIAL", "SUCCEEDED"}


class _Counting(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.served = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.served += len(chunk)
        return chunk

    def readinto(self, buffer: Any) -> int:
        n = super().readinto(buffer)
        self.served += n
        return n


def test_given_a_gzip_of_blank_lines_when_ingested_then_it_stops_at_the_row_limit() -> None:
    """Blank lines are skipped, not counted as rows: without a line bound, a 0.5 MB gzip inflating
    to 512 MiB of newlines cost minutes of compute before the decompressed limit stopped it."""
    blanks = b"\n" * (8 * 1024 * 1024)
    compressed = io.BytesIO()
    with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0) as gz:
        gz.write(b"sku,date,quantity\n")
        for _ in range(8):  # 64 MiB of blank lines
            gz.write(blanks)
    limits = IngestLimits(max_rows=100_000)

    source = _Counting(compressed.getvalue())
    result = ingest(source, limits)

    assert [e.code for e in result.errors] == ["too_many_rows"]
    assert source.served < len(compressed.getvalue())  # stopped well before the end of the file
