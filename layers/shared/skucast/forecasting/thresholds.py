"""Demand classification thresholds, apart from the classifier: skucast.settings reads and checks
them in every function, and the light functions (auth, scheduler) have no numpy."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

FREQUENCIES = ("D", "W", "M")


def check_frequency(frequency: str) -> str:
    if frequency not in FREQUENCIES:
        raise ValueError(f"frequency must be one of {FREQUENCIES}, got {frequency!r}")
    return frequency


@dataclass(frozen=True)
class ClassificationConfig:
    """Thresholds; the `_d/_w/_m` fields are in periods of that frequency.

    adi_cutoff / cv2_cutoff: Syntetos-Boylan (2005) cut-offs.
    min_periods_*: less history than this (from the first sale) is `new`: 8 weeks at D and W,
        6 months at M (a season cannot be judged from less).
    min_nonzero: fewer non-zero periods than this is `new` (ADI/CV2 from 3 points is noise).
    inactive_periods_*: this many trailing zero periods make a series `inactive` (13 weeks at
        D and W, one quarter at M).

    A deployment overrides any of them with SKUCAST_CLASSIFICATION_THRESHOLDS (skucast.settings).
    """

    adi_cutoff: float = 1.32
    cv2_cutoff: float = 0.49
    min_periods_d: int = 56
    min_periods_w: int = 8
    min_periods_m: int = 6
    min_nonzero: int = 4
    inactive_periods_d: int = 91
    inactive_periods_w: int = 13
    inactive_periods_m: int = 3

    def min_periods(self, frequency: str) -> int:
        return int(getattr(self, f"min_periods_{check_frequency(frequency).lower()}"))

    def inactive_periods(self, frequency: str) -> int:
        return int(getattr(self, f"inactive_periods_{check_frequency(frequency).lower()}"))

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, float]) -> ClassificationConfig:
        """The defaults with these fields replaced; ValueError names an unknown field or a value
        that is not a positive number (a whole one for the period counts)."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, float | int] = {}
        for name, value in overrides.items():
            if name not in fields:
                raise ValueError(f"unknown threshold {name!r} (known: {', '.join(fields)})")
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e9:
                raise ValueError(f"threshold {name!r} must be a positive number")
            if fields[name].type == "int":
                if value != int(value):
                    raise ValueError(f"threshold {name!r} must be a whole number of periods")
                value = int(value)
            values[name] = value
        return cls(**values)  # type: ignore[arg-type]
