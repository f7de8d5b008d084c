"""Anomalies in history, the domain (skucast/anomalies.py): what the detector flags on constructed
series, what it leaves alone, and that re-evaluating around new points equals a whole detection."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skucast import anomalies as detector
from skucast.anomalies import MIN_PERIODS, Evaluation, FlagSet, cleaned, detect, reflag, reflag_many

WEEKLY = np.array([0.7, 1.0, 1.1, 1.0, 1.2, 1.5, 0.5])


def _seasonal(days: int = 364, level: float = 80.0, seed: int = 1) -> np.ndarray:
    """A weekly season with bounded noise (+-15 %): no outlier by construction. How often real,
    unbounded noise is flagged is measured by the bench (bench/anomalies.py)."""
    rng = np.random.default_rng(seed)
    mean = level * WEEKLY[np.arange(days) % 7]
    return np.round(mean * rng.uniform(0.85, 1.15, days))


def _intermittent(days: int = 364, p: float = 0.15, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.uniform(size=days) < p, 1 + rng.poisson(3, days), 0).astype(float)


def test_given_a_clean_weekly_seasonal_series_then_nothing_is_flagged() -> None:
    # Its busiest weekday (1.5x) and quietest (0.5x) are its season, not outliers.
    assert detect(_seasonal()).tolist() == []


def test_given_a_spike_and_a_dip_in_a_seasonal_series_then_both_and_only_they_are_flagged() -> None:
    values = _seasonal()
    values[100] = 5 * values[100]
    values[200] = 0.0  # a day that sold nothing in a series that sells ~80 every day
    assert detect(values).tolist() == [100, 200]


def test_given_an_intermittent_series_then_its_ordinary_sales_are_not_flagged_but_a_bulk_order_is() -> None:
    values = _intermittent()
    assert (values > 0).sum() > 40
    assert detect(values).tolist() == []
    sale = int(np.flatnonzero(values)[20])
    values[sale] = 60.0  # fifteen times a usual order
    assert detect(values).tolist() == [sale]


def test_given_a_history_shorter_than_the_minimum_then_nothing_is_flagged_even_a_huge_spike() -> None:
    values = _seasonal(MIN_PERIODS - 1)
    values[30] = 1e6
    assert detect(values).tolist() == []
    longer = _seasonal(MIN_PERIODS)
    longer[30] = 1e6
    assert detect(longer).tolist() == [30]


def test_given_unobserved_days_then_they_are_neither_used_nor_flagged() -> None:
    values = _seasonal()
    values[150:160] = 0.0
    observed = np.ones(len(values), bool)
    observed[150:160] = False  # no row: unknown, not zero demand
    assert detect(values, observed).tolist() == []
    assert set(range(150, 160)) <= set(detect(values).tolist())  # as zero demand they are dips


def test_given_weekly_or_monthly_series_then_no_flags() -> None:
    values = _seasonal()
    values[100] = 1e6
    assert detect(values, granularity="W").tolist() == []
    assert detect(values, granularity="M").tolist() == []


def test_given_a_constant_series_then_small_wiggles_are_not_flagged_and_a_jump_is() -> None:
    values = np.full(200, 100.0)
    values[50], values[120] = 104.0, 300.0
    assert detect(values).tolist() == [120]


def test_given_flagged_points_when_cleaned_then_they_take_the_fitted_value_and_nothing_else_moves() -> None:
    values = _seasonal()
    values[100] = 1000.0
    out, n = cleaned(values, None, np.array([100]))
    assert n == 1
    expected = 80 * WEEKLY[100 % 7]
    assert abs(out[100] - expected) < 0.25 * expected
    assert np.array_equal(np.delete(out, 100), np.delete(values, 100))
    sparse = _intermittent()
    sale = int(np.flatnonzero(sparse)[20])
    sparse[sale] = 60.0
    fixed, _ = cleaned(sparse, None, np.array([sale]))
    assert 1 <= fixed[sale] <= 8  # the median order size: the sale stays, its size does not


def test_given_the_same_series_then_the_same_flags() -> None:
    values = _seasonal(seed=7)
    values[[40, 90, 300]] = [900, 0, 700]
    assert detect(values).tolist() == detect(values.copy()).tolist()


# ---------------------------------------------------------------- incremental = whole
def _whole(values: np.ndarray, start: int, observed: np.ndarray | None = None) -> tuple[int, ...]:
    return tuple(int(p) + start for p in detect(values, observed, start=start))


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 420), min_size=1, max_size=4),
    corrections=st.lists(st.tuples(st.integers(0, 449), st.sampled_from([0.0, 3.0, 500.0])), max_size=4),
    seed=st.integers(0, 10_000),
)
def test_given_uploads_in_any_order_when_reflagging_around_them_then_the_flags_equal_a_whole_detection(
    cuts: list[int], corrections: list[tuple[int, float]], seed: int
) -> None:
    """Uploads that append, backfill and correct single days: re-evaluating only around each
    upload's periods (and what the series grew by) keeps the flags equal to detecting on the whole."""
    # Heavy-tailed noise, spikes of every size and a level shift: many flags hang on their context.
    rng = np.random.default_rng(seed)
    full = np.round(rng.gamma(1.5, 40 / 1.5, 450) * WEEKLY[np.arange(450) % 7])
    full[rng.integers(100, 450) :] *= 3
    full[rng.choice(450, 15, replace=False)] *= rng.uniform(2, 6, 15)
    base = 10_000  # the absolute period of day 0
    bounds = sorted({0, 450, *cuts})
    chunks = list(itertools.pairwise(bounds))
    order = chunks[1::2] + chunks[::2]  # later chunks first, then backfills
    values: np.ndarray | None = None
    lo = 0
    stored: FlagSet | None = None
    have: set[int] = set()
    steps: list[tuple[np.ndarray, np.ndarray]] = [(np.arange(a, b), full[a:b]) for a, b in order]
    steps += [(np.array([d]), np.array([v])) for d, v in corrections]
    for days, quantities in steps:
        have.update(days.tolist())
        first, last = min(have), max(have)
        new = np.zeros(last - first + 1)
        if values is not None:
            new[lo - first : lo - first + len(values)] = values
        new[days - first] = quantities
        values, lo = new, first
        stored = reflag(values, None, "D", base + lo, "zero", days + base, stored)
        assert stored.flagged == _whole(values, base + lo)
        assert (stored.start, stored.periods) == (base + lo, len(values))


def test_given_stored_flags_of_another_detector_version_then_everything_is_evaluated_again() -> None:
    values = _seasonal()
    values[10] = 2000.0
    stale = FlagSet((10_300,), 10_000, len(values), "zero", len(values), version=detector.DETECTOR_VERSION - 1)
    fresh = reflag(values, None, "D", 10_000, "zero", np.array([10_363]), stale)
    assert fresh.flagged == (10_010,)
    assert fresh.version == detector.DETECTOR_VERSION


@pytest.mark.parametrize("missing", ["zero", "unknown"])
def test_given_a_change_of_missing_policy_then_everything_is_evaluated_again(missing: str) -> None:
    values = _seasonal()
    values[10] = 2000.0
    other = "unknown" if missing == "zero" else "zero"
    stale = FlagSet((), 10_000, len(values), other, len(values))
    assert reflag(values, None, "D", 10_000, missing, np.array([10_363]), stale).flagged == (10_010,)


def test_given_many_series_evaluated_in_one_pass_then_each_gets_exactly_its_own_flags() -> None:
    """Series laid end to end in one pass: no window reaches from one into the next."""
    rng = np.random.default_rng(3)
    batch = []
    for i in range(12):
        kind = i % 4
        values = _seasonal(int(rng.integers(40, 400)), seed=i) * (10 if i % 3 else 1)
        if kind == 1:
            values = _intermittent(int(rng.integers(60, 400)), seed=i)
        values[rng.choice(len(values), 3, replace=False)] *= rng.uniform(3, 20)
        observed = rng.uniform(size=len(values)) > 0.1 if kind == 2 else None
        batch.append((values, observed, 20_000 + 37 * i))
    evaluations = [Evaluation(v, o, "D", s, "zero", np.arange(s, s + len(v)), None) for v, o, s in batch]
    together = reflag_many(evaluations)
    assert any(f.flagged for f in together)
    for (values, observed, start), flags in zip(batch, together, strict=True):
        assert flags.flagged == _whole(values, start, observed)
        assert flags == reflag(values, observed, "D", start, "zero", np.arange(start, start + len(values)), None)


# ---------------------------------------------------------------- the stored form
def test_given_flags_when_encoded_and_decoded_then_the_same_and_corruption_is_refused() -> None:
    from skucast.anomalies import StoredFlags
    from skucast.repositories.demand import decode_flags, encode_flags

    for flags in (StoredFlags(()), StoredFlags((20_000, 20_007, 2_000_000_000)), StoredFlags((1,), version=7)):
        assert decode_flags(encode_flags(flags)) == flags
    blob = encode_flags(StoredFlags((20_000, 20_007)))
    assert len(blob) == 2 + 4 * 2  # four bytes a flag
    with pytest.raises(ValueError):
        decode_flags(blob[:-1])
    with pytest.raises(ValueError):
        decode_flags(b"\x09" + blob[1:])  # an unknown format version
