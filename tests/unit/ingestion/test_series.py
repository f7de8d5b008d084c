"""DemandSeries: merge semantics and a compact, exact, deterministic encoding."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from skucast.ingestion import DemandSeries, SkuPoints, decode, encode, merge
from skucast.ingestion.series import MAX_ENCODED_BYTES


def points(values: dict[str, float]) -> SkuPoints:
    return SkuPoints(np.array(list(values), "datetime64[D]"), np.array(list(values.values()), np.float64))


def test_given_no_existing_series_when_merged_then_gaps_between_points_are_zero() -> None:
    series = merge(None, points({"2024-01-01": 2, "2024-01-04": 5}))

    assert series.start == dt.date(2024, 1, 1) and series.values.tolist() == [2, 0, 0, 5]


def test_given_an_existing_series_when_merged_then_new_dates_extend_and_overlaps_are_overwritten() -> None:
    existing = DemandSeries(dt.date(2024, 1, 3), np.array([1.0, 2.0, 3.0]))

    series = merge(existing, points({"2023-12-31": 7, "2024-01-04": 0, "2024-01-08": 9}))

    assert series.start == dt.date(2023, 12, 31)
    assert series.values.tolist() == [7, 0, 0, 1, 0, 3, 0, 0, 9]
    assert existing.values.tolist() == [1, 2, 3]  # the stored value is never mutated


def test_given_no_points_when_merged_then_the_existing_series_is_unchanged_and_none_is_an_error() -> None:
    existing = DemandSeries(dt.date(2024, 1, 1), np.array([1.0]))
    empty = points({})

    assert merge(existing, empty) is existing
    with pytest.raises(ValueError):
        merge(None, empty)


@pytest.mark.parametrize(
    "values",
    [
        np.array([]),
        np.array([0.0, -0.0, 1e-310, 0.1, 1 / 3, 2.0**53 + 2, 1e308]),
        np.random.default_rng(3).poisson(4, 3653).astype(float),
        np.random.default_rng(4).random(3653),
    ],
    ids=["empty", "awkward_floats", "ten_years_counts", "ten_years_random"],
)
def test_given_a_series_when_encoded_and_decoded_then_it_roundtrips_exactly(values: np.ndarray) -> None:
    series = DemandSeries(dt.date(2015, 1, 1), values)

    blob = encode(series)

    assert decode(blob) == series
    assert np.array_equal(decode(blob).values.view(np.uint64), (values + 0.0).view(np.uint64))
    assert len(blob) < 40_000  # ten years of daily values fit a DynamoDB item with room to spare


def test_given_equal_series_built_differently_when_encoded_then_the_bytes_are_identical() -> None:
    a = merge(None, points({"2024-01-01": 1, "2024-01-03": 0.0}))
    b = merge(merge(None, points({"2024-01-03": -0.0})), points({"2024-01-01": 1}))

    assert encode(a) == encode(b)


def test_given_an_integer_series_when_encoded_then_it_is_far_smaller_than_raw_floats() -> None:
    series = DemandSeries(dt.date(2015, 1, 1), np.random.default_rng(5).poisson(2, 3653).astype(float))

    assert len(encode(series)) < 3653 * 8 / 4


def test_given_a_dense_random_series_since_1900_when_encoded_then_it_stays_under_the_item_budget() -> None:
    series = DemandSeries(dt.date(1900, 1, 1), np.random.default_rng(6).random(46_000))

    assert len(encode(series)) <= MAX_ENCODED_BYTES


@pytest.mark.parametrize("blob", [b"", b"\x02" + bytes(8), b"\x01" + bytes(8) + b"junk"])
def test_given_corrupt_bytes_when_decoded_then_a_value_error_is_raised(blob: bytes) -> None:
    with pytest.raises(ValueError):
        decode(blob)


def test_given_a_forged_length_when_decoded_then_it_is_refused_without_inflating_more() -> None:
    blob = bytearray(encode(DemandSeries(dt.date(2024, 1, 1), np.zeros(10))))
    blob[5:9] = (5).to_bytes(4, "little")

    with pytest.raises(ValueError):
        decode(bytes(blob))
