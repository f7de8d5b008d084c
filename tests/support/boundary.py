"""Test data for the storage boundary (repositories/dynamo.py): JSON values of every kind, and
how to compare what was read back with what was written. Shared by unit and integration tests."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

# Strings a text-level transform of JSON would break, alone and inside longer text.
TRAPS = ["NaN", "Infinity", "-Infinity", "null", "1e999", "true", "Infinity Scarf", "NaN-Bread", '"', "\\"]
text = st.one_of(
    st.sampled_from(TRAPS),
    st.text(),
    st.tuples(st.text(max_size=5), st.sampled_from(TRAPS), st.text(max_size=5)).map("".join),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e125, max_value=1e125),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(text.filter(bool), inner, max_size=5)),
    max_leaves=25,
)


def fits_a_number(x: int | float) -> bool:
    """What DynamoDB's Number holds: finite, 0 or 1E-130..9.99E+125 in magnitude, 38 digits."""
    if isinstance(x, float) and not math.isfinite(x):
        return False
    if x == 0:
        return True
    d = Decimal(repr(x)) if isinstance(x, float) else Decimal(x)
    digits = str(abs(int(d))).rstrip("0") if isinstance(x, int) else "".join(map(str, d.as_tuple().digits))
    return -130 <= d.adjusted() <= 125 and len(digits) <= 38


def storable_everywhere(value: Any) -> bool:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int | float):
        return fits_a_number(value)
    if isinstance(value, dict):
        return all(storable_everywhere(v) for v in value.values())
    return all(storable_everywhere(v) for v in value)


def assert_same(back: Any, sent: Any, where: str = "$") -> None:
    """Equal, and of the same kind: strings identical, keys identical, floats exactly (read back
    as int when integral, as DynamoDB numbers always have)."""
    if isinstance(sent, bool) or sent is None or isinstance(sent, str):
        assert type(back) is type(sent) and back == sent, where
    elif isinstance(sent, float):
        assert isinstance(back, int | float) and not isinstance(back, bool), where
        assert float(back) == sent, (where, back, sent)
    elif isinstance(sent, int):
        assert type(back) is int and back == sent, where
    elif isinstance(sent, dict):
        assert isinstance(back, dict) and sorted(back) == sorted(sent), where  # a map has no order
        for key in sent:
            assert_same(back[key], sent[key], f"{where}.{key}")
    else:
        assert isinstance(back, list) and len(back) == len(sent), where
        for i, (b, s) in enumerate(zip(back, sent, strict=True)):
            assert_same(b, s, f"{where}[{i}]")
