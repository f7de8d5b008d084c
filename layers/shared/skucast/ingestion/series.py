"""The canonical stored form of one SKU's demand: a dense float64 array, one value per period of
the SKU's grain (`granularity`), from the start period.

Granularity is a property of the data: `D` (one value per day), `W` (one per week; a week starts
on the weekday of the SKU's dates, so weeks dated Mondays are ISO weeks and weeks dated Sundays
start on Sundays) or `M` (one per calendar month, dated the 1st). A point of a coarser grain is a
whole period: a monthly point is the month's demand, never one day of a month of zeros. A
period's number (`period_numbers`) is days since 1970-01-01 for D, those days // 7 for W (dates
of one weekday give consecutive numbers) and months since 1970-01 for M.

Merge semantics: dates in the new points are set (added, or overwritten by the newer upload), dates
only in the existing series keep their value, and every period in between with no value is 0 (no
demand recorded = zero demand).

What a period with no row means is the series' `missing` policy, set by the latest upload that
touched it: "zero" (the default: sales-only exports, where a day without a row sold nothing) or
"unknown" (the period was not observed: the engine interpolates inside the history and does not
read the periods after the last row as zero demand).

Encoding (little-endian), version 1 for daily series with missing = zero (unchanged, so stored
daily series keep their bytes) and version 2 for the rest:
    byte 0     format version (1 or 2)
    bytes 1-4  start, int32 days since 1970-01-01 (the date of the first period)
    bytes 5-8  number of periods, uint32
    byte 9     version 2 only: granularity (0 D, 1 W, 2 M)
    byte 10    version 2 only: flags, bit 0 set when missing periods are unknown
    rest       zlib (level 6) of the float64 values, byte-shuffled (all first bytes, then all
               second bytes, ...) so that integer-like demand compresses well.
float64 keeps every accepted quantity exactly (float32 would round 0.1 and counts above 2^24).
The same series always gives the same bytes from the same zlib build, so an idempotency check can
compare bytes; across runtimes compare decoded series. Ten years of daily random values encode to
under 30 KB; the dense worst case (1900 to today, incompressible) is about 370 KB, so `encode`
refuses anything over MAX_ENCODED_BYTES rather than letting a DynamoDB write fail later.
"""

from __future__ import annotations

import datetime as dt
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from skucast.ingestion.model import SkuPoints

FORMAT_VERSION = 1  # daily series
GRAIN_FORMAT_VERSION = 2  # weekly and monthly series
MAX_ENCODED_BYTES = 350 * 1024
GRANULARITIES = ("D", "W", "M")
_HEADER = struct.Struct("<BiI")
MISSING = ("zero", "unknown")
_GRAIN = struct.Struct("<BB")  # granularity code, flags
_UNKNOWN_FLAG = 1
_EPOCH = np.datetime64("1970-01-01", "D")
_VALUE = np.dtype("<f8")


def period_numbers(dates: np.ndarray, granularity: str) -> np.ndarray:
    """The period number of each date (see the module docstring); dates are period starts."""
    days = (np.asarray(dates).astype("datetime64[D]") - _EPOCH).astype(np.int64)
    if granularity == "D":
        return days
    if granularity == "W":
        return days // 7
    if granularity == "M":
        return (days.astype("datetime64[D]").astype("datetime64[M]")).astype(np.int64)
    raise ValueError(f"unknown granularity {granularity!r}")


def fits_grain(dates: np.ndarray, granularity: str, week_day: int | None = None) -> bool:
    """Whether every date names a period of `granularity`: any day for D, the 1st for M, one
    weekday for W (`week_day`, 0 = Monday, when the SKU already has one)."""
    days = (np.asarray(dates).astype("datetime64[D]") - _EPOCH).astype(np.int64)
    if granularity == "D" or days.size == 0:
        return True
    if granularity == "M":
        dates = days.astype("datetime64[D]")
        return bool(np.all(dates.astype("datetime64[M]").astype("datetime64[D]") == dates))
    weekdays = (days + 3) % 7  # 1970-01-01 was a Thursday (3)
    wanted = int(weekdays[0]) if week_day is None else week_day
    return bool(np.all(weekdays == wanted))


def infer_granularity(dates: np.ndarray) -> str | None:
    """The grain the distinct dates of an upload show: all firsts of a month -> M; all one weekday
    -> W; else D. None when there are fewer than two distinct dates: one date shows no grain."""
    distinct = np.unique(np.asarray(dates).astype("datetime64[D]"))
    if distinct.size < 2:
        return None
    if fits_grain(distinct, "M"):
        return "M"
    if fits_grain(distinct, "W"):
        return "W"
    return "D"


def _date_of(number: int, granularity: str, week_day: int = 0) -> dt.date:
    if granularity == "M":
        return (np.datetime64(number, "M").astype("datetime64[D]")).astype(object)
    day = number * 7 + (week_day - 3) % 7 if granularity == "W" else number  # see fits_grain
    return (_EPOCH + np.timedelta64(day, "D")).astype(object)


@dataclass(frozen=True)
class SeriesPolicy:
    """What an upload says of its rows: their grain (None: inferred from the upload's dates) and
    what a period without a row means (`missing`)."""

    granularity: str | None = None
    missing: str = "zero"

    def __post_init__(self) -> None:
        if self.granularity is not None and self.granularity not in GRANULARITIES:
            raise ValueError(f"unknown granularity {self.granularity!r}")
        if self.missing not in MISSING:
            raise ValueError(f"unknown missing policy {self.missing!r}")


ZERO_MISSING = SeriesPolicy()  # grain inferred, missing periods zero: an upload that said nothing


@dataclass(frozen=True, eq=False)
class DemandSeries:
    start: dt.date  # the date of the first period
    values: np.ndarray  # float64, one value per period of `granularity` from `start`
    granularity: str = "D"
    missing: str = "zero"  # what a period no upload had a row for means: "zero" or "unknown"

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"unknown granularity {self.granularity!r}")
        if self.missing not in MISSING:
            raise ValueError(f"unknown missing policy {self.missing!r}")
        if not fits_grain(np.array([self.start], "datetime64[D]"), self.granularity, None):
            raise ValueError(f"{self.start} does not start a period of granularity {self.granularity}")
        values = np.array(self.values, dtype=np.float64)  # a private copy, frozen below
        values.flags.writeable = False
        object.__setattr__(self, "values", values)

    @property
    def week_day(self) -> int:
        return self.start.weekday()

    @property
    def end(self) -> dt.date:
        """The date of the last period."""
        return self.date_of(self.start_period + len(self.values) - 1)

    @property
    def start_period(self) -> int:
        return int(period_numbers(np.array([self.start], "datetime64[D]"), self.granularity)[0])

    @property
    def start_day(self) -> int:
        return _day(self.start)

    def date_of(self, period: int) -> dt.date:
        return _date_of(period, self.granularity, self.week_day)

    def dates(self) -> np.ndarray:
        """The date of every period, `datetime64[D]`."""
        n = np.arange(len(self.values))
        if self.granularity == "D":
            return np.datetime64(self.start, "D") + n
        if self.granularity == "W":
            return np.datetime64(self.start, "D") + 7 * n
        return (np.datetime64(self.start, "M") + n).astype("datetime64[D]")

    def period_index(self, dates: np.ndarray) -> np.ndarray:
        """Position of each date (a period start of this grain) in `values`; may fall outside."""
        return period_numbers(dates, self.granularity) - self.start_period

    def to_dict(self) -> dict[dt.date, float]:
        return dict(zip(self.dates().astype(object), self.values.tolist(), strict=True))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DemandSeries):
            return NotImplemented
        return (
            self.start == other.start
            and self.granularity == other.granularity
            and self.missing == other.missing
            and np.array_equal(self.values, other.values)
        )

    __hash__ = None  # type: ignore[assignment]


def _day(value: dt.date) -> int:
    return int((np.datetime64(value, "D") - _EPOCH).astype(np.int64))


def merge(
    existing: DemandSeries | None, points: SkuPoints, granularity: str | None = None, missing: str | None = None
) -> DemandSeries:
    """Overlay `points` (unique dates, periods of the series' grain) on `existing`; the span grows
    to cover both. A new series takes `granularity` (default D); `missing`, when given, is the
    series' policy from now on (default: the existing one's, else zero)."""
    grain = existing.granularity if existing is not None else (granularity or "D")
    policy = missing or (existing.missing if existing is not None else "zero")
    periods = period_numbers(points.dates, grain)
    if not len(periods):
        if existing is None:
            raise ValueError("nothing to merge: no existing series and no points")
        return existing if existing.missing == policy else DemandSeries(existing.start, existing.values, grain, policy)
    week_day = existing.week_day if existing is not None else points.dates.astype(object)[0].weekday()
    low, high = int(periods.min()), int(periods.max())
    if existing is not None and len(existing.values):
        low = min(low, existing.start_period)
        high = max(high, existing.start_period + len(existing.values) - 1)
    values = np.zeros(high - low + 1, np.float64)
    if existing is not None and len(existing.values):
        offset = existing.start_period - low
        values[offset : offset + len(existing.values)] = existing.values
    values[periods - low] = points.quantities
    return DemandSeries(_date_of(low, grain, week_day), values, grain, policy)


def encode(series: DemandSeries) -> bytes:
    values = np.ascontiguousarray(series.values, dtype=_VALUE) + 0.0  # -0.0 and 0.0 encode alike
    shuffled = values.view(np.uint8).reshape(-1, 8).T.tobytes()
    if series.granularity == "D" and series.missing == "zero":
        header = _HEADER.pack(FORMAT_VERSION, series.start_day, len(values))
    else:
        flags = _UNKNOWN_FLAG if series.missing == "unknown" else 0
        header = _HEADER.pack(GRAIN_FORMAT_VERSION, series.start_day, len(values))
        header += _GRAIN.pack(GRANULARITIES.index(series.granularity), flags)
    blob = header + zlib.compress(shuffled, 6)
    if len(blob) > MAX_ENCODED_BYTES:
        raise ValueError(f"series encodes to {len(blob)} bytes, over {MAX_ENCODED_BYTES}")
    return blob


def decode(blob: bytes) -> DemandSeries:
    if len(blob) < _HEADER.size:
        raise ValueError("encoded series is truncated")
    version, start_day, count = _HEADER.unpack_from(blob)
    body = _HEADER.size
    granularity, missing = "D", "zero"
    if version == GRAIN_FORMAT_VERSION:
        if len(blob) < body + _GRAIN.size:
            raise ValueError("encoded series is truncated")
        code, flags = _GRAIN.unpack_from(blob, body)
        if code >= len(GRANULARITIES) or flags & ~_UNKNOWN_FLAG:
            raise ValueError(f"unknown granularity code {code} or flags {flags}")
        granularity, body = GRANULARITIES[code], body + _GRAIN.size
        missing = "unknown" if flags & _UNKNOWN_FLAG else "zero"
    elif version != FORMAT_VERSION:
        raise ValueError(f"unknown series format version {version}")
    inflater = zlib.decompressobj()
    # Bounded inflate: never more than the header promises, so a forged blob cannot balloon.
    try:
        shuffled = inflater.decompress(blob[body:], count * 8 + 1)
    except zlib.error:
        raise ValueError("encoded series is corrupt") from None
    if len(shuffled) != count * 8 or not inflater.eof:
        raise ValueError("encoded series is corrupt")
    raw = np.frombuffer(shuffled, np.uint8).reshape(8, count).T.copy()
    values = raw.view(_VALUE).reshape(count).astype(np.float64)
    start = (_EPOCH + np.timedelta64(start_day, "D")).astype(object)
    return DemandSeries(start, values, granularity, missing)
