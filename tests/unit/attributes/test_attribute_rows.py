"""Attributes validation (both doors), the versioned order-independent merge, and hierarchy level checks."""

from __future__ import annotations

import gzip
import io
import itertools

from skucast.attributes import (
    MAX_ATTRIBUTES,
    MAX_VERSIONS,
    StoredAttributes,
    VersionGone,
    decode_attributes,
    encode_attributes,
    ingest_attribute_file,
    ingest_attribute_records,
    level_problems,
    merge_attributes,
    name_problem,
)
from skucast.ingestion import IngestStatus


def _file(text: str, known: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    return ingest_attribute_file(io.BytesIO(text.encode()), known)


def _codes(result) -> list[tuple[int | None, str | None, str]]:  # type: ignore[no-untyped-def]
    return [(e.row, e.column, e.code) for e in result.errors]


def test_given_an_export_then_values_are_kept_exactly_and_empty_cells_send_nothing() -> None:
    result = _file('sku,category,brand\n"Widget, ""large""", Tools ,"Acme ""Pro"""\nÄpfel grün,Obst,\n')
    assert result.status is IngestStatus.SUCCEEDED
    assert result.values == {
        'Widget, "large"': {"category": " Tools ", "brand": 'Acme "Pro"'},
        "Äpfel grün": {"category": "Obst"},
    }


def test_given_other_delimiters_gzip_and_a_bom_then_the_file_reads_the_same() -> None:
    plain = _file("sku;category\nA;x\n")
    zipped = ingest_attribute_file(io.BytesIO(gzip.compress("\ufeffsku\tcategory\nA\tx\n".encode())))
    assert plain.values == zipped.values == {"A": {"category": "x"}}


def test_given_a_bad_header_then_the_file_is_rejected_naming_it() -> None:
    for header, code, column in (
        ("sku,Category", "invalid_attribute_name", "Category"),
        ("sku,total", "invalid_attribute_name", "total"),
        ("sku,category,category", "duplicate_columns", None),
        ("item,category", "missing_columns", None),
    ):
        result = _file(f"{header}\nA,x{',y' if header.count(',') == 2 else ''}\n")
        assert result.status is IngestStatus.REJECTED, header
        assert (result.errors[0].code, result.errors[0].column) == (code, column), header
        assert result.values == {}


def test_given_bad_rows_then_each_is_named_and_a_sku_twice_rejects_all_its_rows() -> None:
    rows = "".join(f"S{i},c\n" for i in range(60))
    result = _file("sku,category\n" + rows + "S3,d\n=SUM(A1),x\nB," + "y" * 201 + "\nC,a\u202eb\n")
    assert result.status is IngestStatus.PARTIAL
    assert ("duplicate_sku", 5) in {(c, r) for r, _, c in _codes(result)}
    assert {c for _, _, c in _codes(result)} == {
        "duplicate_sku",
        "sku_formula",
        "value_too_long",
        "value_control_character",
    }
    assert "S3" not in result.values and result.rows_rejected == 5


def test_given_too_many_rejected_rows_then_nothing_is_stored() -> None:
    result = _file("sku,category\n=A,x\n=B,y\nC,z\n")
    assert result.status is IngestStatus.REJECTED and result.values == {}
    assert result.errors[0].code == "too_many_rejected_rows"


def test_given_too_many_attribute_names_then_the_file_is_rejected() -> None:
    known = tuple(f"a{i}" for i in range(MAX_ATTRIBUTES))
    assert _file("sku,a0\nA,x\n", known).status is IngestStatus.SUCCEEDED
    assert _file("sku,extra\nA,x\n", known).errors[0].code == "too_many_attributes"


def test_records_door_null_removes_empty_changes_nothing_and_non_strings_are_row_errors() -> None:
    result = ingest_attribute_records(
        [
            {"sku": "A", "attributes": {"category": None, "brand": "", "store": "s1"}},
            {"sku": "B", "attributes": {"category": 3}},
            {"sku": "C"},
        ]
        + [{"sku": f"S{i}", "attributes": {"store": "s"}} for i in range(20)]
    )
    assert result.values["A"] == {"category": None, "store": "s1"}
    assert {(r, c) for r, _, c in _codes(result)} == {(2, "value_not_string"), (3, "invalid_record")}
    bad = ingest_attribute_records([{"sku": "A", "attributes": {"Bad Name": "x"}}])
    assert bad.status is IngestStatus.REJECTED and bad.errors[0].column == "Bad Name"


def test_names() -> None:
    assert name_problem("category") is None
    assert name_problem("sku") and name_problem("9a") and name_problem("a" * 41)


# ---------------------------------------------------------------- merge and versions
def _apply(order: list[tuple[str, dict[str, str | None]]]) -> StoredAttributes | None:
    stored = None
    for version, (upload, values) in enumerate(order, start=1):
        stored = merge_attributes(stored, values, upload, version, f"t{version}") or stored
    return stored


def test_given_uploads_in_any_order_or_twice_then_the_current_attributes_are_the_same() -> None:
    uploads = [
        ("upl_1", {"category": "a", "brand": "x"}),
        ("upl_2", {"category": "b", "brand": None}),
        ("upl_3", {"store": "s", "category": "b"}),
    ]
    expected = {"category": "b", "store": "s"}
    for order in itertools.permutations(uploads):
        stored = _apply(list(order) + list(order))
        assert stored is not None and stored.current == expected, order


def test_given_a_change_then_earlier_versions_read_as_they_were() -> None:
    stored = merge_attributes(None, {"category": "a"}, "upl_1", 1, "t1")
    assert stored is not None
    assert merge_attributes(stored, {"category": "a"}, "upl_1", 2, "t2") is None  # nothing changes
    later = merge_attributes(stored, {"category": "b", "brand": "x"}, "upl_2", 5, "t5")
    assert later is not None
    assert (later.as_of(0), later.as_of(1), later.as_of(4), later.as_of(5)) == (
        {},
        {"category": "a"},
        {"category": "a"},
        {"brand": "x", "category": "b"},
    )
    assert decode_attributes(encode_attributes(later)) == later
    assert encode_attributes(decode_attributes(encode_attributes(later))) == encode_attributes(later)


def test_given_more_changes_than_kept_then_old_versions_fold_and_reading_before_them_is_refused() -> None:
    stored = None
    for v in range(1, MAX_VERSIONS + 11):
        stored = merge_attributes(stored, {"category": f"c{v}"}, f"upl_{v:04d}", v, "t")
    assert stored is not None and len(stored.history) == MAX_VERSIONS and stored.base_version == 10
    assert stored.as_of(10) == {"category": "c10"} and stored.as_of(MAX_VERSIONS + 10)["category"] == "c110"
    try:
        stored.as_of(9)
        raise AssertionError("expected VersionGone")
    except VersionGone:
        pass


def test_hierarchy_levels_each_problem_named() -> None:
    known = {"category", "brand"}
    assert level_problems(["category", "brand"], known) == []
    assert level_problems(["category"], known) == []  # one level is allowed
    assert [p[1] for p in level_problems([], known)] == ["empty_levels"]
    assert [p[:2] for p in level_problems(["category", "category", "colour", "sku", 3], known)] == [
        ("levels[1]", "duplicate_level"),
        ("levels[2]", "unknown_attribute"),
        ("levels[3]", "invalid_level"),
        ("levels[4]", "invalid_level"),
    ]


def test_given_big_changes_then_the_history_folds_by_size_and_the_item_stays_under_400_kb() -> None:
    import random

    rng = random.Random(3)
    stored = None
    for v in range(1, 41):  # every change rewrites 50 attributes of 200 random characters (4-byte ones too)
        values = {f"a{i}": "".join(rng.choice("ab€😀") for _ in range(200)) for i in range(50)}
        stored = merge_attributes(stored, dict(values), f"upl_{v:04d}", v, "t")
    assert stored is not None and len(stored.history) < 40 and stored.base_version > 0
    assert len(encode_attributes(stored)) < 400_000
    assert stored.as_of(40) == stored.current
