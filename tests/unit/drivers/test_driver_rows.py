"""Drivers validation (both doors), the order-independent merge and the roll-up to weeks/months."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import itertools

import pytest

from skucast.drivers import (
    DriverLimits,
    DriverSpec,
    StoredValues,
    decode_values,
    encode_values,
    ingest_driver_file,
    ingest_driver_records,
    merge_values,
    name_problem,
    roll_up,
)
from skucast.ingestion import IngestStatus

TODAY = dt.date(2026, 12, 6)
DRIVERS = {"price": DriverSpec("price", "numeric"), "promo": DriverSpec("promo", "flag", "max")}


def _file(text: str, limits: DriverLimits | None = None):  # type: ignore[no-untyped-def]
    return ingest_driver_file(io.BytesIO(text.encode()), DRIVERS, TODAY, limits or DriverLimits())


def _codes(result) -> list[tuple[int | None, str | None, str]]:  # type: ignore[no-untyped-def]
    return [(e.row, e.column, e.code) for e in result.errors]


def test_given_a_clean_file_when_ingested_then_every_value_is_kept_exactly_and_empty_cells_store_nothing() -> None:
    result = _file(
        'sku,date,price,promo\n"Widget, ""large""",2026-12-01,9.99,1\nÄpfel grün,2026-12-01,,0\nA,2027-03-01,4.5,\n'
    )
    assert result.status is IngestStatus.SUCCEEDED
    assert (result.rows_total, result.rows_accepted, result.rows_rejected) == (3, 3, 0)
    assert result.values == {
        "price": {'Widget, "large"': {"2026-12-01": 9.99}, "A": {"2027-03-01": 4.5}},
        "promo": {'Widget, "large"': {"2026-12-01": 1.0}, "Äpfel grün": {"2026-12-01": 0.0}},
    }
    assert result.skus_touched == 3


def test_given_a_column_that_is_not_a_declared_driver_then_the_whole_file_is_rejected_naming_it() -> None:
    result = _file("sku,date,price,discount\nA,2026-12-01,1,2\n")
    assert result.status is IngestStatus.REJECTED
    assert _codes(result) == [(1, "discount", "undeclared_driver")]
    assert "discount" in result.errors[0].message
    assert result.values == {}


@pytest.mark.parametrize(
    ("line", "column", "code"),
    [
        ("A,2026-12-01,NaN,", "price", "value_not_finite"),
        ("A,2026-12-01,Infinity,", "price", "value_not_finite"),
        ("A,2026-12-01,-inf,", "price", "value_not_finite"),
        ("A,2026-12-01,abc,", "price", "value_not_number"),
        ("A,2026-12-01,1e16,", "price", "value_out_of_range"),
        ("A,2026-12-01,,2", "promo", "flag_not_binary"),
        ("A,2026-12-01,,0.5", "promo", "flag_not_binary"),
        ("A,2026-13-01,1,", "date", "date_invalid"),
        ("A,01/12/2026,1,", "date", "date_invalid"),
        ("A,1899-12-31,1,", "date", "date_too_old"),
        ("A,2031-01-01,1,", "date", "date_too_far"),
        ("=cmd(),2026-12-01,1,", "sku", "sku_formula"),
        (",2026-12-01,1,", "sku", "missing_value"),
    ],
)
def test_given_a_bad_cell_then_its_row_is_rejected_naming_column_and_problem(line: str, column: str, code: str) -> None:
    good = "\n".join(f"S{i},2026-12-01,1,0" for i in range(20))
    result = _file(f"sku,date,price,promo\n{line}\n{good}\n")
    assert result.status is IngestStatus.PARTIAL
    assert _codes(result) == [(2, column, code)]
    assert column in result.errors[0].message
    assert result.rows_rejected == 1 and result.rows_accepted == 20


def test_given_the_same_sku_and_date_twice_then_both_rows_are_rejected() -> None:
    good = "\n".join(f"S{i},2026-12-01,1,0" for i in range(20))
    result = _file(f"sku,date,price,promo\nA,2026-12-01,1,\n{good}\nA,2026-12-01,2,\n")
    assert {(e.row, e.code) for e in result.errors} == {(2, "duplicate_row"), (23, "duplicate_row")}
    assert "A" not in result.values["price"]


def test_given_too_many_bad_rows_then_nothing_is_accepted() -> None:
    result = _file("sku,date,price,promo\nA,2026-12-01,NaN,\nB,2026-12-01,1,\n")
    assert result.status is IngestStatus.REJECTED
    assert result.errors[0].code == "too_many_rejected_rows"
    assert result.values == {} and result.rows_accepted == 0


def test_given_a_semicolon_gzip_file_with_a_bom_then_it_reads_the_same() -> None:
    raw = gzip.compress("\ufeffunique_id;ds;price\nA;2026-12-01;3\n".encode())
    result = ingest_driver_file(io.BytesIO(raw), DRIVERS, TODAY)
    assert result.values == {"price": {"A": {"2026-12-01": 3.0}}}


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_file"),
        (b"PAR1....", "unsupported_format"),
        (b"\xff\xfe\x00x", "not_utf8"),
        (b"item,day,price\n", "missing_columns"),
        (b"sku,date\nA,2026-12-01\n", "missing_columns"),
        (b"sku,date,price,Price\n", "duplicate_columns"),
    ],
)
def test_given_an_unusable_file_then_it_is_rejected_whole(content: bytes, code: str) -> None:
    result = ingest_driver_file(io.BytesIO(content), DRIVERS, TODAY)
    assert result.status is IngestStatus.REJECTED and result.errors[0].code == code


def test_given_a_file_over_the_size_limit_then_it_is_rejected() -> None:
    result = _file("sku,date,price\n" + "A,2026-12-01,1\n" * 10, DriverLimits(max_raw_bytes=50))
    assert result.errors[0].code == "file_too_large"


def test_given_json_records_then_they_are_checked_like_rows_and_an_undeclared_key_rejects_all() -> None:
    ok = ingest_driver_records(
        [{"sku": "A", "date": "2026-12-01", "values": {"price": 2, "promo": None}}] * 1
        + [{"sku": "B", "date": "2026-12-01", "values": {"promo": 1}}],
        DRIVERS,
        TODAY,
    )
    assert ok.status is IngestStatus.SUCCEEDED
    assert ok.values == {"price": {"A": {"2026-12-01": 2.0}}, "promo": {"B": {"2026-12-01": 1.0}}}
    bad = ingest_driver_records([{"sku": "A", "date": "2026-12-01", "values": {"colour": 1}}], DRIVERS, TODAY)
    assert bad.status is IngestStatus.REJECTED and _codes(bad) == [(None, "colour", "undeclared_driver")]
    nan = ingest_driver_records(
        [{"sku": "A", "date": "2026-12-01", "values": {"price": float("nan")}}]
        + [{"sku": f"S{i}", "date": "2026-12-01", "values": {"price": "1"}} for i in range(20)],
        DRIVERS,
        TODAY,
    )
    assert _codes(nan) == [(1, "price", "value_not_finite")]


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("price", True),
        ("promo_2", True),
        ("Price", False),
        ("2x", False),
        ("a" * 41, False),
        ("values", False),
        ("a-b", False),
    ],
)
def test_driver_names(name: str, ok: bool) -> None:
    assert (name_problem(name) is None) is ok


# ---------------------------------------------------------------- merge
UPLOADS = ["upl_000000000001aaaaaaaa", "upl_000000000002aaaaaaaa", "upl_000000000003aaaaaaaa"]
SENT = [
    {"2026-12-01": 1.0, "2026-12-02": 2.0},
    {"2026-12-02": 5.0, "2026-12-03": 6.0},
    {"2026-12-01": 9.0},
]


def _apply(order: list[int]) -> dict[str, float]:
    stored: StoredValues | None = None
    for i in order:
        stored = merge_values(stored, SENT[i], UPLOADS[i]) or stored
    assert stored is not None
    return decode_values(encode_values(stored)).as_points()


def test_given_uploads_in_any_order_then_the_store_equals_creation_order() -> None:
    expected = {"2026-12-01": 9.0, "2026-12-02": 5.0, "2026-12-03": 6.0}
    for order in itertools.permutations(range(3)):
        assert _apply(list(order)) == expected


def test_given_the_same_upload_again_then_nothing_changes() -> None:
    once = merge_values(None, SENT[0], UPLOADS[0])
    assert once is not None
    assert merge_values(once, SENT[0], UPLOADS[0]) is None
    assert encode_values(once) == encode_values(decode_values(encode_values(once)))


# ---------------------------------------------------------------- roll-up
DAYS = {f"2026-11-{d:02d}": float(d) for d in range(23, 31)} | {"2026-12-01": 100.0}


@pytest.mark.parametrize(
    ("rule", "weekly"),
    [
        ("mean", {"2026-11-23": sum(range(23, 30)) / 7, "2026-11-30": 65.0}),
        ("sum", {"2026-11-23": float(sum(range(23, 30))), "2026-11-30": 130.0}),
        ("max", {"2026-11-23": 29.0, "2026-11-30": 100.0}),
        ("last", {"2026-11-23": 29.0, "2026-11-30": 100.0}),
    ],
)
def test_roll_up_to_iso_weeks_by_each_rule(rule: str, weekly: dict[str, float]) -> None:
    assert roll_up(DAYS, rule, "W") == pytest.approx(weekly)


def test_roll_up_to_months_and_sunday_weeks() -> None:
    assert roll_up(DAYS, "sum", "M") == {"2026-11-01": float(sum(range(23, 31))), "2026-12-01": 100.0}
    assert set(roll_up(DAYS, "last", "W", week_start=6)) == {"2026-11-22", "2026-11-29"}
    assert roll_up(DAYS, "last", "D") == DAYS
    with pytest.raises(ValueError, match="median"):
        roll_up(DAYS, "median", "W")
