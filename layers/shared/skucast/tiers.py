"""What each tier may ask of the service (request rates live in template.yaml's usage plans)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TierLimits:
    max_horizon_days: int  # the horizon in days (a W horizon of 4 is 28 days)
    max_skus_per_run: int
    max_active_runs: int  # QUEUED or RUNNING at once
    max_batches_in_flight: int  # forecast batches queued or running at once, across the tenant's runs


TIERS: dict[str, TierLimits] = {
    "free": TierLimits(
        max_horizon_days=92, max_skus_per_run=5_000, max_active_runs=1, max_batches_in_flight=2
    ),
    "standard": TierLimits(
        max_horizon_days=366, max_skus_per_run=200_000, max_active_runs=3, max_batches_in_flight=16
    ),
    "enterprise": TierLimits(
        max_horizon_days=366 * 2, max_skus_per_run=2_000_000, max_active_runs=10, max_batches_in_flight=256
    ),
}


def limits_for(tier: str | None) -> TierLimits:
    return TIERS.get(tier or "free", TIERS["free"])
