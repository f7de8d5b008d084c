"""Forecast vs actuals and Forecast Value Added (issue #20, items 1 and 2): score finished runs
when demand arrives for dates they forecast, and answer their accuracy (the arithmetic and which
periods are scored: skucast/scoring.py; the storage: repositories/scores.py).

When: both ingestion doors (a file through the presigned POST, and POST /demand) build an
`Arrivals` before their merge and let the merge hand it each SKU's series as stored (still under
the tenant's merge lock); every SKUS_PER_ROUND SKUs are scored as they are merged. The actual is
what the store holds after the merge (whichever upload won each day), so re-applying an upload
scores the same values again and changes nothing, and a correction of a day replaces that day's
point. `score_arrivals` does the same for points already merged, reading their series.

Which runs (documented policy, bounded): a finished run (SUCCEEDED or PARTIAL) joins the tenant's
scoring index in the transaction that finishes it. An arrival scores, per frequency (D, W, M),
the SCORED_RUNS_PER_FREQUENCY newest runs of the index (by creation) whose forecast the arrived
dates can meet (D: a date inside its forecast window; W/M: a date after its origin, since a later
day can complete its last periods). Older runs keep the scores they had. Runs finished before
this feature are not in the index and are not scored.

Cost per ingest, bounded by what arrived: three Queries of the index (at most
SCORED_RUNS_PER_FREQUENCY items each); then per SKUS_PER_ROUND arrived SKUs and scored run, one
BatchGetItem of their score items and one of their results (projected) and, for the SKUs whose
points changed, one BatchGetItem of the sums items they move (the run's one item; the tenant's per
month: the run's, the classes', the methods') and one transaction writing them all (two when
they do not fit 100 actions). No series is read again; never a scan of runs or results. Measured
by bench/scoring.py: README, "Accuracy against actuals".

`final` is scored as the result's final forecast stands: an adjustment made after actuals arrived
re-scores `final` over the SKU's scored points (`rescore_final`, called by services/adjustments
after its transaction), and the adjustment's transaction moves the SKU's score item to a new
version, so a scorer that read the score item before the adjustment cannot write a stale
`final` (scorers read score items before results).

Weekly and monthly runs: a period is scored once the SKU's stored demand reaches its last day,
with the period's total as the actual, and re-scored by every later arrival of the SKU (see
skucast/scoring.py).

Alerts: after a SKU's points are stored, `after_scored` raises `demand_shift` and the SKU's
`accuracy_degraded`, and each write raises the tenant's `accuracy_degraded` from the run's sums
(thresholds: the tenant's alert settings, read once per write; deduplication: services/alerts.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from skucast import alerts as alert_rules
from skucast import scoring
from skucast.alerts import AlertSettings
from skucast.errors import FieldError, Unprocessable
from skucast.forecasting.periods import next_period
from skucast.observability import metrics
from skucast.pagination import decode_cursor, encode_cursor
from skucast.records import RunRecord, RunStatus, ScoreRecord, ScoringEntry, StoredResult
from skucast.repositories import demand as demand_repo
from skucast.repositories import runs as runs_repo
from skucast.repositories import scores as repo
from skucast.schemas.accuracy import AccuracyItem, AccuracyList, GroupAccuracy, Metrics, RunAccuracy
from skucast.services import alerts as alert_service
from skucast.services.runs import load_run
from skucast.settings import Settings

SCORED_RUNS_PER_FREQUENCY = 3  # each costs one more scoring pass per upload (README)
FREQUENCIES = ("D", "W", "M")
# SKUs per round: per scored run one BatchGetItem of their score items and one of their results
# (100 keys a call), and one transaction of their changes with the sums items they move - the
# run's one, and per month the tenant's three (run, classes, methods) - within TransactWriteItems'
# 100 actions: 96 + 4 when a round's points fall in one month (two transactions when in two).
SKUS_PER_ROUND = 96
CONFLICT_RETRIES = 5
BY = ("run", "class", "method")


# ---------------------------------------------------------------- the index
def scoring_entry(run: RunRecord) -> ScoringEntry:
    """The index entry of a run that is finishing: the dates that can meet its forecast (any,
    when the run has no common origin and each SKU's forecast starts after its own data)."""
    frequency = str(run.params.get("frequency", "D"))
    if not run.as_of:
        return ScoringEntry(run.run_id, frequency, run.result_shards, "0001-01-01", "9999-12-31")
    horizon = int(run.params.get("horizon", 1))
    origin = dt.date.fromisoformat(run.as_of[:10])
    # Weekly runs on weekly data keep the data's weekday: a week either side covers any of them.
    last = next_period(origin, frequency, horizon + 1) + dt.timedelta(days=7)
    return ScoringEntry(
        run.run_id, frequency, run.result_shards, (origin + dt.timedelta(days=1)).isoformat(), last.isoformat()
    )


def index_actions(run: RunRecord, status: RunStatus, client_id: str) -> list[dict[str, Any]]:
    """What the transaction finishing `run` with `status` adds: its scoring index entry. A what-if
    run (a scenario) is not a forecast of record: it is not scored, and does not push the run it
    changes out of the newest runs that actuals score."""
    if status not in (RunStatus.SUCCEEDED, RunStatus.PARTIAL) or run.params.get("scenario"):
        return []
    return [repo.index_action(client_id, scoring_entry(run))]


def runs_to_score(settings: Settings, client_id: str, first: dt.date, last: dt.date) -> list[ScoringEntry]:
    """The policy (module docstring): per frequency, the newest indexed runs the dates can meet."""
    out = []
    for frequency in FREQUENCIES:
        for entry in repo.latest_runs(settings.table_name, client_id, frequency, SCORED_RUNS_PER_FREQUENCY):
            if last.isoformat() < entry.window_from:
                continue
            if frequency == "D" and first.isoformat() > entry.window_to:
                continue
            out.append(entry)
    return out


# ---------------------------------------------------------------- scoring arrivals
class Arrivals:
    """One ingest's arrived points, scored as they are merged. Built before the merge (it finds
    the runs to score: three index Queries); the merge hands `keep` each SKU's series as stored,
    and every SKUS_PER_ROUND SKUs kept are scored at once (so no series is read again, and memory
    holds one round); `score` scores the rest - or, without a merge handing series, reads them."""

    def __init__(self, settings: Settings, client_id: str, arrived: Mapping[str, Any]) -> None:
        self.settings, self.client_id, self.arrived = settings, client_id, arrived
        self.kept: dict[str, scoring.DailyActuals] = {}
        self.done: set[str] = set()
        self.written = 0
        self.entries: list[ScoringEntry] = []
        # An ingest's accepted points hold every date in one array; any mapping of points will do.
        every = getattr(arrived, "dates", None)
        parts = [np.asarray(every)] if every is not None else [np.asarray(arrived[s].dates) for s in arrived]
        dates = np.concatenate([p.astype("datetime64[D]").ravel() for p in parts]) if parts else np.empty(0)
        if dates.size:
            first, last = dates.min().astype(dt.date), dates.max().astype(dt.date)
            self.entries = runs_to_score(settings, client_id, first, last)
        starts = [dt.date.fromisoformat(e.window_from) for e in self.entries]
        self.cut = min(starts) if starts else None

    def keep(self, sku: str, series: Any) -> None:
        """The SKU's series as the merge stored it (a DemandSeries): only the days from the
        earliest forecast this ingest may score."""
        if self.cut is None or sku not in self.arrived:
            return
        self.kept[sku] = scoring.daily_actuals(series.start, series.values, series.granularity).since(self.cut)
        if len(self.kept) >= SKUS_PER_ROUND:
            self._round(sorted(self.kept), dict(self.kept))
            self.kept.clear()

    def score(self, heartbeat: Callable[[], None] = lambda: None) -> int:
        """Score what is left: SKUs kept since the last round, and any the merge did not hand
        over (their series read from the store). Returns the score items written."""
        if self.entries:
            if self.kept:
                self._round(sorted(self.kept), dict(self.kept))
                self.kept.clear()
            rest = sorted(set(self.arrived) - self.done)
            for start in range(0, len(rest), SKUS_PER_ROUND):
                self._round(rest[start : start + SKUS_PER_ROUND], None)
                heartbeat()
        if self.written:
            metrics.add_metric(name="ScoredSkus", unit="Count", value=self.written)
        return self.written

    def _round(self, chunk: list[str], kept: Mapping[str, scoring.DailyActuals] | None) -> None:
        days = {
            s: [d.astype(dt.date) for d in np.asarray(self.arrived[s].dates).astype("datetime64[D]")] for s in chunk
        }
        for entry in self.entries:
            self.written += _score_round(self.settings, self.client_id, entry, chunk, days, kept)
        self.done.update(chunk)


def score_arrivals(
    settings: Settings,
    client_id: str,
    arrived: Mapping[str, Any],
    heartbeat: Callable[[], None] = lambda: None,
) -> int:
    """Score the finished runs that arrived points (already merged) meet, reading their series
    from the store. `arrived` maps SKU -> its points (`.dates`); returns the score items written."""
    return Arrivals(settings, client_id, arrived).score(heartbeat)


def _actuals(settings: Settings, client_id: str, skus: Sequence[str]) -> dict[str, scoring.DailyActuals]:
    stored = demand_repo.get_series(settings.table_name, client_id, skus)
    return {sku: scoring.daily_actuals(s.start, s.values, s.granularity) for sku, s in stored.items()}


def _score_round(
    settings: Settings,
    client_id: str,
    entry: ScoringEntry,
    skus: Sequence[str],
    days: Mapping[str, list[dt.date]],
    kept: Mapping[str, scoring.DailyActuals] | None = None,
) -> int:
    if entry.frequency == "D":  # only SKUs with a day inside the run's window
        skus = [s for s in skus if any(entry.window_from <= d.isoformat() <= entry.window_to for d in days[s])]
    if not skus:
        return 0
    for attempt in range(CONFLICT_RETRIES):
        # The series as this ingest merged them; after a conflict, as the store holds them now.
        actuals = dict(kept) if kept is not None and attempt == 0 else _actuals(settings, client_id, skus)
        # Score items before results: an adjustment moves the score item in its transaction, so
        # one that lands after this read makes the write below fail, and one before it is read.
        stored = repo.get_scores(settings.table_name, client_id, entry.run_id, entry.result_shards, skus)
        results = runs_repo.get_results(settings.table_name, client_id, entry.run_id, entry.result_shards, skus)
        if not results:
            return 0
        changes = []
        for sku, result in results.items():
            if sku not in actuals or not result.forecast or result.document.get("error"):
                continue
            dates = [str(p["date"]) for p in result.forecast]
            actual = scoring.period_actuals(dates, entry.frequency, actuals[sku], days.get(sku, ()))
            new = scoring.scored_points(result.forecast, result.finals(), result.document.get("naive"), actual)
            change = _change(sku, result, stored.get(sku), new)
            if change is not None:
                changes.append(change)
        if not changes:
            return 0
        try:
            _write(settings, client_id, entry.run_id, entry.result_shards, changes)
        except repo.VersionMoved:
            continue  # another writer moved a SKU since we read it: score again from fresh reads
        return len(changes)
    raise RuntimeError("scoring kept conflicting with other writers")


class _Change:
    """A SKU whose scored points change: the old and new points, and what the write needs."""

    def __init__(
        self,
        sku: str,
        record: ScoreRecord | None,
        old: dict[str, scoring.ScoredPoint],
        new: dict[str, scoring.ScoredPoint],
        result: StoredResult,
    ) -> None:
        self.sku, self.old, self.new = sku, old, new
        self.version = record.version if record else 0
        doc = result.document
        self.demand_class = str(doc.get("demand_class") or "unknown")
        self.method = str(doc.get("method") or "unknown")
        scale = doc.get("scale")
        self.scale = float(scale) if scale is not None else None


def _points(record: ScoreRecord | None) -> dict[str, scoring.ScoredPoint]:
    if record is None:
        return {}
    points = (scoring.ScoredPoint.from_list(p) for p in record.points)
    return {p.date: p for p in points}


def _change(
    sku: str, result: StoredResult, record: ScoreRecord | None, arrived: dict[str, scoring.ScoredPoint]
) -> _Change | None:
    """The SKU's points after these arrivals (replacing the points of the same periods), with
    `final` as the result's final forecast stands now; None when nothing changes."""
    old = _points(record)
    merged = scoring.with_finals({**old, **arrived}, result.forecast, result.finals())
    if merged == old:
        return None
    return _Change(sku, record, old, merged, result)


Groups = dict[str, dict[str, float]]  # group -> flat sums


def _merge(into: dict[repo.SumsKey, Groups], deltas: Mapping[repo.SumsKey, Groups]) -> None:
    for key, groups in deltas.items():
        target = into.setdefault(key, {})
        for group, flat in groups.items():
            sums = target.setdefault(group, {})
            for name, value in flat.items():
                sums[name] = sums.get(name, 0) + value


def _deltas(run_id: str, c: _Change) -> dict[repo.SumsKey, Groups]:
    """What a SKU's change adds to each sums item: the run's (whole, class, method groups) and
    the tenant's per month (the run's item; the month's class and method items)."""
    out: dict[repo.SumsKey, Groups] = {}
    old_months = scoring.sums_by_month(c.old.values(), c.scale)
    new_months = scoring.sums_by_month(c.new.values(), c.scale)
    total = scoring.ScoreSums()
    for month in sorted(set(old_months) | set(new_months)):
        delta = new_months.get(month, scoring.ScoreSums()).combine(old_months.get(month, scoring.ScoreSums()), -1)
        if delta.is_zero():
            continue
        total = total.combine(delta)
        flat = _flat(delta)
        _merge(out, {
            repo.tenant_item("run", month, run_id): {"": flat},
            repo.tenant_item("class", month): {c.demand_class: flat},
            repo.tenant_item("method", month): {c.method: flat},
        })  # fmt: skip
    flat = _flat(total)
    if not c.old and c.new:
        flat["skus"] = 1
    _merge(out, {repo.run_item(): {"all": flat, f"class/{c.demand_class}": flat, f"method/{c.method}": flat}})
    return out


def _transactions(run_id: str, changes: Sequence[_Change]) -> list[tuple[list[_Change], dict[repo.SumsKey, Groups]]]:
    """The changes in groups whose score items and sums items fit one transaction each."""
    groups: list[tuple[list[_Change], dict[repo.SumsKey, Groups]]] = []
    for c in changes:
        deltas = _deltas(run_id, c)
        if groups:
            members, keys = groups[-1]
            if len(members) + 1 + len(set(keys) | set(deltas)) <= repo.MAX_ACTIONS:
                members.append(c)
                _merge(keys, deltas)
                continue
        groups.append(([c], deltas))
    return groups


def _write(settings: Settings, client_id: str, run_id: str, shards: int, changes: Sequence[_Change]) -> None:
    """Each group in one transaction: its score items, and its sums items read and moved by the
    group's deltas (VersionMoved when any of them changed since read). Then the alerts: each
    SKU's once its points are stored, the run's total once, from the last group's sums."""
    thresholds = alert_service.get_settings(settings, client_id)
    run_total = None
    for members, deltas in _transactions(run_id, changes):
        sums = repo.get_sums(settings.table_name, client_id, run_id, deltas)
        for key, groups in deltas.items():
            sums[key].add(groups)
        sums[repo.run_item()].dates.update(date for c in members for date in c.new)
        writes = [
            repo.ScoreWrite(
                c.sku,
                c.version,
                [p.as_list() for p in sorted(c.new.values(), key=lambda p: p.date)],
                c.demand_class,
                c.method,
                c.scale,
            )
            for c in members
        ]
        repo.write_scores(settings.table_name, client_id, run_id, shards, writes, sums)
        for c in members:
            after_scored(settings, client_id, run_id, c.sku, list(c.new.values()), c.scale, thresholds)
        run_total = sums[repo.run_item()]
    if run_total is not None:
        _check_run_accuracy(settings, client_id, run_id, run_total.groups.get("all", {}), run_total.dates, thresholds)


def _flat(sums: scoring.ScoreSums) -> dict[str, float]:
    flat: dict[str, float] = {}
    for name in scoring.SETS:
        for field, value in sums.sets[name].flat().items():
            flat[f"{name}_{field}"] = value
    return flat


def after_scored(
    settings: Settings,
    client_id: str,
    run_id: str,
    sku: str,
    points: list[scoring.ScoredPoint],
    scale: float | None,
    thresholds: AlertSettings,
) -> None:
    """Once a SKU's scored points in a run are stored (every point it has now, in any order):
    raise `demand_shift` when its actuals left the 95 % interval for `shift_periods` periods in a
    row on one side, and `accuracy_degraded` for the SKU when its WAPE passed the threshold and
    the seasonal-naive benchmark's WAPE on the same points.
    services/alerts.py deduplicates: the same evidence raises nothing new."""
    ordered = sorted(points, key=lambda p: p.date)
    shift = alert_rules.demand_shift([_alert_point(p) for p in ordered], thresholds.shift_periods)
    if shift is not None:
        alert_service.raise_alert(
            settings, client_id, "demand_shift", sku=sku, run_id=run_id, detail=shift,
            since=shift["start"], until=shift["end"],
        )  # fmt: skip
    sums = scoring.point_sums(ordered, scale).sets
    wape, naive_wape = sums["metrics"].metrics()["wape"], sums["naive"].metrics()["wape"]
    degraded = alert_rules.accuracy_degraded({"wape": wape, "points": sums["metrics"].n}, thresholds)
    # A SKU alerts only where the forecast also did worse than the seasonal-naive benchmark on the
    # same points: sparse demand has a high WAPE by nature, and a threshold alone would flag it all.
    if degraded is not None and (naive_wape is None or (wape or 0.0) > naive_wape):
        degraded |= {"scope": "sku", "run_id": run_id, "naive_wape": naive_wape}
        alert_service.raise_alert(
            settings, client_id, "accuracy_degraded", sku=sku, run_id=run_id, detail=degraded,
            since=ordered[0].date, until=ordered[-1].date,
        )  # fmt: skip


def _check_run_accuracy(
    settings: Settings,
    client_id: str,
    run_id: str,
    total: Mapping[str, float],
    dates: set[str],
    thresholds: AlertSettings,
) -> None:
    """The tenant's `accuracy_degraded`: the run's WAPE over every point scored so far."""
    group = _group(total)
    if group.metrics is None or not dates:
        return
    degraded = alert_rules.accuracy_degraded({"wape": group.metrics.wape, "points": group.points_scored}, thresholds)
    if degraded is not None:
        degraded |= {"scope": "tenant", "run_id": run_id}
        alert_service.raise_alert(
            settings, client_id, "accuracy_degraded", run_id=run_id, detail=degraded,
            since=min(dates), until=max(dates),
        )  # fmt: skip


def _alert_point(p: scoring.ScoredPoint) -> alert_rules.Point:
    """A scored point as the alert rules read it: its 95 % bounds, if the run has that level."""
    band = next(((lo, hi) for level, lo, hi in p.bounds if level == 95), (None, None))
    return alert_rules.Point(p.date, p.actual, p.mean, *band)


# ---------------------------------------------------------------- adjustments
def rescore_final(settings: Settings, client_id: str, run: RunRecord, sku: str) -> None:
    """After an adjustment of a SKU's result: its already scored points take the new `final`."""
    for _ in range(CONFLICT_RETRIES):
        record = repo.get_scores(settings.table_name, client_id, run.run_id, run.result_shards, [sku]).get(sku)
        if record is None or not record.points:
            return
        result = runs_repo.get_results(settings.table_name, client_id, run.run_id, run.result_shards, [sku]).get(sku)
        if result is None:
            return
        change = _change(sku, result, record, {})
        if change is None:
            return
        try:
            _write(settings, client_id, run.run_id, run.result_shards, [change])
        except repo.VersionMoved:
            continue
        return
    raise RuntimeError("re-scoring kept conflicting with other writers")


# ---------------------------------------------------------------- reading accuracy
def _metrics(numbers: Mapping[str, float], name: str) -> Metrics:
    raw = {k[len(name) + 1 :]: v for k, v in numbers.items() if k.startswith(name + "_")}
    return Metrics(**scoring.Sums.from_flat(raw).metrics())


def _group(numbers: Mapping[str, float]) -> GroupAccuracy:
    points = int(numbers.get("metrics_n", 0))
    return GroupAccuracy(
        skus_scored=int(numbers.get("skus", 0)),
        points_scored=points,
        metrics=_metrics(numbers, "metrics") if points else None,
        naive=_metrics(numbers, "naive") if numbers.get("naive_n") else None,
        final=_metrics(numbers, "final") if points else None,
    )


def run_accuracy(settings: Settings, client_id: str, run_id: str) -> RunAccuracy:
    load_run(settings, client_id, run_id)  # 404 for another tenant's run, or none
    state = repo.run_sums(settings.table_name, client_id, run_id)
    total = _group(state.groups.get("all", {}))

    def by(prefix: str) -> dict[str, GroupAccuracy]:
        return {
            name[len(prefix) :]: _group(flat)
            for name, flat in sorted(state.groups.items())
            if name.startswith(prefix) and flat.get("metrics_n")
        }

    return RunAccuracy(
        run_id=run_id,
        actuals_through=max(state.dates) if state.dates and total.points_scored else None,
        skus_scored=total.skus_scored,
        points_scored=total.points_scored,
        metrics=total.metrics,
        naive=total.naive,
        final=total.final,
        by_class=by("class/"),
        by_method=by("method/"),
    )


def _position(state: dict[str, Any], by: str) -> bool:
    after, skip = state.get("after"), state.get("skip")
    return (
        set(state) == {"after", "skip"}
        and (after is None or (isinstance(after, str) and repo.position_of(after, by)))
        and isinstance(skip, int)
        and not isinstance(skip, bool)
        and skip >= 0
    )


def _day(value: str | None, field: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Unprocessable(
            f"`{field}` is not a date.", errors=[FieldError(field, "invalid_date", "YYYY-MM-DD")]
        ) from None


def tenant_accuracy(
    settings: Settings,
    client_id: str,
    start_day: str | None,
    end_day: str | None,
    by: str,
    limit: int,
    cursor: str | None,
) -> AccuracyList:
    """The tenant's accuracy per calendar month of the actuals' dates (`period` YYYY-MM) and `by`
    key, for the months that overlap [from, to] (default: every month). A cursor names the last
    month item read in full (`after`) and how many entries of the next one were listed (`skip`)."""
    start, end = _day(start_day, "from"), _day(end_day, "to")
    if by not in BY:
        raise Unprocessable(
            "`by` must be run, class or method.", errors=[FieldError("by", "invalid", "one of run, class, method")]
        )
    if start and end and start > end:
        raise Unprocessable("`from` is after `to`.", errors=[FieldError("from", "after_to", "`from` is after `to`")])
    state = decode_cursor(cursor, f"accuracy-{by}", lambda s: _position(s, by)) or {"after": None, "skip": 0}
    first = start.isoformat()[:7] if start else "0000-00"
    last = end.isoformat()[:7] if end else "9999-99"
    after, skip = state["after"], int(state["skip"])
    out: list[AccuracyItem] = []
    while len(out) < limit:
        # At least one entry per month item: never more items than the page still has room for.
        months, more = repo.page_tenant_sums(settings.table_name, client_id, by, first, last, limit - len(out), after)
        for month in months:
            entries = [
                AccuracyItem(
                    period=month.month,
                    key=month.key if by == "run" else group,
                    **_group(flat).model_dump(exclude={"skus_scored"}),
                )
                for group, flat in sorted(month.groups.items())
                if flat.get("metrics_n")
            ]
            room = limit - len(out)
            out += entries[skip : skip + room]
            if skip + room < len(entries):  # the page is full inside this month
                position = {"after": after, "skip": skip + room}
                return AccuracyList(items=out, next_cursor=encode_cursor(f"accuracy-{by}", position))
            after, skip = repo.month_sk(by, month.month, month.key), 0
        if more is None:
            return AccuracyList(items=out, next_cursor=None)
    return AccuracyList(items=out, next_cursor=encode_cursor(f"accuracy-{by}", {"after": after, "skip": 0}))
