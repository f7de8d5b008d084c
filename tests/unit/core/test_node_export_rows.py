"""A hierarchy level's export rows (services/exports.node_columns, node_rows): key columns named
after their attributes unless that collides with a fixed column, unassigned keys empty, formulas
quoted."""

from __future__ import annotations

from skucast.services.exports import node_columns, node_rows


def test_given_attributes_named_like_fixed_columns_then_they_become_key_dot_columns() -> None:
    columns, keys = node_columns(["date", "brand", "lo_80"], [80])
    assert keys == ["key.date", "brand", "key.lo_80"]
    assert columns == ["node_id", "level", "key.date", "brand", "key.lo_80", "date", "mean", "lo_80", "hi_80"]
    assert len(set(columns)) == len(columns)


def test_given_a_node_then_one_row_per_date_with_its_key_unassigned_empty_and_formulas_quoted() -> None:
    doc = {
        "node_id": "n_1",
        "level": "brand",
        "key": {"category": "=SUM(A1)", "brand": None},
        "forecast": [{"date": "2026-01-01", "mean": 2.0, "lo_80": 1.0, "hi_80": 3.0}],
    }
    _, keys = node_columns(["category", "brand"], [80])
    rows = node_rows(doc, ["category", "brand"], keys, [80])
    assert rows == [
        {
            "node_id": "n_1",
            "level": "brand",
            "category": "'=SUM(A1)",
            "brand": None,
            "date": "2026-01-01",
            "mean": 2.0,
            "lo_80": 1.0,
            "hi_80": 3.0,
        }
    ]
