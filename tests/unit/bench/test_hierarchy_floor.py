"""The hierarchy floor bench's pieces: generate's replicates (and its default output unchanged,
so every published hierarchy figure stays reproducible) and the oracle GLS arithmetic."""

from __future__ import annotations

import hashlib

import numpy as np

from bench.accuracy.hierarchy_floor import gls, second_moment
from bench.accuracy.hierarchy_suite import generate


def _digest(seed: int, **kw: int) -> str:
    s = generate(seed, **kw)
    raw = s.history.tobytes() + s.test.tobytes() + s.intermittent.tobytes()
    raw += repr(s.skus).encode() + repr(s.attributes).encode()
    return hashlib.sha256(raw).hexdigest()


def test_given_no_noise_seed_then_generate_makes_the_same_bytes_as_before_replicates_existed() -> None:
    # Digests of generate's output computed before noise_seed was added (commit 03d7f22).
    assert _digest(21) == "f484c5fc5c5b9a01ee2dee73576d71f8f701594d381feaa3adb4f21e3808db61"
    assert _digest(22) == "87a5bcc4e143b418dfaab0c4d58362c543db2683d077a79d60ad2de1e5dd054f"
    s = generate(21)
    assert s.history[0, :3].tolist() == [3.0, 7.0, 5.0] and s.test[-1, -3:].tolist() == [11.0, 0.0, 10.0]
    assert (s.history.sum(), s.test.sum()) == (189465.0, 14311.0)


def test_given_a_noise_seed_then_a_replicate_keeps_the_parameters_and_redraws_the_noise() -> None:
    own, a, again, b = generate(21), generate(21, noise_seed=5), generate(21, noise_seed=5), generate(21, noise_seed=6)
    assert np.array_equal(a.history, again.history) and not np.array_equal(a.history, b.history)
    assert not np.array_equal(a.history, own.history)
    assert a.skus == own.skus and np.array_equal(a.intermittent, own.intermittent)
    # Same levels and seasons: each SKU's mean demand is close to its own suite's, far from others'.
    ratio = a.history.mean(axis=1) / np.maximum(own.history.mean(axis=1), 0.1)
    assert np.median(np.abs(np.log(ratio))) < 0.2
    assert np.corrcoef(a.history.mean(axis=1), own.history.mean(axis=1))[0, 1] > 0.95


def test_given_a_covariance_then_gls_is_a_projection_onto_coherent_forecasts_and_ols_for_identity() -> None:
    S = np.array([[1, 1, 1], [1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    rng = np.random.default_rng(0)
    e = rng.normal(size=(6, 200))
    W = second_moment([e[:, :100], e[:, 100:]])
    assert np.allclose(W, e @ e.T / 200)
    P = gls(S, W)
    assert np.allclose(P @ S, np.eye(3))  # coherent forecasts are left as they are
    assert np.allclose(gls(S, np.eye(6)), np.linalg.solve(S.T @ S, S.T))
    # A series with a huge error variance barely moves the reconciled bottom.
    noisy = np.diag([1e6, 1, 1, 1, 1, 1.0])
    y = np.array([100.0, 3, 1, 1, 2, 1])
    assert np.allclose(gls(S, noisy) @ y, [1, 2, 1], atol=1e-3)
