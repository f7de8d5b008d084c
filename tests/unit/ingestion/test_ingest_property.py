"""Property: for any file mixing valid and invalid rows, exactly the valid rows are accepted, and the
stored series (merge into an existing one, encode, decode) equals a plain-Python reference merge."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import math
import re

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skucast.ingestion import DemandSeries, IngestLimits, decode, encode, ingest_file, merge

TODAY = dt.date(2024, 6, 1)
LIMITS = IngestLimits(max_rejected_share=1.0, max_sku_length=8)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")

skus = st.one_of(
    st.sampled_from(["A", "B", "C", "sku-9"]),
    st.sampled_from(["", " ", "=X", "-1", "@a", "A\x01", "LONGER-THAN-8", " A "]),
)
dates = st.one_of(
    st.dates(dt.date(2023, 12, 25), dt.date(2024, 1, 6)).map(dt.date.isoformat),
    st.sampled_from(["2023-02-30", "2024-13-01", "2024-1-1", "", "x", "1899-12-31", "2024-06-02", "2024-06-03"]),
)
quantities = st.one_of(
    st.integers(0, 50).map(str),
    st.sampled_from(
        [
            *("1.5", " 2 ", "0.0", "-0", "+3", "1e2", ".5", "-1", "nan", "inf", "1e309", "abc", "", "1,5"),
            *("1e15", "1.1e15", "1e307", "0.000001", "9e-7", "1e-200"),
        ]
    ),
)
rows = st.lists(st.tuples(skus, dates, quantities), max_size=40)


def reference_valid(sku: str, date: str, quantity: str) -> tuple[str, dt.date, float] | None:
    """The contract in plain Python, row by row."""
    date, quantity = date.strip(), quantity.strip()  # the SKU is kept as sent, spaces included
    if not sku.strip() or len(sku) > 8 or sku.strip()[0] in "=+-@" or any(ord(c) < 32 for c in sku):
        return None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        return None
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        return None
    if not dt.date(1900, 1, 1) <= day <= TODAY + dt.timedelta(days=1):
        return None
    if not _NUMBER.match(quantity):
        return None
    value = float(quantity)
    if not math.isfinite(value) or value < 0 or not (value == 0 or 1e-6 <= value <= 1e15):
        return None
    return sku, day, value + 0.0


def quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\n\r') else cell


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=rows,
    aggregate=st.sampled_from(["reject", "sum"]),
    existing_values=st.lists(st.integers(0, 9), max_size=6),
    block=st.sampled_from([128, 1024 * 1024]),  # tiny blocks: many batches, per-block dictionaries
)
def test_given_any_mix_of_rows_when_ingested_then_exactly_the_valid_rows_are_stored(
    rows: list[tuple[str, str, str]], aggregate: str, existing_values: list[int], block: int
) -> None:
    text = "sku,date,quantity\n" + "".join(",".join(map(quote, row)) + "\n" for row in rows)
    limits = dataclasses.replace(LIMITS, max_line_bytes=block)
    result = ingest_file(io.BytesIO(text.encode()), aggregate=aggregate, limits=limits, today=TODAY)

    valid = [(i, v) for i, row in enumerate(rows) if (v := reference_valid(*row)) is not None]
    blank = sum(1 for row in rows if not any(row))
    groups: dict[tuple[str, dt.date], list[float]] = {}
    for _, (sku, day, value) in valid:
        groups.setdefault((sku, day), []).append(value)
    expected: dict[str, dict[dt.date, float]] = {}
    kept = {
        group: values
        for group, values in groups.items()
        if (sum(values) <= 1e15 if aggregate == "sum" else len(values) == 1)
    }
    for (sku, day), values in kept.items():
        expected.setdefault(sku, {})[day] = sum(values)
    accepted_rows = sum(len(v) for v in kept.values())

    assert result.points.to_dict() == expected
    assert result.rows_total == len(rows) - blank
    assert result.rows_accepted == accepted_rows
    assert result.rows_rejected == result.rows_total - accepted_rows

    existing = DemandSeries(dt.date(2024, 1, 1), np.array(existing_values, float)) if existing_values else None
    for sku in result.points:
        stored = decode(encode(merge(existing, result.points[sku])))
        reference = dict(existing.to_dict()) if existing is not None else {}
        reference.update(expected[sku])
        first, last = min(reference), max(reference)
        dense = {first + dt.timedelta(days=d): 0.0 for d in range((last - first).days + 1)}
        dense.update(reference)
        assert stored.to_dict() == dense
