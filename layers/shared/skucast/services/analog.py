"""Analog forecasts for new SKUs in a run: the profile step at planning, and what workers read
(the method: forecasting/analog.py; contract: "Attributes, hierarchies and new items").

Bounded design:
- `POST /runs` (auto or analog) records the tenant's attribute version (`params.attributes_version`,
  `run_params`) when the tenant has attributes; the run reads attributes as of that version, so a
  later change does not alter it.
- **Profile step** (`plan_profiles`, in the planner before any batch is sent): from the
  catalog (no series read) it finds the run's **targets** - its SKUs with attributes that are
  new by the catalog's class, younger than `early` periods, or never sold (listed with zero
  rows: taken to launch in the run's first forecast period) - and the **established** SKUs
  (launched after the tenant's data starts, at least `early` periods old at the origin). Each
  target takes its group (analog.GroupIndex.choose); only the members of the groups chosen are
  read, at most analog.MAX_MEMBERS per group (deterministic sample) and MAX_READS series per run
  in all (groups past that keep the `new` policy, logged; so does a group whose series hold
  fewer than analog.MIN_GROUP usable launches - the choice is made from the catalog, the coarser
  group is not tried). One object per run (keys.run_analog_key)
  holds each group's profile and each target's group: its size is bounded by the groups chosen
  (ages x (1 + 4 x levels) floats each), not by the catalog. Planning reads the catalog pages
  and, when the run has young SKUs, every SKU's attributes once (as the hierarchy plan does).
- **Workers** (`profiles_for`): a batch reads that one object and gives each of its targets its
  group's profile; the engine uses it when the SKU is `new` at the run's frequency (a target the
  engine classes otherwise, or a SKU new at the run's frequency the catalog did not class new,
  takes its class's policy). The result carries `analog: {group, members, level}`.
Re-planning (a retried plan message) writes the same object from the same inputs.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from skucast.attributes import VersionGone
from skucast.forecasting import analog
from skucast.forecasting.periods import period_start, periods_from
from skucast.observability import logger
from skucast.records import RunRecord
from skucast.repositories import catalog, demand, objects
from skucast.repositories.keys import run_analog_key
from skucast.schemas.forecast import CreateRunRequest
from skucast.services import attributes
from skucast.settings import Settings

if TYPE_CHECKING:
    from skucast.forecasting.engine import SeriesInput

MAX_READS = 20_000  # member series read per run by the profile step (planner: 300 s, 1 GB)
READ_CHUNK = 100
METHODS = ("auto", analog.METHOD)


def run_params(settings: Settings, client_id: str, request: CreateRunRequest) -> dict[str, Any]:
    """The attribute version an auto/analog run reads its groups at; {} when the tenant has no
    attributes (nothing to borrow from: the run is as before)."""
    if request.method not in METHODS:
        return {}
    version = attributes.current_version(settings, client_id)
    return {"attributes_version": version} if version else {}


def uses_analog(params: dict[str, Any]) -> bool:
    return params.get("method", "auto") in METHODS and bool(params.get("attributes_version"))


def _age(first: str, as_of: dt.date, frequency: str) -> int:
    """Periods at `frequency` from the period holding `first` through the one holding `as_of`."""
    start = period_start(dt.date.fromisoformat(first), frequency)
    return periods_from(start, period_start(as_of, frequency), frequency) + 1


def _young(entry: Any, age: int, early: int) -> bool:
    """New by the catalog's class or by age, or never sold (zero rows only)."""
    return entry.demand_class == "new" or age < early or not entry.total_quantity


def plan_profiles(settings: Settings, client_id: str, run: RunRecord, skus: list[str], as_of: str | None) -> None:
    """Build the run's group profiles and store them (see the module's docstring)."""
    from skucast.forecasting.engine import ForecastSpec, history_at_frequency
    from skucast.services.batches import series_input

    params = run.params
    if not uses_analog(params) or not skus or not as_of:
        return
    spec = ForecastSpec.from_params(params, as_of)
    assert spec.as_of is not None
    early = settings.classification.min_periods(spec.frequency)
    entries = {e.sku: e for e in catalog.iter_entries(settings.table_name, client_id) if e.first_date}
    ages = {s: _age(str(e.first_date), spec.as_of, spec.frequency) for s, e in entries.items()}
    young = sorted(s for s in set(skus) if s in entries and _young(entries[s], ages[s], early))
    if not young:  # nothing new in this run: no attributes read, no object (workers find none)
        return
    try:
        found = attributes.attributes_as_of(settings, client_id, int(params["attributes_version"]))
    except VersionGone:  # a SKU's kept history no longer reaches the run's version
        logger.warning("attributes version gone: no analog forecasts in this run")
        return
    data_start = min(str(e.first_date) for e in entries.values())
    established = {
        s: attrs
        for s, attrs in found.items()
        if s in entries and str(entries[s].first_date) > data_start and ages[s] >= early
    }
    targets = [s for s in young if s in found and s not in established]
    index = analog.GroupIndex(established)
    groups: dict[str, tuple[dict[str, str], list[str], int]] = {}  # id -> group, members, ages
    assigned: dict[str, str] = {}
    for sku in targets:
        choice = index.choose(found[sku])
        if choice is None:
            continue
        group, members = choice
        gid = analog.group_id(group)
        need = ages.get(sku, 0) + spec.horizon + 1
        held = groups.get(gid)
        groups[gid] = (group, members[: analog.MAX_MEMBERS], max(need, held[2] if held else 0))
        assigned[sku] = gid
    histories, skipped = _read_members(settings, client_id, params, spec, groups, history_at_frequency, series_input)
    profiles = {}
    for gid, (group, members, need) in groups.items():
        if gid in skipped:
            continue
        rows = [histories[m] for m in members if m in histories]
        profile = analog.build_profile(group, rows, need, early, spec.levels)
        if profile is not None:
            profiles[gid] = profile.to_dict()
    taken = {s: g for s, g in assigned.items() if g in profiles}
    body = {"attributes_version": int(params["attributes_version"]), "profiles": profiles, "skus": taken}
    objects.put_json(settings.data_bucket, run_analog_key(client_id, run.run_id), body)
    logger.info("analog profiles", extra={"groups": len(profiles), "skus": len(taken), "skipped": len(skipped)})


def _read_members(
    settings: Settings,
    client_id: str,
    params: dict[str, Any],
    spec: Any,
    groups: dict[str, tuple[dict[str, str], list[str], int]],
    history_at_frequency: Any,
    series_input: Any,
) -> tuple[dict[str, Any], set[str]]:
    """Members' histories at the run's frequency from their first sale (each read once), in
    group order until MAX_READS series; the groups left unread."""
    wanted: list[str] = []
    seen: set[str] = set()
    skipped: set[str] = set()
    for gid, (_group, members, _ages) in sorted(groups.items()):
        fresh = [m for m in members if m not in seen]
        if len(seen) + len(fresh) > MAX_READS:
            skipped.add(gid)
            continue
        seen.update(fresh)
        wanted += fresh
    if skipped:
        logger.warning("analog groups over the read budget keep the new policy", extra={"groups": len(skipped)})
    cleaning = params.get("history_cleaning", "none") == "flagged"
    histories: dict[str, Any] = {}
    for start in range(0, len(wanted), READ_CHUNK):
        chunk = wanted[start : start + READ_CHUNK]
        stored = demand.get_stored_series(settings.table_name, client_id, chunk)
        for sku in chunk:
            hist = history_at_frequency(series_input(sku, stored[sku], cleaning), spec) if sku in stored else None
            if hist is not None and hist.y.size:
                histories[sku] = hist.y
    return histories, skipped


def profiles_for(settings: Settings, client_id: str, run_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """SKU -> its group's analog.Profile for this run's targets ({} when the run has none)."""
    if not uses_analog(params) or not run_id:
        return {}
    body = objects.get_json(settings.data_bucket, run_analog_key(client_id, run_id)) or {}
    profiles = {gid: analog.Profile.from_dict(raw) for gid, raw in (body.get("profiles") or {}).items()}
    return {sku: profiles[gid] for sku, gid in (body.get("skus") or {}).items() if gid in profiles}


def with_profiles(inputs: list[SeriesInput], found: dict[str, Any]) -> list[SeriesInput]:
    import dataclasses

    return [dataclasses.replace(i, analog=found[i.sku]) if i.sku in found else i for i in inputs]
