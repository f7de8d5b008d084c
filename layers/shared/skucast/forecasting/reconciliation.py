"""Hierarchies of SKUs: the summing matrix, node histories, and reconciled forecasts.

Pure domain code (no AWS). A hierarchy is an ordered list of attributes, top to bottom; its
nodes are "total", then every prefix of the levels' values (category, category/subcategory, ...),
and the SKUs at the bottom. A SKU without a value for a level sits under the `None` value at that
level - the "unassigned" node, whose key holds null for that attribute - never dropped.

Reconciliation (Nixtla's hierarchicalforecast, on arrays):
- `bottom_up`: BottomUpSparse.
- `min_trace`: MinTrace("mint_shrink", nonnegative=True) while the series fit a dense covariance
  (DENSE_MAX series) and in-sample residuals exist; else MinTraceSparse("wls_var" with residuals,
  "wls_struct" without, nonnegative=True). A dense shrunk covariance of 100,000 series would be
  80 GB: at scale only a diagonal W is possible. When mint_shrink is ill-conditioned (the library
  raises) the sparse wls_struct is used instead; `Reconciled.method` says which one ran.
- Residuals: the in-sample one-step residuals of simple exponential smoothing, each series with
  its own smoothing weight (the grid value with the least in-sample squared error), over the
  periods the service keeps (RESIDUAL_PERIODS + one season) after a short warm-up. MinTrace wants
  the base models' one-step residuals (Wickramasuriya et al. 2019); a smoothed level is a cheap,
  vectorised stand-in that, like the engine's fits, follows a smooth aggregate closely and
  averages a noisy SKU, so W trusts each in proportion. It replaced seasonal-naive residuals,
  whose year-on-year differences carry an aggregate's trend and season changes and so made W
  distrust the upper levels (bench/accuracy/REPORT.md, "Residuals for W"). mint_shrink
  estimates its covariance from the smoothing's errors 1 to MINT_STEPS periods ahead side by side
  (`ahead_residuals`). MinTrace's gain is in an aggregate's errors following its SKUs' summed
  errors closely, which shrinkage toward a diagonal erases; with four times the samples (which
  overlap, so this is in effect a lighter shrinkage, chosen on tuning seeds) the Schaefer-Strimmer
  intensity falls from about 0.55 to 0.1 and the tie is kept (REPORT.md, "Errors ahead").
- Intervals: hierarchicalforecast's Normality sampler with its default diagonal covariance. With
  a bottom-up projection - bottom_up, and non-negative MinTrace, whose P the library replaces by
  bottom-up's after its QP - that is var(node) = sum of its SKUs' variances; computed here with
  the sparse S (tests/unit/forecasting/test_reconciliation.py checks it equals the library's
  Normality). Each series' sigma is read from its base band (hi - mean) / z at each level; the
  reconciled band is mean +- z * sigma, floored at 0, made per row as results are written. Its
  median is the reconciled mean, so the medians add up as the means do.
Every reconciled value is S times the reconciled SKU forecasts, so children add up to their
parent at every node and date up to float rounding.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from scipy import sparse

TOTAL = "total"
SKU_LEVEL = "sku"
METHODS = ("bottom_up", "min_trace")
DENSE_MAX = 3_000  # series (nodes + SKUs) up to which MinTrace's dense shrunk covariance is used
RESIDUAL_PERIODS = 104  # the service keeps this many recent periods (plus one season) for the residuals
SES_WEIGHTS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # smoothing weights tried per series
SES_WARMUP = 8  # periods whose mean starts the smoothed level; their residuals are not used
MINT_STEPS = 4  # mint_shrink's covariance from smoothing's errors 1..MINT_STEPS periods ahead

Key = tuple[tuple[str, str | None], ...]


def node_id(key: Key) -> str:
    """Stable and URL-safe: a hash of the node's (attribute, value) path, so the same node of the
    same attributes has the same id in every run and hierarchy."""
    text = json.dumps([list(pair) for pair in key], ensure_ascii=False, separators=(",", ":"))
    return "n_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class Node:
    node_id: str
    depth: int  # 0: total; d: the first d levels
    level: str  # "total" or the attribute of its depth
    key: Key
    parent: str | None
    children: tuple[str, ...]  # node ids; SKUs at the deepest aggregate level
    skus: int

    def key_dict(self) -> dict[str, str | None]:
        return dict(self.key)


@dataclass(frozen=True)
class Structure:
    levels: tuple[str, ...]
    nodes: tuple[Node, ...]  # aggregate nodes, top-down: S's first rows in this order
    skus: tuple[str, ...]  # S's columns and last rows
    S: sparse.csr_matrix  # (len(nodes) + len(skus)) x len(skus), 0/1

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    def level_rows(self) -> dict[str, np.ndarray]:
        """hierarchicalforecast's `tags` by row index: level name -> rows of S."""
        tags: dict[str, list[int]] = {}
        for row, node in enumerate(self.nodes):
            tags.setdefault(node.level, []).append(row)
        tags[SKU_LEVEL] = list(range(self.n_nodes, self.n_nodes + len(self.skus)))
        return {k: np.asarray(v) for k, v in tags.items()}


def _sort_value(value: str | None) -> tuple[int, str]:
    return (1, "") if value is None else (0, value)  # the unassigned node after the named ones


def build_structure(
    levels: Sequence[str], skus: Sequence[str], attributes: Mapping[str, Mapping[str, str]]
) -> Structure:
    """The hierarchy's nodes and sparse summing matrix over `skus` (duplicates once, in sorted
    order). A SKU missing an attribute of `levels` sits under that level's unassigned node."""
    levels = tuple(levels)
    bottom = sorted(set(skus))
    paths = {s: tuple(attributes.get(s, {}).get(level) for level in levels) for s in bottom}
    bottom.sort(key=lambda s: ([_sort_value(v) for v in paths[s]], s))
    rows: list[int] = []
    cols: list[int] = []
    nodes: list[Node] = []
    for depth in range(len(levels) + 1):
        groups: dict[tuple[str | None, ...], list[int]] = {}
        for col, sku in enumerate(bottom):
            groups.setdefault(paths[sku][:depth], []).append(col)
        for prefix in sorted(groups, key=lambda p: [_sort_value(v) for v in p]):
            row = len(nodes)
            key: Key = tuple(zip(levels[:depth], prefix, strict=True))
            members = groups[prefix]
            rows.extend([row] * len(members))
            cols.extend(members)
            nodes.append(
                Node(
                    node_id=node_id(key),
                    depth=depth,
                    level=levels[depth - 1] if depth else TOTAL,
                    key=key,
                    parent=node_id(key[:-1]) if depth else None,
                    children=(),
                    skus=len(members),
                )
            )
    nodes = _with_children(nodes, levels, bottom, paths)
    n_nodes, n_skus = len(nodes), len(bottom)
    rows.extend(range(n_nodes, n_nodes + n_skus))
    cols.extend(range(n_skus))
    S = sparse.csr_matrix((np.ones(len(rows)), (np.asarray(rows), np.asarray(cols))), shape=(n_nodes + n_skus, n_skus))
    return Structure(levels, tuple(nodes), tuple(bottom), S)


def _with_children(
    nodes: list[Node], levels: tuple[str, ...], bottom: list[str], paths: Mapping[str, tuple[str | None, ...]]
) -> list[Node]:
    children: dict[str, list[str]] = {n.node_id: [] for n in nodes}
    for node in nodes:
        if node.parent is not None:
            children[node.parent].append(node.node_id)
    for sku in bottom:
        children[node_id(tuple(zip(levels, paths[sku], strict=True)))].append(sku)
    out = []
    for node in nodes:
        kids = children[node.node_id]
        out.append(Node(node.node_id, node.depth, node.level, node.key, node.parent, tuple(kids), node.skus))
    return out


def aggregate(structure: Structure, bottom: np.ndarray) -> np.ndarray:
    """Node values (n_nodes x T) from the SKUs' (n_skus x T, in structure.skus order)."""
    return np.asarray(structure.S[: structure.n_nodes] @ np.asarray(bottom, dtype=np.float64))


def insample_residuals(history: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(y_insample, y_hat_insample) for every series (rows): simple exponential smoothing's
    one-step fit, each row with the SES_WEIGHTS value of least squared error over the periods
    after the warm-up (whose mean starts the level); None when fewer than 3 periods."""
    history = np.asarray(history, dtype=np.float64)
    n = history.shape[1]
    if n < 3:
        return None
    warm = min(SES_WARMUP, n - 2)
    start = history[:, :warm].mean(axis=1)
    best_sse = np.full(history.shape[0], np.inf)
    best_weight = np.ones(history.shape[0])
    for weight in SES_WEIGHTS:
        sse = _ses_pass(history, start, warm, weight)
        better = sse < best_sse
        best_sse[better], best_weight[better] = sse[better], weight
    fitted = np.empty((history.shape[0], n - warm))
    _ses_pass(history, start, warm, best_weight, fitted)
    return history[:, warm:], fitted


def _ses_pass(
    history: np.ndarray, start: np.ndarray, warm: int, weight: float | np.ndarray, fitted: np.ndarray | None = None
) -> np.ndarray:
    """One smoothing pass over the periods from `warm` on: the squared one-step errors summed per
    row; each period's one-step forecast written to `fitted` when given."""
    level = start.copy()
    sse = np.zeros(history.shape[0])
    for t in range(1, history.shape[1]):
        level += weight * (history[:, t - 1] - level)
        if t >= warm:
            if fitted is not None:
                fitted[:, t - warm] = level
            sse += np.square(history[:, t] - level)
    return sse


@dataclass(frozen=True)
class Reconciled:
    mean: np.ndarray  # (n_nodes + n_skus) x h, S's row order
    sd: np.ndarray  # each series' standard deviation, same shape (diagonal Normality, bottom-up projection)
    levels: tuple[int, ...]  # the band levels, in percent
    method: str  # what ran, e.g. "min_trace(mint_shrink)"

    def bands(self, rows: int | slice | np.ndarray = slice(None)) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """level -> (lo, hi) of `rows`: mean +- z * sd, the lower bound floored at 0. Made on demand
        for the rows being written: at 100,000 SKUs every band array of every series is 23 MB."""
        mean, sd = self.mean[rows], self.sd[rows]
        out = {}
        for lv in self.levels:
            half = np.multiply(sd, NormalDist().inv_cdf(0.5 + lv / 200))
            lo = np.subtract(mean, half)
            np.maximum(lo, 0.0, out=lo)
            out[lv] = (lo, np.add(mean, half, out=half))
        return out


def sigma_from_bounds(mean: np.ndarray, bounds: Mapping[int, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Each series' standard deviation implied by its base bands: the mean over levels of the
    upper half-width over z (the lower side may be floored at 0). Zero without bands."""
    if not bounds:
        return np.zeros_like(mean)
    parts = [np.maximum(hi - mean, 0.0) / NormalDist().inv_cdf(0.5 + lv / 200) for lv, (_, hi) in bounds.items()]
    return np.mean(parts, axis=0)


def reconcile(
    structure: Structure,
    mean: np.ndarray,
    sigma: np.ndarray,
    method: str,
    levels: Sequence[int],
    residuals: tuple[np.ndarray, np.ndarray] | None = None,
) -> Reconciled:
    """Reconcile base forecasts of every row of S (`mean`, `sigma`: (n_nodes + n_skus) x h).
    Raises ValueError for shapes that do not fit, or when no reconciliation succeeds."""
    S = structure.S
    n_all = S.shape[0]
    mean, sigma = _finite(mean), _finite(sigma)
    if mean.shape[0] != n_all or sigma.shape != mean.shape:
        raise ValueError(f"base forecasts of {mean.shape[0]} series for a hierarchy of {n_all}")
    if method not in METHODS:
        raise ValueError(f"unknown reconciliation {method!r}")
    if mean.shape[1] == 0:
        bottom, used = mean[structure.n_nodes :], method
    elif method == "bottom_up":
        bottom, used = _bottom_up(structure, mean), "bottom_up"
    else:
        bottom, used = _min_trace(structure, mean, residuals)
    bottom = np.maximum(bottom, 0.0)
    rec_mean = np.asarray(S @ bottom)
    del bottom
    # Diagonal Normality with a bottom-up projection: a node's variance is its SKUs' summed.
    sd = np.asarray(S @ np.square(sigma[structure.n_nodes :]))
    np.sqrt(sd, out=sd)
    return Reconciled(rec_mean, sd, tuple(sorted(set(levels))), used)


def _finite(values: np.ndarray) -> np.ndarray:
    """float64 with NaN/inf replaced (as np.nan_to_num), copied only when something is replaced."""
    values = np.asarray(values, dtype=np.float64)
    return values if np.isfinite(values).all() else np.nan_to_num(values)


def _bottom_up(structure: Structure, mean: np.ndarray) -> np.ndarray:
    from hierarchicalforecast.methods import BottomUpSparse

    out = BottomUpSparse().fit_predict(S=structure.S, y_hat=mean)["mean"]
    return np.asarray(out)[structure.n_nodes :]


def _min_trace(
    structure: Structure, mean: np.ndarray, residuals: tuple[np.ndarray, np.ndarray] | None
) -> tuple[np.ndarray, str]:
    from hierarchicalforecast.methods import MinTrace, MinTraceSparse

    n_all = structure.S.shape[0]
    usable = residuals is not None and residuals[0].shape[1] >= 2 and _varies(residuals)
    attempts: list[tuple[str, object, bool]] = []
    if usable and n_all <= DENSE_MAX:
        attempts.append(("mint_shrink", MinTrace("mint_shrink", nonnegative=True), True))
    if usable:
        attempts.append(("wls_var", MinTraceSparse("wls_var", nonnegative=True), True))
    attempts.append(("wls_struct", MinTraceSparse("wls_struct", nonnegative=True), False))
    failures = []
    for name, reconciler, needs_residuals in attempts:
        dense = name == "mint_shrink"
        kwargs = {}
        if needs_residuals and residuals is not None:
            actual, fitted = ahead_residuals(residuals) if dense else residuals
            kwargs = {"y_insample": actual, "y_hat_insample": fitted}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Replacing negative forecasts with zero": expected
                S = structure.S.toarray() if dense else structure.S
                out = reconciler.fit_predict(S=S, y_hat=mean, **kwargs)["mean"]  # type: ignore[attr-defined]
        except Exception as exc:  # the library raises bare Exceptions for ill-conditioned problems
            failures.append(f"{name}: {exc}")
            continue
        bottom = np.asarray(out)[structure.n_nodes :]
        if np.all(np.isfinite(bottom)):
            return bottom, f"min_trace({name})"
        failures.append(f"{name}: non-finite result")
    raise ValueError("; ".join(failures))


def ahead_residuals(residuals: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Smoothing's errors 1 to MINT_STEPS periods ahead, side by side (a smoothed level forecasts
    every later period alike, so the k-step error pairs y[t + k - 1] with the one-step forecast
    made for t): what mint_shrink estimates W from (module docstring)."""
    actual, fitted = residuals
    steps = range(1, min(MINT_STEPS, actual.shape[1] - 1) + 1)
    width = actual.shape[1]
    return (
        np.hstack([actual[:, k - 1 :] for k in steps]),
        np.hstack([fitted[:, : width - k + 1] for k in steps]),
    )


def _varies(residuals: tuple[np.ndarray, np.ndarray]) -> bool:
    """wls_var needs every series' residual variance above the library's 1e-8 floor."""
    diff = residuals[0] - residuals[1]
    return bool(diff.shape[1] >= 2 and np.all(np.nanvar(diff, axis=1, ddof=1) > 1e-8))


def children_sum_gap(structure: Structure, values: np.ndarray) -> float:
    """The largest relative gap, over nodes and dates, between a node and the sum of its children
    (what coherence means; 0.0 when exact)."""
    index = {n.node_id: i for i, n in enumerate(structure.nodes)}
    index.update({s: structure.n_nodes + j for j, s in enumerate(structure.skus)})
    worst = 0.0
    for i, node in enumerate(structure.nodes):
        kids = [index[c] for c in node.children]
        total = values[kids].sum(axis=0) if kids else np.zeros(values.shape[1])
        scale = np.maximum(np.abs(values[i]), 1e-12)
        worst = max(worst, float(np.max(np.abs(total - values[i]) / scale, initial=0.0)))
    return worst
