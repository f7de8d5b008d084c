"""What each tier may ask of the service (request rates live in template.yaml's usage plans)."""

from __future__ import annotations

from dataclasses import dataclass

PERIOD_NAMES = {"D": ("day", "days"), "W": ("week", "weeks"), "M": ("month", "months")}


@dataclass(frozen=True)
class Horizons:
    """The longest horizon a tier forecasts, in periods of each frequency."""

    D: int
    W: int
    M: int

    def limit(self, frequency: str) -> int:
        return int(getattr(self, frequency))

    def describe(self, frequency: str) -> str:
        n = self.limit(frequency)
        return f"{n} {PERIOD_NAMES[frequency][n != 1]}"


@dataclass(frozen=True)
class TierLimits:
    max_horizon: Horizons
    max_skus_per_run: int
    max_active_runs: int  # QUEUED or RUNNING at once
    max_batches_in_flight: int  # forecast batches queued or running at once, across the tenant's runs
    min_schedule_seconds: int = 86_400  # the shortest time between two scheduled reforecasts


TIERS: dict[str, TierLimits] = {
    "free": TierLimits(
        max_horizon=Horizons(D=92, W=13, M=3), max_skus_per_run=5_000, max_active_runs=1,
        max_batches_in_flight=2,
        min_schedule_seconds=86_400,  # daily
    ),
    "standard": TierLimits(
        max_horizon=Horizons(D=366, W=52, M=12), max_skus_per_run=200_000, max_active_runs=3,
        max_batches_in_flight=16,
        min_schedule_seconds=3_600,  # hourly
    ),
    "enterprise": TierLimits(
        max_horizon=Horizons(D=366, W=104, M=24),
        max_skus_per_run=2_000_000,
        max_active_runs=10,
        max_batches_in_flight=256,
        min_schedule_seconds=900,  # every 15 minutes
    ),
}


def limits_for(tier: str | None) -> TierLimits:
    return TIERS.get(tier or "free", TIERS["free"])
