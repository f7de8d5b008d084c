"""Anomalies in demand history, between the store and the detector (skucast/anomalies.py).

- Ingestion (`flags_after`): when a merge round changes SKUs' series, their flags are evaluated
  again around the upload's periods (and the periods each series grew by), from the series as
  merged, in one detector pass for the round, and written in the same put as each series
  (services/demand.apply_points). A series the upload did not change keeps the flags written
  with it. Both ingestion doors (file and POST /demand) merge through apply_points. Cost per SKU:
  the periods within 2 x RADIUS of what arrived (a daily append re-evaluates the last ~164 days
  against the ~328 before them), never the tenant.
- Reading (`flagged_dates`): GET /skus/{sku}/demand marks the flagged periods.
- Runs (`cleaned_values`): a run with `history_cleaning: "flagged"` replaces the flagged periods
  by their robust fitted values before fitting; the series as stored is unchanged.
"""

from __future__ import annotations

import numpy as np

from skucast import anomalies as detector
from skucast.ingestion import AcceptedPoints, DemandSeries
from skucast.ingestion.series import period_numbers
from skucast.repositories.demand import Owners, StoredSeries


def observed_days(series: DemandSeries, owners: Owners | None) -> np.ndarray | None:
    """Which periods are observations: all of them (None), except, when the series says missing
    periods are unknown, those no upload had a row for (series stored before provenance: all)."""
    if series.missing != "unknown" or owners is None:
        return None
    return np.asarray(owners.index > 0)


def _previous(before: StoredSeries | None) -> detector.FlagSet | None:
    """What the stored flags were evaluated on: the series they were written with."""
    if before is None or before.anomalies is None:
        return None
    series = before.series
    observed = observed_days(series, before.owners)
    count = len(series.values) if observed is None else int(observed.sum())
    return detector.FlagSet(
        before.anomalies.flagged,
        series.start_period,
        len(series.values),
        series.missing,
        count,
        before.anomalies.version,
    )


def flags_after(
    stored: dict[str, StoredSeries], writes: dict[str, tuple[DemandSeries, Owners]], points: AcceptedPoints
) -> dict[str, detector.StoredFlags]:
    """The flags of each series a merge round is about to write (`writes`: the series and
    provenance after the upload's `points`; `stored`: what they were before), for the grains the
    detector flags; the other series carry no flags. One detector pass for the whole round."""
    skus = [sku for sku, (series, _) in writes.items() if series.granularity in detector.FLAGGED_GRAINS]
    evaluations = []
    for sku in skus:
        series, owners = writes[sku]
        evaluations.append(
            detector.Evaluation(
                series.values,
                observed_days(series, owners),
                series.granularity,
                series.start_period,
                series.missing,
                period_numbers(points[sku].dates, series.granularity),
                _previous(stored.get(sku)),
            )
        )
    flags = detector.reflag_many(evaluations)
    return {sku: detector.StoredFlags(f.flagged, f.version) for sku, f in zip(skus, flags, strict=True)}


def flagged_positions(stored: StoredSeries) -> np.ndarray:
    """Positions in the stored series' values of its flagged periods."""
    if stored.anomalies is None or not stored.anomalies.flagged:
        return np.zeros(0, np.int64)
    positions = np.asarray(stored.anomalies.flagged, np.int64) - stored.series.start_period
    return positions[(positions >= 0) & (positions < len(stored.series.values))]


def cleaned_values(stored: StoredSeries) -> tuple[np.ndarray, int]:
    """The series' values with its flagged periods replaced by their robust fitted values, and
    how many were replaced."""
    series = stored.series
    return detector.cleaned(series.values, observed_days(series, stored.owners), flagged_positions(stored))
