"""Happy paths of both doors: CSV, BOM, gzip, Parquet, aliases, aggregate sum, JSON records."""

from __future__ import annotations

import datetime as dt
import gzip
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skucast.ingestion import IngestLimits, IngestResult, IngestStatus, ingest_file, ingest_records

TODAY = dt.date(2024, 6, 1)
CSV = b"sku,date,quantity\nA,2024-01-02,3\nA,2024-01-01,1.5\nB,2024-01-01,0\n"
EXPECTED = {"A": {dt.date(2024, 1, 1): 1.5, dt.date(2024, 1, 2): 3.0}, "B": {dt.date(2024, 1, 1): 0.0}}


def ingest(data: bytes, aggregate: str = "reject", **limits: object) -> IngestResult:
    return ingest_file(io.BytesIO(data), aggregate=aggregate, limits=IngestLimits(**limits), today=TODAY)  # type: ignore[arg-type]


def parquet(**columns: pa.Array | list[object]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink, row_group_size=2)
    return sink.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        CSV,
        b"\xef\xbb\xbf" + CSV,
        gzip.compress(CSV),
        gzip.compress(b"\xef\xbb\xbf" + CSV),
        CSV.replace(b"sku,date,quantity", b"unique_id,ds,y"),
        CSV.replace(b"sku,date,quantity", b"Quantity,SKU,Date")
        .replace(b"A,2024-01-02,3", b"3,A,2024-01-02")
        .replace(b"A,2024-01-01,1.5", b"1.5,A,2024-01-01")
        .replace(b"B,2024-01-01,0", b"0,B,2024-01-01"),
        parquet(
            sku=["A", "A", "B"],
            date=[dt.date(2024, 1, 2), dt.date(2024, 1, 1), dt.date(2024, 1, 1)],
            quantity=[3, 1.5, 0],
        ),
        parquet(unique_id=["A", "A", "B"], ds=["2024-01-02", "2024-01-01", "2024-01-01"], y=["3", "1.5", "0"]),
        parquet(
            sku=pa.array(["A", "A", "B"]).dictionary_encode(),
            date=pa.array([dt.datetime(2024, 1, 2), dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1)]),
            quantity=pa.array([3.0, 1.5, 0.0], pa.float32()),
        ),
    ],
    ids=[
        "csv",
        "csv_bom",
        "gzip",
        "gzip_bom",
        "aliases",
        "reordered_mixed_case",
        "parquet",
        "parquet_aliases_strings",
        "parquet_dict_timestamp_float32",
    ],
)
def test_given_a_valid_file_in_any_supported_form_when_ingested_then_all_rows_are_accepted(
    data: bytes,
) -> None:
    result = ingest(data)

    assert result.status is IngestStatus.SUCCEEDED
    assert (result.rows_total, result.rows_accepted, result.rows_rejected) == (3, 3, 0)
    assert result.skus_touched == 2 and result.errors == []
    assert result.points.to_dict() == EXPECTED


def test_given_duplicates_and_aggregate_sum_when_ingested_then_they_are_summed() -> None:
    data = b"sku,date,quantity\nA,2024-01-01,1\nB,2024-01-01,5\nA,2024-01-01,2.5\nA,2024-01-01,0\n"

    result = ingest(data, aggregate="sum")

    assert result.status is IngestStatus.SUCCEEDED and result.rows_accepted == 4
    assert result.points.to_dict() == {"A": {dt.date(2024, 1, 1): 3.5}, "B": {dt.date(2024, 1, 1): 5.0}}


def test_given_duplicates_whose_sum_is_past_the_quantity_limit_when_summed_then_that_group_is_rejected() -> None:
    rows = "".join(f"S{i},2024-01-01,1\n" for i in range(30))
    data = f"sku,date,quantity\n{rows}A,2024-01-01,1e15\nA,2024-01-01,1e15\n".encode()

    result = ingest(data, aggregate="sum")

    assert result.status is IngestStatus.PARTIAL
    assert [(e.row, e.code) for e in result.errors] == [
        (32, "quantity_out_of_range"),
        (33, "quantity_out_of_range"),
    ]
    assert "A" not in result.points


def test_given_an_unknown_aggregate_when_ingesting_then_it_is_a_caller_error() -> None:
    with pytest.raises(ValueError):
        ingest(CSV, aggregate="mean")


def test_given_a_date_tomorrow_when_ingested_then_it_is_accepted_but_the_day_after_is_not() -> None:
    data = b"sku,date,quantity\nA,2024-06-02,1\nA,2024-06-03,1\n"

    result = ingest(data, max_rejected_share=1.0)

    assert [(e.row, e.code) for e in result.errors] == [(3, "date_in_future")]
    assert result.points["A"].to_dict() == {dt.date(2024, 6, 2): 1.0}


def test_given_the_threshold_when_exactly_reached_then_the_file_is_partial_and_above_it_rejected() -> None:
    good = "".join(f"S{i},2024-01-01,1\n" for i in range(9))
    at = ingest(f"sku,date,quantity\n{good}X,2024-01-01,-1\n".encode())  # 1 of 10 = 10%
    above = ingest(f"sku,date,quantity\n{good[:-15]}X,2024-01-01,-1\n".encode())  # 1 of 9

    assert at.status is IngestStatus.PARTIAL and at.rows_accepted == 9
    assert above.status is IngestStatus.REJECTED and above.rows_accepted == 0 and len(above.points) == 0
    assert above.errors[0].code == "too_many_rejected_rows"


def test_given_many_bad_rows_when_ingested_then_100_errors_are_kept_and_all_are_counted() -> None:
    rows = "".join(f"S{i},2024-01-01,x\n" for i in range(250))

    result = ingest(f"sku,date,quantity\n{rows}".encode(), max_rejected_share=1.0)

    assert result.rows_rejected == 250 and len(result.errors) == 100
    assert [e.row for e in result.errors] == list(range(2, 102))


def test_given_a_large_clean_file_when_ingested_then_points_are_grouped_per_sku_as_arrays() -> None:
    rows = "".join(f"S{s},2024-01-{d:02d},{s * d}\n" for d in range(1, 29) for s in range(300))

    result = ingest(f"sku,date,quantity\n{rows}".encode(), max_line_bytes=64 * 1024)  # many blocks

    assert result.status is IngestStatus.SUCCEEDED and result.skus_touched == 300
    points = result.points["S7"]
    assert points.dates.dtype == "datetime64[D]" and points.quantities.dtype == "float64"
    assert points.quantities.tolist() == [7.0 * d for d in range(1, 29)]


def test_given_json_records_when_ingested_then_they_follow_the_same_rules_numbered_from_1() -> None:
    records = [
        {"sku": "A", "date": "2024-01-01", "quantity": 3},
        {"unique_id": "A", "ds": dt.date(2024, 1, 2), "y": 1.25},
        {"sku": "B", "date": "2024-01-01", "quantity": float("inf")},
        {"sku": "=HYPERLINK()", "date": "2024-01-01", "quantity": 1},
        {"sku": "C", "date": "2024-01-01", "quantity": True},
    ]

    result = ingest_records(records, aggregate="reject", limits=IngestLimits(max_rejected_share=1.0), today=TODAY)

    assert result.status is IngestStatus.PARTIAL
    assert [(e.row, e.column, e.code) for e in result.errors] == [
        (3, "quantity", "quantity_not_finite"),
        (4, "sku", "sku_formula"),
        (5, "quantity", "missing_value"),
    ]
    assert result.points.to_dict() == {"A": {dt.date(2024, 1, 1): 3.0, dt.date(2024, 1, 2): 1.25}}


@pytest.mark.parametrize(
    ("records", "code"),
    [
        ([{"sku": "A", "date": "2024-01-01", "quantity": 1, "price": 2}], "extra_columns"),
        ([{"sku": "A", "unique_id": "A", "date": "2024-01-01", "quantity": 1}], "duplicate_columns"),
        (["A,2024-01-01,1"], "invalid_record"),
        ([{"sku": "A", "date": "2024-01-01", "quantity": 1}] * 10_001, "too_many_records"),
    ],
)
def test_given_structurally_bad_records_when_ingested_then_the_request_is_rejected(
    records: list[object], code: str
) -> None:
    result = ingest_records(records, aggregate="reject", limits=IngestLimits(), today=TODAY)

    assert result.status is IngestStatus.REJECTED and [e.code for e in result.errors] == [code]


def test_given_no_records_when_ingested_then_it_succeeds_with_nothing() -> None:
    result = ingest_records([], aggregate="sum", limits=IngestLimits(), today=TODAY)

    assert result.report() == {
        "status": "SUCCEEDED",
        "rows_total": 0,
        "rows_accepted": 0,
        "rows_rejected": 0,
        "skus_touched": 0,
        "errors": [],
        "error_summary": [],
        "warnings": [],
    }


def test_given_parquet_with_a_time_of_day_and_nulls_when_ingested_then_those_rows_are_row_errors() -> None:
    data = parquet(
        sku=["A", "B", None] + [f"S{i}" for i in range(20)],
        date=[dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, 10, 30), dt.datetime(2024, 1, 1)]
        + [dt.datetime(2024, 1, 1)] * 20,
        quantity=[1.0, 2.0, 3.0] + [1.0] * 20,
    )

    result = ingest(data)

    assert [(e.row, e.column, e.code) for e in result.errors] == [
        (2, "date", "date_has_time"),
        (3, "sku", "missing_value"),
    ]


def test_given_a_non_seekable_parquet_stream_when_ingested_then_it_is_spooled_and_read() -> None:
    data = parquet(sku=["A"], date=["2024-01-01"], quantity=[2])

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            chunk = self._data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    result = ingest_file(Pipe(), aggregate="reject", limits=IngestLimits(), today=TODAY)  # type: ignore[arg-type]

    assert result.points.to_dict() == {"A": {dt.date(2024, 1, 1): 2.0}}


def test_given_quantities_the_store_or_the_models_cannot_hold_then_each_row_is_quantity_out_of_range() -> None:
    ok = "".join(f"S{i},2024-01-01,{q}\n" for i, q in enumerate(["0", "1e-6", "1e15", "0.5"] * 10))
    bad = "A,2024-01-01,1e307\nB,2024-01-01,1e-200\nC,2024-01-01,1.0000001e15\nD,2024-01-01,9e-7\n"
    data = f"sku,date,quantity\n{ok}{bad}".encode()

    result = ingest(data)

    assert result.status is IngestStatus.PARTIAL and result.rows_accepted == 40
    assert [(e.row, e.column, e.code) for e in result.errors] == [
        (row, "quantity", "quantity_out_of_range") for row in (42, 43, 44, 45)
    ]
    assert "1e-06 to 1e+15" in result.errors[0].message
    assert not {"A", "B", "C", "D"} & set(result.points)


def test_given_skus_with_surrounding_spaces_then_file_parquet_and_records_keep_them_as_sent() -> None:
    # " WS1 " is not "WS1": neither is trimmed, so they are two SKUs and neither collides; a cell
    # of only spaces is missing, and a formula behind spaces is still a formula.
    names = [" WS1 ", "WS1", "WS1 ", "\u3000日本茶 "]
    expected = {n: {dt.date(2024, 1, 1): float(i + 1)} for i, n in enumerate(names)}
    rows = [{"sku": n, "date": "2024-01-01", "quantity": i + 1} for i, n in enumerate(names)]
    text = "sku,date,quantity\n" + "".join(f'"{r["sku"]}",2024-01-01,{r["quantity"]}\n' for r in rows)
    from_csv = ingest(text.encode())
    from_parquet = ingest(parquet(sku=names, date=["2024-01-01"] * 4, quantity=[1.0, 2.0, 3.0, 4.0]))
    from_records = ingest_records(rows, aggregate="reject", limits=IngestLimits(), today=TODAY)
    for result in (from_csv, from_parquet, from_records):
        assert result.status is IngestStatus.SUCCEEDED, result.errors
        assert result.points.to_dict() == expected

    bad = [{"sku": "   ", "date": "2024-01-01", "quantity": 1}, {"sku": " =1+1", "date": "2024-01-01", "quantity": 1}]
    result = ingest_records(bad, aggregate="reject", limits=IngestLimits(max_rejected_share=1.0), today=TODAY)
    assert [(e.row, e.code) for e in result.errors] == [(1, "missing_value"), (2, "sku_formula")]
