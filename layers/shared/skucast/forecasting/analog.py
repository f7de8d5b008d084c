"""Analog forecasts for new items: the launch profile of similar, established SKUs (issue #21).

A SKU of the `new` class (too little history to fit a model) that has attributes borrows the shape
of its **group**: the established SKUs sharing its attribute values.

- **Group choice** (`GroupIndex.choose`): the tenant's attributes are ordered coarse to fine by how
  many distinct values the established SKUs hold of each (fewest first, ties by name; e.g.
  category, brand, store). The candidate groups of a new SKU are prefixes of its own attributes
  in that order, longest first: all its attributes, then without the finest one, and so on down
  to the coarsest alone. The first with at least MIN_GROUP established members is its group;
  none (or no attributes) -> no analog, the SKU keeps the `new` policy unchanged. Members are
  read at most MAX_MEMBERS per group, the first by SHA-256 of the SKU name (deterministic, and
  not biased by how SKUs are named).
- **Established member**: a SKU launched inside the data (its first sale after the tenant's
  earliest date, so its start is a launch, not the start of the data) and at least `early`
  periods old at the run's origin (no longer new by age).
- **Launch profile** (`build_profile`): each member's demand by age (periods at the run's
  frequency since its first sale), divided by its own early level (its mean over its first
  `early` periods); the profile is the median across members at each age, over the ages where
  at least MIN_AT_AGE members have data (later ages repeat the last such age). The group's
  level is the members' median early level.
- **Forecast** (`forecast`): profile at the SKU's ages (its age at the first forecast period
  onwards) x a level. The SKU's own level is the ratio of its observed demand to the profile at
  the same ages (sum over sum); with few points it is shrunk toward the group's level
  geometrically, weight n / (n + SHRINK) for n observed periods (0 points: the group's level;
  a SKU never sold yet is taken to launch in the first forecast period).
- **Intervals**: at each age, the members' quantiles (for each level L, (1 - L/100)/2 and its
  mirror; pooled with the neighbouring ages as ratios to each age's median, since a dozen members
  alone cannot show the tails) of demand over their own early level, and of demand over the
  group's level, blended
  by n / (n + BAND_SHRINK) and times the SKU's level: with no points this is the members' own
  spread of demand at that age; with many, the spread of the shape around its own level. A
  level from a few points is itself uncertain, so the bands lean longer on the group's spread
  than the mean does. Bands are clipped to lo <= mean <= hi and lo >= 0. On the launch suite
  (bench/accuracy/REPORT.md) they cover a little under their level: a group's few members
  cannot show its tails.

Pure domain code: no AWS. The run's profile step (services/analog.py) builds the profiles, the
engine applies them (engine.forecast_one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

MIN_GROUP = 5  # established members a group needs
MAX_MEMBERS = 100  # members read per group (first by SHA-256 of the SKU)
MIN_AT_AGE = 3  # members with data at an age for the profile to be measured there
SHRINK = 1.0  # pseudo-points of the group's level when scaling a SKU's own level
# ...and when blending the bands: a level from a few points is itself uncertain, so the bands lean
# longer on the members' spread of demand around the group's level (bench: launch suite coverage).
BAND_SHRINK = 10.0
POOL_AGES = 1  # band quantiles pool the members' values at this many ages either side
METHOD = "analog"


def member_order(sku: str) -> str:
    """The deterministic sample order of a group's members."""
    return hashlib.sha256(sku.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Profile:
    """A group's launch profile, by age (index 0 = the period of the first sale)."""

    group: Mapping[str, str]
    members: int
    shape: np.ndarray  # median of demand / own early level
    level: float  # the members' median early level
    own: Mapping[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # level -> quantiles, own-normalised
    group_bands: Mapping[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # over the group's level

    def to_dict(self) -> dict:
        def bands(b: Mapping[int, tuple[np.ndarray, np.ndarray]]) -> dict:
            return {str(lv): [lo.tolist(), hi.tolist()] for lv, (lo, hi) in b.items()}

        return {
            "group": dict(self.group),
            "members": self.members,
            "shape": self.shape.tolist(),
            "level": self.level,
            "own": bands(self.own),
            "group_bands": bands(self.group_bands),
        }

    @classmethod
    def from_dict(cls, raw: Mapping) -> Profile:
        def bands(b: Mapping) -> dict[int, tuple[np.ndarray, np.ndarray]]:
            return {int(lv): (np.asarray(lo, float), np.asarray(hi, float)) for lv, (lo, hi) in b.items()}

        return cls(
            {str(k): str(v) for k, v in raw["group"].items()},
            int(raw["members"]),
            np.asarray(raw["shape"], float),
            float(raw["level"]),
            bands(raw.get("own", {})),
            bands(raw.get("group_bands", {})),
        )


def _carry(values: np.ndarray, measured: int) -> np.ndarray:
    """Ages past the last measured one repeat it."""
    if 0 < measured < values.size:
        values[measured:] = values[measured - 1]
    return values


def build_profile(
    group: Mapping[str, str],
    histories: Sequence[np.ndarray],
    ages: int,
    early: int,
    levels: Iterable[int] = (80, 95),
) -> Profile | None:
    """The launch profile over ages 0..ages-1 from members' histories (each from its first sale,
    at the run's frequency); None when fewer than MIN_GROUP members have `early` periods."""
    usable = [np.asarray(h, float) for h in histories if np.asarray(h).size >= early and float(np.sum(h[:early])) > 0]
    if len(usable) < MIN_GROUP or ages < 1:
        return None
    own_levels = np.array([float(np.mean(h[:early])) for h in usable])
    group_level = float(np.median(own_levels))
    grid = np.full((len(usable), ages), np.nan)
    for i, h in enumerate(usable):
        take = min(h.size, ages)
        grid[i, :take] = h[:take]
    counts = np.sum(~np.isnan(grid), axis=0)
    measured = int(np.argmin(counts >= MIN_AT_AGE)) if np.any(counts < MIN_AT_AGE) else ages
    measured = max(measured, 1)
    normalised = grid / own_levels[:, None]
    over_group = grid / group_level
    shape = np.zeros(ages)
    shape[:measured] = np.nanmedian(normalised[:, :measured], axis=0)
    own = _bands(normalised[:, :measured], levels, ages)
    grouped = _bands(over_group[:, :measured], levels, ages)
    return Profile(dict(group), len(usable), _carry(shape, measured), group_level, own, grouped)


def _bands(values: np.ndarray, levels: Iterable[int], ages: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per level, the members' quantiles at each age: of their values over the median at that
    age, pooled over the POOL_AGES ages either side (a few members alone cannot show a group's
    tails), times that median. Ages past the measured ones repeat the last."""
    measured = values.shape[1]
    median = np.nanmedian(values, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = values / np.where(median > 0, median, np.nan)
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for lv in sorted(set(levels)):
        tail = (1 - lv / 100) / 2
        lo, hi = np.zeros(ages), np.zeros(ages)
        for a in range(measured):
            pooled = ratios[:, max(0, a - POOL_AGES) : a + POOL_AGES + 1]
            pooled = pooled[np.isfinite(pooled)]
            if median[a] > 0 and pooled.size:
                lo[a], hi[a] = median[a] * np.quantile(pooled, [tail, 1 - tail])
            else:  # no demand at this age for most members: the plain quantiles
                lo[a], hi[a] = np.nanquantile(values[:, a], [tail, 1 - tail])
        out[lv] = (_carry(lo, measured), _carry(hi, measured))
    return out


def _at(values: np.ndarray, ages: np.ndarray) -> np.ndarray:
    return values[np.minimum(ages, values.size - 1)]


def forecast(
    profile: Profile, observed: np.ndarray, horizon: int, skip: int = 0, levels: Iterable[int] = (80, 95)
) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]], float]:
    """The SKU's forecast for the `horizon` periods after `skip` unknown ones past its history
    (`observed`: its demand from its first sale): mean, bounds per level, and the level used."""
    y = np.maximum(np.asarray(observed, float), 0.0)
    n = int(y.size)
    seen = float(np.sum(_at(profile.shape, np.arange(n)))) if n else 0.0
    weight = n / (n + SHRINK)
    level = profile.level
    if n and seen > 0 and float(np.sum(y)) > 0 and profile.level > 0:
        own_level = float(np.sum(y)) / seen
        level = float(np.exp(weight * np.log(own_level) + (1 - weight) * np.log(profile.level)))
    ages = np.arange(n + skip, n + skip + horizon)
    mean = level * _at(profile.shape, ages)
    weight = n / (n + BAND_SHRINK)
    bounds: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for lv in sorted(set(levels)):
        if lv not in profile.own or lv not in profile.group_bands:
            continue
        (olo, ohi), (glo, ghi) = profile.own[lv], profile.group_bands[lv]
        lo = level * (weight * _at(olo, ages) + (1 - weight) * _at(glo, ages))
        hi = level * (weight * _at(ohi, ages) + (1 - weight) * _at(ghi, ages))
        bounds[lv] = (np.clip(np.minimum(lo, mean), 0.0, None), np.maximum(hi, mean))
    return np.maximum(mean, 0.0), bounds, level


# ---------------------------------------------------------------- groups
def attribute_order(established: Iterable[Mapping[str, str]]) -> list[str]:
    """Attribute names coarse to fine: fewest distinct values among established SKUs first."""
    values: dict[str, set[str]] = {}
    for attrs in established:
        for name, value in attrs.items():
            values.setdefault(name, set()).add(value)
    return sorted(values, key=lambda name: (len(values[name]), name))


def candidate_groups(attributes: Mapping[str, str], order: Sequence[str]) -> list[dict[str, str]]:
    """A SKU's candidate groups, most specific first: prefixes of its own attributes in `order`."""
    own = [name for name in order if name in attributes]
    return [{name: attributes[name] for name in own[:k]} for k in range(len(own), 0, -1)]


class GroupIndex:
    """Established SKUs by attribute value, to find a new SKU's group and its members."""

    def __init__(self, established: Mapping[str, Mapping[str, str]], min_group: int = MIN_GROUP) -> None:
        self.order = attribute_order(established.values())
        self.min_group = min_group
        self._by_pair: dict[tuple[str, str], set[str]] = {}
        for sku, attrs in established.items():
            for pair in attrs.items():
                self._by_pair.setdefault(pair, set()).add(sku)

    def members(self, group: Mapping[str, str]) -> set[str]:
        sets = sorted((self._by_pair.get(pair, set()) for pair in group.items()), key=len)
        if not sets:
            return set()
        found = set(sets[0])
        for more in sets[1:]:
            found &= more
        return found

    def choose(self, attributes: Mapping[str, str]) -> tuple[dict[str, str], list[str]] | None:
        """The SKU's group and its members (all, in sample order), or None when none is big enough."""
        for group in candidate_groups(attributes, self.order):
            found = self.members(group)
            if len(found) >= self.min_group:
                return group, sorted(found, key=member_order)
        return None


def group_id(group: Mapping[str, str]) -> str:
    """A stable id for a group (its pairs in name order)."""
    text = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(group.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]
