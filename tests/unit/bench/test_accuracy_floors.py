"""The floors the accuracy bench measures interval coverage against: the least an honest interval
on whole units can cover (bench/accuracy/__main__.oracle_coverage) and the band factor that brings
a fold to nominal coverage (bench/accuracy/drift.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bench.accuracy import drift
from bench.accuracy.__main__ import SUPPORT, oracle_coverage


def test_given_ten_equally_likely_counts_when_the_floor_is_taken_then_eight_of_them_hold_eighty_percent():
    pmf = np.r_[np.full(10, 0.1), np.zeros(SUPPORT.size - 10)]
    assert oracle_coverage(pmf, 80) == pytest.approx(0.8)
    assert oracle_coverage(pmf, 95) == pytest.approx(1.0)


def test_given_mostly_zero_demand_when_the_floor_is_taken_then_it_is_above_nominal():
    pmf = np.r_[0.7, 0.2, 0.1, np.zeros(SUPPORT.size - 3)]  # 80 % needs {0, 1}: 90 %
    assert oracle_coverage(pmf, 80) == pytest.approx(0.9)
    assert oracle_coverage(pmf, 95) == pytest.approx(1.0)


def test_given_a_poisson_law_when_the_floor_is_taken_then_it_is_the_narrowest_interval_holding_enough():
    pmf = stats.poisson.pmf(SUPPORT, 3.0)
    best = min(pmf[a : b + 1].sum() for a in range(15) for b in range(a, 15) if pmf[a : b + 1].sum() >= 0.8 - 1e-12)
    assert oracle_coverage(pmf, 80) == pytest.approx(best)
    assert 0.8 <= best < 0.9


def _fold(mean: float, half_width: float, actual: np.ndarray) -> drift.Fold:
    m = np.full(actual.size, mean)
    bands = {lv: (m - half_width, m + half_width) for lv in drift.LEVELS}
    return drift.Fold("smooth", m, bands, actual)


def test_given_actuals_at_twice_the_band_when_the_factor_is_found_then_bands_must_double_for_nominal():
    # 10 points: 8 at +-1 half width (inside), 2 at 2 half widths: 80 % needs c = 1, 95 % needs c = 2
    actual = 100 + np.r_[np.full(4, 10.0), np.full(4, -10.0), 20.0, -20.0]
    folds = [_fold(100.0, 10.0, actual)]
    assert drift._coverage(folds, 80) == pytest.approx(0.8)
    assert drift._factor(folds, 80) == pytest.approx(1.0, abs=1e-6)
    assert drift._factor(folds, 95) == pytest.approx(2.0, abs=1e-6)
    assert drift._coverage(folds, 95, 2.0) == pytest.approx(1.0)


def test_given_series_of_unequal_length_when_covered_then_each_point_counts_once():
    folds = [_fold(0.0, 1.0, np.zeros(30)), _fold(0.0, 1.0, np.full(10, 5.0))]
    assert drift._coverage(folds, 80) == pytest.approx(0.75)
    lo, hi = drift._interval(folds, 80, np.random.default_rng(0))
    assert 0.0 <= lo <= 0.75 <= hi <= 1.0
