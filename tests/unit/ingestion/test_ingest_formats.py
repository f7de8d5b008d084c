"""Files as they are exported: delimiters, decimal commas, date formats, date-times, integer SKUs,
extra columns, and an error report that shows every kind of problem."""

from __future__ import annotations

import datetime as dt
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skucast.ingestion import IngestLimits, IngestResult, IngestStatus, ReadOptions, ingest_file

TODAY = dt.date(2025, 6, 1)
D = dt.date


def ingest(data: bytes, options: ReadOptions | None = None, **limits: object) -> IngestResult:
    return ingest_file(
        io.BytesIO(data),
        aggregate="reject",
        limits=IngestLimits(**limits),  # type: ignore[arg-type]
        today=TODAY,
        options=options,
    )


def parquet(**columns: pa.Array | list[object]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink, row_group_size=2)
    return sink.getvalue()


def assert_clean(result: IngestResult, points: dict[str, dict[dt.date, float]]) -> None:
    assert result.status is IngestStatus.SUCCEEDED, result.report()
    assert result.errors == [] and result.error_summary == [] and result.warnings == []
    assert result.points.to_dict() == points


# SKUs as they really come: spaces inside, unicode, quotes (doubled inside a quoted cell).
SHIRT = 'Blue "XL" shirt'
CAFE = "Café crème 250 g"
EUROPEAN = (
    "sku;date;quantity\r\n"
    '"Blue ""XL"" shirt";31/12/2024;12,5\r\n'
    '"Blue ""XL"" shirt";01/01/2025;3\r\n'
    "Café crème 250 g;02/01/2025;0,25\r\n"
    "Café crème 250 g;13/01/2025;1000\r\n"
).encode()
EUROPEAN_POINTS = {
    SHIRT: {D(2024, 12, 31): 12.5, D(2025, 1, 1): 3.0},
    CAFE: {D(2025, 1, 2): 0.25, D(2025, 1, 13): 1000.0},
}


@pytest.mark.parametrize(
    ("data", "points"),
    [
        (EUROPEAN, EUROPEAN_POINTS),
        (
            "sku\tdate\tquantity\nA 1\t2025-01-02\t1.5\nA 1\t2025-01-03\t2\nß-7\t2025-01-02\t0\n".encode(),
            {"A 1": {D(2025, 1, 2): 1.5, D(2025, 1, 3): 2.0}, "ß-7": {D(2025, 1, 2): 0.0}},
        ),
        (
            b"sku|date|quantity\nA|2025/01/02|1,5\nA|2025/1/3|2\n",
            {"A": {D(2025, 1, 2): 1.5, D(2025, 1, 3): 2.0}},
        ),
        (
            b"sku;date;quantity\nA;02.01.2025;1\nA;3.1.2025;2,0\n",
            {"A": {D(2025, 1, 2): 1.0, D(2025, 1, 3): 2.0}},
        ),
        (
            b"sku,date,quantity\nA,01/02/2025,1\nA,01/13/2025,2\n",
            {"A": {D(2025, 1, 2): 1.0, D(2025, 1, 13): 2.0}},
        ),
        (
            b"sku,date,quantity\n"
            b"A,2025-01-01 00:00:00,1\n"
            b"A,2025-01-02T00:00:00,2\n"
            b"A,2025-01-03T00:00:00Z,3\n"
            b"A,2025-01-04T00:00:00+00:00,4\n"
            b"A,2025-01-05 00:00:00.000,5\n"
            b"A,2025-01-06T00:00:00.000000Z,6\n"
            b"A,2025-01-07 00:00,7\n"
            b"A,2025-01-08T00:00:00+02:00,8\n",
            {"A": {D(2025, 1, d): float(d) for d in range(1, 9)}},
        ),
        (
            b"sku;date;quantity\nA;31/01/2025 00:00:00;1,5\n",
            {"A": {D(2025, 1, 31): 1.5}},
        ),
    ],
    ids=[
        "semicolon_decimal_comma_day_first",
        "tab_iso",
        "pipe_year_first_slash",
        "dotted_day_first",
        "comma_month_first",
        "midnight_datetimes",
        "day_first_midnight",
    ],
)
def test_given_a_file_in_an_exported_format_when_ingested_then_exactly_its_points_are_accepted(
    data: bytes, points: dict[str, dict[dt.date, float]]
) -> None:
    assert_clean(ingest(data), points)


@pytest.mark.parametrize(
    ("delimiter", "assumed", "read_as"),
    [(";", "DD/MM/YYYY", D(2025, 2, 1)), (",", "MM/DD/YYYY", D(2025, 1, 2)), ("\t", "DD/MM/YYYY", D(2025, 2, 1))],
)
def test_given_slash_dates_that_fit_both_orders_when_ingested_then_the_default_is_assumed_with_a_warning(
    delimiter: str, assumed: str, read_as: dt.date
) -> None:
    rows = [("sku", "date", "quantity"), ("A", "01/02/2025", "1"), ("A", "03/04/2025", "2")]
    data = "".join(delimiter.join(row) + "\n" for row in rows)

    result = ingest(data.encode())

    assert result.status is IngestStatus.SUCCEEDED and result.errors == []
    assert result.points["A"].to_dict()[read_as] == 1.0
    assert [w.code for w in result.warnings] == ["date_format_assumed"]
    assert f"read as {assumed}" in result.warnings[0].message and "01/02/2025" in result.warnings[0].message


def test_given_a_late_day_above_12_when_ingested_in_small_blocks_then_the_held_blocks_are_read_in_its_order() -> None:
    ambiguous = "".join(f"S{i % 40};{1 + i // 40:02d}/01/2025;{i}\n" for i in range(480))  # days 1..12
    data = f"sku;date;quantity\n{ambiguous}LAST;25/01/2025;1\n".encode()

    result = ingest(data, max_line_bytes=256)  # dozens of blocks before the deciding one

    assert result.status is IngestStatus.SUCCEEDED and result.warnings == [] and result.rows_accepted == 481
    assert result.points["S3"].to_dict() == {D(2025, 1, 1 + k): float(3 + 40 * k) for k in range(12)}
    assert result.points["LAST"].to_dict() == {D(2025, 1, 25): 1.0}


def test_given_declared_options_when_ingested_then_they_override_detection() -> None:
    data = b"sku;date;quantity\nA;01/02/2025;1,5\nA;03/04/2025;2\n"

    declared = ingest(data, ReadOptions(delimiter=";", decimal=",", date_format="MM/DD/YYYY"))  # type: ignore[arg-type]

    assert_clean(declared, {"A": {D(2025, 1, 2): 1.5, D(2025, 3, 4): 2.0}})
    point = ingest(data, ReadOptions(decimal="."), max_rejected_share=1.0)
    assert [(e.row, e.column, e.code) for e in point.errors] == [(2, "quantity", "quantity_not_number")]
    wrong = ingest(data, ReadOptions(delimiter=","))
    assert wrong.status is IngestStatus.REJECTED
    assert [(e.row, e.code) for e in wrong.errors] == [(1, "unsupported_delimiter")]
    iso = ingest(data, ReadOptions(date_format="YYYY-MM-DD"), max_rejected_share=1.0)  # type: ignore[arg-type]
    assert [e.code for e in iso.errors] == ["date_invalid", "date_invalid"]
    assert "is not a valid YYYY-MM-DD date" in iso.errors[0].message


def test_given_an_unknown_option_when_building_read_options_then_it_is_a_caller_error() -> None:
    with pytest.raises(ValueError):
        ReadOptions(delimiter=" ")
    with pytest.raises(ValueError):
        ReadOptions(date_format="DD-MM-YYYY")  # type: ignore[arg-type]


def test_given_a_decimal_comma_file_when_a_quantity_has_a_point_then_it_is_not_read_as_a_decimal() -> None:
    """Under a decimal comma, `1.234` may mean 1234: it is refused rather than read as 1.234. The
    first quantity with a separator decides, even after blocks of whole numbers."""
    whole = "".join(f"S{i};2025-01-01;{i}\n" for i in range(40))
    data = f"sku;date;quantity\n{whole}A;2025-01-01;2,5\nB;2025-01-01;1.234\n".encode()

    result = ingest(data, max_line_bytes=128)

    assert result.points["A"].to_dict() == {D(2025, 1, 1): 2.5} and "B" not in result.points
    assert [(e.row, e.code) for e in result.errors] == [(43, "quantity_not_number")]
    assert "decimal separator is ','" in result.errors[0].message


def test_given_a_comma_file_when_a_quantity_has_a_quoted_decimal_comma_then_it_is_not_a_number() -> None:
    data = b'sku,date,quantity\nA,2025-01-01,"1,5"\n' + b"".join(b"S%d,2025-01-01,1\n" % i for i in range(20))

    result = ingest(data)

    assert [(e.row, e.code) for e in result.errors] == [(2, "quantity_not_number")]


def test_given_a_time_that_is_not_midnight_when_ingested_then_the_row_is_date_has_time() -> None:
    good = "".join(f"S{i},2025-01-01T00:00:00Z,1\n" for i in range(20))
    data = f"sku,date,quantity\n{good}A,2025-01-02T10:30:00Z,5\nB,2025-01-02 00:00:01,5\n".encode()

    result = ingest(data, max_rejected_share=1.0)

    assert [(e.row, e.column, e.code) for e in result.errors] == [
        (22, "date", "date_has_time"),
        (23, "date", "date_has_time"),
    ]
    assert "'2025-01-02T10:30:00Z' has a time of day" in result.errors[0].message
    assert result.rows_accepted == 20 and "A" not in result.points


@pytest.mark.parametrize("int_type", [pa.int32(), pa.int64(), pa.uint64(), pa.uint8()])
def test_given_parquet_integer_skus_when_ingested_then_they_are_stored_as_their_decimal_text(
    int_type: pa.DataType,
) -> None:
    data = parquet(
        sku=pa.array([123, 123, 7], int_type),
        date=[D(2025, 1, 1), D(2025, 1, 2), D(2025, 1, 1)],
        quantity=[1.0, 2.0, 3.0],
    )

    assert_clean(ingest(data), {"123": {D(2025, 1, 1): 1.0, D(2025, 1, 2): 2.0}, "7": {D(2025, 1, 1): 3.0}})


def test_given_parquet_dictionary_integer_skus_and_midnight_timestamps_with_a_zone_then_they_are_read() -> None:
    data = parquet(
        sku=pa.array([10, 10, 20], pa.int64()).dictionary_encode(),
        date=pa.array(
            [dt.datetime(2025, 1, 1), dt.datetime(2025, 1, 2), dt.datetime(2025, 1, 1)], pa.timestamp("ms", "UTC")
        ),
        quantity=pa.array([1, 2, 3], pa.int32()),
    )

    assert_clean(ingest(data), {"10": {D(2025, 1, 1): 1.0, D(2025, 1, 2): 2.0}, "20": {D(2025, 1, 1): 3.0}})


def test_given_parquet_float_skus_when_ingested_then_the_file_is_rejected_with_the_reason() -> None:
    result = ingest(parquet(sku=[123.0], date=[D(2025, 1, 1)], quantity=[1.0]))

    assert result.status is IngestStatus.REJECTED and [e.code for e in result.errors] == ["wrong_column_type"]
    assert "SKUs must be text or integers" in result.errors[0].message


def test_given_parquet_text_dates_day_first_when_ingested_then_they_are_read_in_that_order() -> None:
    data = parquet(sku=["A", "A"], date=["31.01.2025", "01.02.2025"], quantity=["1,5", "2"])

    assert_clean(ingest(data), {"A": {D(2025, 1, 31): 1.5, D(2025, 2, 1): 2.0}})


def test_given_extra_columns_when_ingested_then_they_are_ignored_with_a_warning() -> None:
    data = b"store,sku,price,date,quantity,note\nX,A,9.99,2025-01-01,2,hello\nY,A,1,2025-01-02,3,\n"

    result = ingest(data)

    assert result.status is IngestStatus.SUCCEEDED and result.errors == []
    assert result.points.to_dict() == {"A": {D(2025, 1, 1): 2.0, D(2025, 1, 2): 3.0}}
    assert result.report()["warnings"] == [
        {"code": "extra_columns_ignored", "message": "Ignored columns: store, price, note"}
    ]


def test_given_extra_parquet_columns_when_ingested_then_they_are_ignored_with_a_warning() -> None:
    data = parquet(sku=["A"], date=[D(2025, 1, 1)], quantity=[1.0], price=[9.5])

    result = ingest(data)

    assert result.points.to_dict() == {"A": {D(2025, 1, 1): 1.0}}
    assert [w.as_dict() for w in result.warnings] == [
        {"code": "extra_columns_ignored", "message": "Ignored columns: price"}
    ]


def test_given_two_columns_for_one_field_when_ingested_then_it_stays_an_error() -> None:
    result = ingest(b"sku;SKU ;date;quantity\nA;B;2025-01-01;1\n")

    assert [(e.row, e.code) for e in result.errors] == [(1, "duplicate_columns")]


def test_given_500_rows_of_one_problem_and_a_later_other_problem_then_both_are_reported_and_counted() -> None:
    bad_quantity = "".join(f"S{i},2025-01-01,x\n" for i in range(500))
    later = "T,2025-02-30,1\nU,2025-01-01,-1\nV,2025-02-31,1\n"
    data = f"sku,date,quantity\n{bad_quantity}{later}".encode()

    result = ingest(data, max_rejected_share=1.0)

    assert [c.as_dict() for c in result.error_summary] == [
        {"code": "quantity_not_number", "count": 500, "first_rows": [2, 3, 4, 5, 6]},
        {"code": "date_invalid", "count": 2, "first_rows": [502, 504]},
        {"code": "quantity_negative", "count": 1, "first_rows": [503]},
    ]
    assert len(result.errors) == 100
    assert [(e.row, e.code) for e in result.errors[-3:]] == [
        (99, "quantity_not_number"),
        (502, "date_invalid"),
        (503, "quantity_negative"),
    ]
    assert [e.row for e in result.errors[:97]] == list(range(2, 99))
    report = result.report()
    assert report["error_summary"] == [c.as_dict() for c in result.error_summary]


def test_given_a_rejected_file_with_two_kinds_then_the_summary_counts_both_after_the_file_level_error() -> None:
    data = ("sku,date,quantity\n" + "A,2025-01-01,x\n" * 300 + "B,2025-13-01,1\n").encode()

    result = ingest(data)

    assert result.status is IngestStatus.REJECTED
    assert [(c.code, c.count) for c in result.error_summary] == [
        ("too_many_rejected_rows", 1),
        ("quantity_not_number", 300),
        ("date_invalid", 1),
    ]
    assert [e.code for e in result.errors][:2] == ["too_many_rejected_rows", "quantity_not_number"]
    assert result.errors[-1].code == "date_invalid" and len(result.errors) == 100


def test_given_duplicates_and_field_count_errors_when_summarised_then_each_code_counts_exactly() -> None:
    rows = "A,2025-01-01,1\nA,2025-01-01,2\nB,2025-01-01,1,9\n" + "".join(f"S{i},2025-01-01,1\n" for i in range(30))

    result = ingest(f"sku,date,quantity\n{rows}".encode())

    assert [c.as_dict() for c in result.error_summary] == [
        {"code": "duplicate_row", "count": 2, "first_rows": [2, 3]},
        {"code": "wrong_field_count", "count": 1, "first_rows": [4]},
    ]


def test_given_a_file_level_rejection_when_reported_then_the_summary_has_its_one_error() -> None:
    report = ingest(b"sku,date\nA,2025-01-01\n").report()

    assert report["error_summary"] == [{"code": "missing_columns", "count": 1, "first_rows": [1]}]
    assert report["warnings"] == []
