"""Weekly and monthly series: whole periods from their first day, merged and encoded at their grain."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from skucast.ingestion import DemandSeries, SkuPoints, decode, encode, fits_grain, infer_granularity, merge
from skucast.ingestion.series import FORMAT_VERSION, GRAIN_FORMAT_VERSION


def points(values: dict[str, float]) -> SkuPoints:
    return SkuPoints(np.array(list(values), "datetime64[D]"), np.array(list(values.values()), np.float64))


def dates(*days: str) -> np.ndarray:
    return np.array(days, "datetime64[D]")


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (("2025-01-01", "2025-02-01", "2025-04-01"), "M"),
        (("2025-01-06", "2025-01-13", "2025-03-03"), "W"),  # Mondays
        (("2025-01-05", "2025-01-19"), "W"),  # Sundays
        (("2025-01-01", "2025-01-02"), "D"),
        (("2025-01-01", "2025-02-01", "2025-02-02"), "D"),
        (("2025-01-01", "2025-01-01"), None),  # one distinct date shows no grain
        ((), None),
    ],
)
def test_given_an_uploads_dates_then_its_grain_is_inferred(days: tuple[str, ...], expected: str | None) -> None:
    assert infer_granularity(dates(*days)) == expected


def test_given_a_weekly_sku_then_only_its_own_weekday_fits() -> None:
    assert fits_grain(dates("2025-01-06", "2025-01-20"), "W", week_day=0)
    assert not fits_grain(dates("2025-01-06", "2025-01-21"), "W")
    assert not fits_grain(dates("2025-01-05"), "W", week_day=0)
    assert fits_grain(dates("2025-01-05", "2025-01-31"), "D")
    assert not fits_grain(dates("2025-01-01", "2025-01-31"), "M")


def test_given_monthly_points_when_merged_then_one_value_a_month_with_gaps_zero() -> None:
    series = merge(None, points({"2024-11-01": 5000, "2025-02-01": 4000}), "M")

    assert (series.start, series.granularity, series.end) == (dt.date(2024, 11, 1), "M", dt.date(2025, 2, 1))
    assert series.values.tolist() == [5000, 0, 0, 4000]
    assert series.dates().astype(str).tolist() == ["2024-11-01", "2024-12-01", "2025-01-01", "2025-02-01"]

    later = merge(series, points({"2024-09-01": 1, "2025-01-01": 7}))  # a stored series keeps its grain
    assert later.granularity == "M" and later.start == dt.date(2024, 9, 1)
    assert later.values.tolist() == [1, 0, 5000, 0, 7, 4000]


def test_given_sunday_weeks_when_merged_then_weeks_start_on_sundays() -> None:
    series = merge(None, points({"2025-01-12": 3, "2025-01-26": 4}), "W")
    earlier = merge(series, points({"2024-12-29": 1}))

    assert earlier.start == dt.date(2024, 12, 29) and earlier.start.weekday() == 6
    assert earlier.values.tolist() == [1, 0, 3, 0, 4]
    assert earlier.end == dt.date(2025, 1, 26)
    assert earlier.period_index(dates("2025-01-12")).tolist() == [2]


@pytest.mark.parametrize(("start", "grain"), [(dt.date(2024, 3, 1), "M"), (dt.date(2024, 3, 4), "W")])
def test_given_a_coarse_series_when_encoded_then_its_grain_round_trips(start: dt.date, grain: str) -> None:
    series = DemandSeries(start, np.arange(30, dtype=float) * 1.5, grain)

    blob = encode(series)

    assert blob[0] == GRAIN_FORMAT_VERSION and decode(blob) == series and decode(blob).granularity == grain
    assert decode(blob) != DemandSeries(start, series.values, "D")


def test_given_a_daily_series_then_its_bytes_are_the_version_1_encoding_as_before() -> None:
    blob = encode(DemandSeries(dt.date(2024, 3, 1), np.ones(3)))

    assert blob[0] == FORMAT_VERSION and decode(blob).granularity == "D"


def test_given_a_monthly_series_not_starting_on_the_first_then_refused() -> None:
    with pytest.raises(ValueError):
        DemandSeries(dt.date(2024, 3, 2), np.ones(2), "M")
    blob = bytearray(encode(DemandSeries(dt.date(2024, 3, 1), np.ones(2), "M")))
    blob[9] = 7  # an unknown grain code
    with pytest.raises(ValueError):
        decode(bytes(blob))
