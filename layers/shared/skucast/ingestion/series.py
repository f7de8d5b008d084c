"""The canonical stored form of one SKU's demand: a dense daily float64 array from a start date.

Merge semantics: dates in the new points are set (added, or overwritten by the newer upload), dates
only in the existing series keep their value, and every day in between with no value is 0 (no
demand recorded = zero demand).

Encoding, version 1 (little-endian):
    byte 0     format version (1)
    bytes 1-4  start, int32 days since 1970-01-01
    bytes 5-8  number of days, uint32
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

FORMAT_VERSION = 1
MAX_ENCODED_BYTES = 350 * 1024
_HEADER = struct.Struct("<BiI")
_EPOCH = np.datetime64("1970-01-01", "D")
_VALUE = np.dtype("<f8")


@dataclass(frozen=True, eq=False)
class DemandSeries:
    start: dt.date
    values: np.ndarray  # float64, one value per day from `start`

    def __post_init__(self) -> None:
        values = np.array(self.values, dtype=np.float64)  # a private copy, frozen below
        values.flags.writeable = False
        object.__setattr__(self, "values", values)

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=len(self.values) - 1)

    @property
    def start_day(self) -> int:
        return _day(self.start)

    def dates(self) -> np.ndarray:
        return np.datetime64(self.start, "D") + np.arange(len(self.values))

    def to_dict(self) -> dict[dt.date, float]:
        return dict(zip(self.dates().astype(object), self.values.tolist(), strict=True))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DemandSeries):
            return NotImplemented
        return self.start == other.start and np.array_equal(self.values, other.values)

    __hash__ = None  # type: ignore[assignment]


def _day(value: dt.date) -> int:
    return int((np.datetime64(value, "D") - _EPOCH).astype(np.int64))


def merge(existing: DemandSeries | None, points: SkuPoints) -> DemandSeries:
    """Overlay `points` (unique dates) on `existing`; the span grows to cover both."""
    days = (points.dates.astype("datetime64[D]") - _EPOCH).astype(np.int64)
    if not len(days):
        if existing is None:
            raise ValueError("nothing to merge: no existing series and no points")
        return existing
    low, high = int(days.min()), int(days.max())
    if existing is not None and len(existing.values):
        low = min(low, existing.start_day)
        high = max(high, existing.start_day + len(existing.values) - 1)
    values = np.zeros(high - low + 1, np.float64)
    if existing is not None and len(existing.values):
        offset = existing.start_day - low
        values[offset : offset + len(existing.values)] = existing.values
    values[days - low] = points.quantities
    start = (_EPOCH + np.timedelta64(low, "D")).astype(object)
    return DemandSeries(start, values)


def encode(series: DemandSeries) -> bytes:
    values = np.ascontiguousarray(series.values, dtype=_VALUE) + 0.0  # -0.0 and 0.0 encode alike
    shuffled = values.view(np.uint8).reshape(-1, 8).T.tobytes()
    blob = _HEADER.pack(FORMAT_VERSION, series.start_day, len(values)) + zlib.compress(shuffled, 6)
    if len(blob) > MAX_ENCODED_BYTES:
        raise ValueError(f"series encodes to {len(blob)} bytes, over {MAX_ENCODED_BYTES}")
    return blob


def decode(blob: bytes) -> DemandSeries:
    if len(blob) < _HEADER.size:
        raise ValueError("encoded series is truncated")
    version, start_day, count = _HEADER.unpack_from(blob)
    if version != FORMAT_VERSION:
        raise ValueError(f"unknown series format version {version}")
    inflater = zlib.decompressobj()
    # Bounded inflate: never more than the header promises, so a forged blob cannot balloon.
    try:
        shuffled = inflater.decompress(blob[_HEADER.size :], count * 8 + 1)
    except zlib.error:
        raise ValueError("encoded series is corrupt") from None
    if len(shuffled) != count * 8 or not inflater.eof:
        raise ValueError("encoded series is corrupt")
    raw = np.frombuffer(shuffled, np.uint8).reshape(8, count).T.copy()
    values = raw.view(_VALUE).reshape(count).astype(np.float64)
    start = (_EPOCH + np.timedelta64(start_day, "D")).astype(object)
    return DemandSeries(start, values)
