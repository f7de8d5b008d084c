"""The hierarchy's summing matrix, node histories and reconciliation (forecasting/reconciliation.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skucast.forecasting import reconciliation as rec

ATTRS = {
    "a b": {"cat": "X", "sub": "x1"},
    "é": {"cat": "X", "sub": "x2"},
    "c": {"cat": "Y"},  # no sub: under Y's unassigned node
    "d": {},  # nothing: unassigned at every level
}


def _structure() -> rec.Structure:
    return rec.build_structure(["cat", "sub"], list(ATTRS), ATTRS)


def test_given_skus_and_two_levels_when_built_then_nodes_are_total_then_each_prefix_and_s_sums_them():
    structure = _structure()
    keys = [(n.level, n.key_dict()) for n in structure.nodes]
    assert keys == [
        ("total", {}),
        ("cat", {"cat": "X"}),
        ("cat", {"cat": "Y"}),
        ("cat", {"cat": None}),
        ("sub", {"cat": "X", "sub": "x1"}),
        ("sub", {"cat": "X", "sub": "x2"}),
        ("sub", {"cat": "Y", "sub": None}),
        ("sub", {"cat": None, "sub": None}),
    ]
    assert structure.skus == ("a b", "é", "c", "d")
    dense = structure.S.toarray()
    assert dense.shape == (12, 4)
    assert dense[0].tolist() == [1, 1, 1, 1]
    assert dense[1].tolist() == [1, 1, 0, 0]
    assert np.array_equal(dense[8:], np.eye(4))
    assert structure.S.nnz == 4 * (2 + 2)  # one entry per SKU per level, total and itself: sparse


def test_given_skus_missing_an_attribute_when_built_then_they_sit_under_an_unassigned_node_and_none_is_dropped():
    structure = _structure()
    unassigned = [n for n in structure.nodes if None in n.key_dict().values()]
    assert {c for n in unassigned for c in n.children if c in ATTRS} == {"c", "d"}
    assert sum(n.skus for n in structure.nodes if n.depth == 2) == len(ATTRS)
    assert structure.nodes[0].skus == len(ATTRS)


def test_given_a_node_when_its_id_is_derived_then_it_is_url_safe_stable_and_distinct_per_key():
    structure = _structure()
    ids = [n.node_id for n in structure.nodes]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("n_") and i[2:].isalnum() for i in ids)
    assert ids == [n.node_id for n in _structure().nodes]
    # Children name their parent, the deepest nodes name their SKUs.
    by_id = {n.node_id: n for n in structure.nodes}
    for node in structure.nodes[1:]:
        assert node.node_id in by_id[node.parent].children


def test_given_sku_histories_when_aggregated_then_each_node_is_the_sum_of_its_skus():
    structure = _structure()
    bottom = np.arange(4 * 3, dtype=float).reshape(4, 3)
    nodes = rec.aggregate(structure, bottom)
    assert nodes[0].tolist() == bottom.sum(axis=0).tolist()
    assert nodes[1].tolist() == (bottom[0] + bottom[1]).tolist()


def test_given_one_level_when_built_then_total_values_and_skus():
    attrs = {"s1": {"brand": "b"}, "s2": {"brand": "b"}, "s3": {"brand": "c"}}
    structure = rec.build_structure(["brand"], list(attrs), attrs)
    assert [n.level for n in structure.nodes] == ["total", "brand", "brand"]
    assert structure.nodes[1].children == ("s1", "s2")


def _bases(structure: rec.Structure, seed: int, horizon: int = 6) -> tuple[np.ndarray, np.ndarray, tuple]:
    rng = np.random.default_rng(seed)
    hist = rng.poisson(6, size=(len(structure.skus), 60)).astype(float)
    all_hist = np.vstack([rec.aggregate(structure, hist), hist])
    residuals = rec.insample_residuals(all_hist)
    mean = np.maximum(all_hist[:, -horizon:] + rng.normal(0, 3, size=(all_hist.shape[0], horizon)), 0)
    return mean, np.full_like(mean, 2.0), residuals


def _ses(y: np.ndarray, weight: float, warm: int) -> np.ndarray:
    """Simple exponential smoothing's one-step forecasts of y[warm:], the level started at the
    mean of y[:warm] (written out period by period, as a textbook would)."""
    level, out = y[:warm].mean(), []
    for t in range(1, y.size):
        level = level + weight * (y[t - 1] - level)
        if t >= warm:
            out.append(level)
    return np.array(out)


def test_given_a_random_walk_and_noise_around_a_level_when_residuals_then_each_row_is_ses_with_its_best_weight():
    rng = np.random.default_rng(3)
    walk = 100 + np.cumsum(rng.normal(0, 5, 120))  # best followed closely: a large weight
    noisy = 50 + rng.normal(0, 5, 120)  # best averaged: a small weight
    actual, fitted = rec.insample_residuals(np.vstack([walk, noisy]))
    warm = rec.SES_WARMUP
    assert actual.tolist() == np.vstack([walk, noisy])[:, warm:].tolist()
    best = []
    for row, y in enumerate([walk, noisy]):
        sse = {w: np.square(y[warm:] - _ses(y, w, warm)).sum() for w in rec.SES_WEIGHTS}
        best.append(min(sse, key=sse.__getitem__))
        np.testing.assert_allclose(fitted[row], _ses(y, best[row], warm))
    assert best[0] >= 0.7 and best[1] <= 0.1


def test_given_smoothing_residuals_when_taken_ahead_then_each_block_is_the_k_step_error_of_the_level():
    rng = np.random.default_rng(4)
    history = rng.poisson(20, size=(3, 40)).astype(float)
    actual, fitted = rec.insample_residuals(history)
    ahead_actual, ahead_fitted = rec.ahead_residuals((actual, fitted))
    width, warm = actual.shape[1], rec.SES_WARMUP
    assert ahead_actual.shape == ahead_fitted.shape
    assert ahead_actual.shape[1] == sum(width - k + 1 for k in range(1, rec.MINT_STEPS + 1))
    # Block k pairs the demand k - 1 periods after t with the level the one-step forecast of t
    # used: the forecast of y[warm + j + k - 1] made k periods before it.
    start = 0
    for k in range(1, rec.MINT_STEPS + 1):
        n = width - k + 1
        assert ahead_actual[:, start : start + n].tolist() == history[:, warm + k - 1 :].tolist()
        assert ahead_fitted[:, start : start + n].tolist() == fitted[:, :n].tolist()
        start += n
    # A short history takes as many steps as it has periods for.
    short = rec.ahead_residuals((actual[:, :3], fitted[:, :3]))
    assert short[0].shape[1] == 3 + 2


def test_given_very_short_histories_when_residuals_then_none_below_three_periods_and_a_shorter_warm_up_above():
    assert rec.insample_residuals(np.ones((2, 2))) is None
    actual, fitted = rec.insample_residuals(np.array([[1.0, 2.0, 4.0, 8.0]]))
    assert actual.shape == fitted.shape == (1, 2)


def test_given_incoherent_base_forecasts_when_min_trace_then_mint_shrink_runs_and_the_result_adds_up():
    structure = _structure()
    mean, sigma, residuals = _bases(structure, 1)
    out = rec.reconcile(structure, mean, sigma, "min_trace", [80, 95], residuals)
    assert out.method == "min_trace(mint_shrink)"
    assert rec.children_sum_gap(structure, mean) > 1e-3  # the base forecasts did not add up
    assert rec.children_sum_gap(structure, out.mean) < 1e-9
    assert np.all(out.mean >= 0)
    assert np.all(out.bands()[80][0] <= out.mean) and np.all(out.bands()[95][1] >= out.bands()[80][1])


def test_given_no_residuals_when_min_trace_then_the_structural_weights_are_the_documented_fallback():
    structure = _structure()
    mean, sigma, _ = _bases(structure, 2)
    out = rec.reconcile(structure, mean, sigma, "min_trace", [80], None)
    assert out.method == "min_trace(wls_struct)"
    assert rec.children_sum_gap(structure, out.mean) < 1e-9


def test_given_bottom_up_when_reconciled_then_skus_keep_their_base_forecast_and_nodes_are_their_sums():
    structure = _structure()
    mean, sigma, _ = _bases(structure, 3)
    out = rec.reconcile(structure, mean, sigma, "bottom_up", [80], None)
    assert out.method == "bottom_up"
    assert np.allclose(out.mean[structure.n_nodes :], mean[structure.n_nodes :])
    assert np.allclose(out.mean[0], mean[structure.n_nodes :].sum(axis=0))


def test_given_base_sigmas_when_reconciled_then_bands_are_the_librarys_normality_with_a_bottom_up_projection():
    from hierarchicalforecast.methods import BottomUp

    structure = _structure()
    mean, _, _ = _bases(structure, 4)
    sigma = np.random.default_rng(4).uniform(0.5, 3.0, size=mean.shape)
    ours = rec.reconcile(structure, mean, sigma, "bottom_up", [80], None)
    theirs = BottomUp().fit_predict(
        S=structure.S.toarray(), y_hat=mean, sigmah=sigma, level=[80], intervals_method="normality"
    )
    lo, hi = theirs["quantiles"][:, :, 0], theirs["quantiles"][:, :, 1]  # quantiles 0.1, 0.9
    assert np.allclose(ours.bands()[80][1], hi)
    # Ours floors the lower bound at 0 (demand is never negative); the library's does not.
    assert np.allclose(ours.bands()[80][0], np.maximum(lo, 0))


def test_given_a_reconciliation_when_one_rows_bands_are_made_then_they_are_that_row_of_the_full_bands():
    structure = _structure()
    mean, sigma, residuals = _bases(structure, 5)
    out = rec.reconcile(structure, mean, sigma, "min_trace", [95, 80], residuals)
    full = out.bands()
    assert list(full) == [80, 95]
    for row in (0, structure.n_nodes, out.mean.shape[0] - 1):
        for lv, (lo, hi) in out.bands(row).items():
            assert np.array_equal(lo, full[lv][0][row]) and np.array_equal(hi, full[lv][1][row])
            assert np.all(hi > out.mean[row])  # sigma 2.0 everywhere: a band of positive width


def test_given_base_bands_when_sigma_is_read_then_it_is_the_upper_half_width_over_z():
    mean = np.array([[10.0]])
    sigma = rec.sigma_from_bounds(mean, {80: (np.array([[0.0]]), np.array([[10 + 1.2815515655446004]]))})
    assert sigma[0, 0] == pytest.approx(1.0)


def test_given_wrong_shapes_or_method_when_reconciled_then_value_error():
    structure = _structure()
    with pytest.raises(ValueError):
        rec.reconcile(structure, np.zeros((3, 2)), np.zeros((3, 2)), "min_trace", [80])
    with pytest.raises(ValueError):
        rec.reconcile(structure, np.zeros((12, 2)), np.zeros((12, 2)), "top_down", [80])


# ---------------------------------------------------------------- coherence over random hierarchies
LEVEL_NAMES = ("l0", "l1", "l2")


@st.composite
def hierarchies(draw: st.DrawFn) -> tuple[rec.Structure, np.ndarray, np.ndarray, tuple | None, str]:
    depth = draw(st.integers(1, 3))
    levels = LEVEL_NAMES[:depth]
    n_skus = draw(st.integers(1, 25))
    values = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "ü d"]))
    attrs = {}
    for i in range(n_skus):
        drawn = draw(st.lists(values, min_size=depth, max_size=depth))
        attrs[f"sku {i}"] = {lv: v for lv, v in zip(levels, drawn, strict=True) if v is not None}
    structure = rec.build_structure(levels, list(attrs), attrs)
    horizon = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_all = structure.S.shape[0]
    scale = draw(st.sampled_from([1e-3, 1.0, 1e4]))
    mean = rng.gamma(1.0, scale, size=(n_all, horizon)) * rng.integers(0, 2, size=(n_all, 1))
    sigma = rng.uniform(0, scale, size=(n_all, horizon))
    hist = rng.poisson(5, size=(len(structure.skus), 30)).astype(float)
    fitted = rec.insample_residuals(np.vstack([rec.aggregate(structure, hist), hist]))
    residuals = draw(st.sampled_from([None, fitted]))
    method = draw(st.sampled_from(rec.METHODS))
    return structure, mean, sigma, residuals, method


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hierarchies())
def test_given_random_hierarchies_and_forecasts_when_reconciled_then_children_sum_to_parents_within_1e6(case):
    structure, mean, sigma, residuals, method = case
    out = rec.reconcile(structure, mean, sigma, method, [80, 95], residuals)
    assert rec.children_sum_gap(structure, out.mean) <= 1e-6
    # The bands are symmetric around the mean before the floor at 0: their median is the mean,
    # coherent as the mean is.
    for lo, hi in out.bands().values():
        assert np.all(lo <= out.mean + 1e-9) and np.all(hi >= out.mean - 1e-9)
    assert np.all(out.mean >= 0)
