"""The per-upload SKU limit (IngestLimits.max_skus): counted over the accepted rows' distinct SKUs."""

from __future__ import annotations

import datetime as dt
import io

from skucast.ingestion import IngestLimits, IngestResult, IngestStatus, ingest_file

TODAY = dt.date(2024, 12, 31)


def _ingest(text: str, max_skus: int) -> IngestResult:
    stream = io.BytesIO(("sku,date,quantity\n" + text).encode())
    return ingest_file(stream, aggregate="reject", limits=IngestLimits(max_skus=max_skus), today=TODAY)


def test_given_more_distinct_skus_than_the_limit_then_the_file_is_rejected_with_what_to_do() -> None:
    result = _ingest("A,2024-01-01,1\nB,2024-01-01,1\nC,2024-01-01,1\n", max_skus=2)
    assert result.status is IngestStatus.REJECTED and len(result.points) == 0
    (error,) = result.errors
    assert (error.row, error.code) == (None, "too_many_skus")
    assert "3 distinct SKUs" in error.message and "at most 2" in error.message
    assert "split the file by SKU" in error.message


def test_given_repeated_skus_and_rejected_rows_then_only_distinct_accepted_skus_count() -> None:
    # A and B on ten dates each; C only on a rejected row (1 of 21 rows: under the 10% share)
    rows = "".join(f"A,2024-01-{d:02d},1\nB,2024-01-{d:02d},2\n" for d in range(1, 11)) + "C,2024-01-01,-1\n"
    result = _ingest(rows, max_skus=2)
    assert result.status is IngestStatus.PARTIAL and sorted(result.points) == ["A", "B"]
    assert [e.code for e in result.errors] == ["quantity_negative"]
