"""Hierarchy accuracy (#21) through the product: `python -m bench.accuracy.hierarchy_api [--seeds N]`.

The same seeded hierarchies as the engine-level bench (bench/accuracy/hierarchy_suite.py's
generator: weekly, 156 weeks of history and 13 to score, total -> 4 categories -> 3
subcategories -> 8 SKUs), seeds 21.. (10 by default), go the way a tenant's data goes: the local
stack starts in this process on free ports (as `make demo`), and per seed a fresh enterprise
tenant, with the Python client (real HTTP):

- uploads the demand as an ERP exports it - a CSV `sku,date,quantity`, one row per SKU and week
  dated Mondays, zero weeks included, SKU names with spaces, unicode and a quote
  (`Crème "sku-c0-s1-03" 500 g`) - through the presigned POST;
- uploads the attributes as a CSV `sku,category,subcategory` (kind "attributes");
- declares the hierarchy (PUT /hierarchies/product, levels [category, subcategory]);
- starts three runs of 13 weeks from the same origin (as_of the last history week, one backtest
  window): (A) the hierarchy reconciled by min_trace, (B) by bottom_up, (C) no hierarchy;
- reads every node at every level (GET /runs/{id}/nodes?level=..., all pages) and every SKU
  result (GET /runs/{id}/results, all pages).

Scored as hierarchy_suite does (MASE per series scaled by its own in-sample seasonal-naive MAE,
lag 52; a level's figure the mean over its series pooled over seeds): base = the nodes' own
`base_forecast` (run A) and, for SKUs, run C's forecasts; MinTrace = run A's answers; bottom-up =
run B's. The nodes' actuals are the suite's SKUs summed by the key each node answers.

Two checks that the comparison is fair, printed with the figures: run C's SKU forecasts are the
SKU base forecasts (the engine is deterministic; C is compared with B's SKU forecasts, which
bottom-up keeps, and with the `base_forecast` each SKU result of run A answers), and runs A and
B answer the same node base forecasts. Beside
it (unless --no-engine), hierarchy_suite.evaluate on the same seeds in this process: the
engine-level figures, which should agree closely.

Writes bench/out/hierarchy_accuracy_api.{md,json}; the stack's log goes to
<state>/logs/accuracy-hierarchy-stack.log.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.accuracy.hierarchy_suite import (
    HISTORY_WEEKS,
    LEVEL_NAMES,
    LEVELS,
    SEASON,
    START,
    TEST_WEEKS,
    Suite,
    generate,
    level_table,
    verdict,
    verdict_lines,
)
from bench.accuracy.report_files import write_report
from bench.accuracy.scoring import mase
from bench.accuracy.through_api import BenchError, on_local_stack, sign_up

HIERARCHY = "product"
RUNS = {"min_trace": "min_trace", "bottom_up": "bottom_up", "base": None}  # label -> reconciliation
KINDS = ("base", "min_trace", "bottom_up")


def sku_name(sku: str) -> str:
    """Names as ERP exports carry them: spaces, unicode and a quote (CSV-escaped on the way)."""
    return f'Crème "{sku}" 500 g'


def write_demand(path: Path, suite: Suite) -> int:
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["sku", "date", "quantity"])
        for sku, values in zip(suite.skus, suite.history, strict=True):
            for w, value in enumerate(values):
                out.writerow([sku_name(sku), (START + dt.timedelta(weeks=w)).isoformat(), f"{value:g}"])
                rows += 1
    return rows


def write_attributes(path: Path, suite: Suite) -> int:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["sku", *LEVELS])
        for sku in suite.skus:
            out.writerow([sku_name(sku), *(suite.attributes[sku][lv] for lv in LEVELS)])
    return len(suite.skus)


def means(points: Sequence[dict[str, Any]]) -> np.ndarray:
    return np.array([float(p["mean"]) for p in points])


def node_rows(suite: Suite, key: dict[str, str | None]) -> np.ndarray:
    """The suite's SKU rows under a node's key (every attribute of the key matches; the total's
    key is empty)."""
    return np.array([all(suite.attributes[s].get(lv) == v for lv, v in key.items()) for s in suite.skus], dtype=bool)


def score_seed(
    suite: Suite, nodes: dict[str, list[dict[str, Any]]], skus: dict[str, list[dict[str, Any]]]
) -> dict[str, dict[str, list[float]]]:
    """One seed's answers -> MASE per series by level and kind.

    `nodes[kind]`: the run's node items (all levels; "base" is made of min_trace's items'
    `base_forecast`); `skus[kind]`: the run's SKU result items. Every series must answer
    TEST_WEEKS points, or this raises: a missing series would bias a level's mean."""
    names = {sku_name(s): i for i, s in enumerate(suite.skus)}
    scores: dict[str, dict[str, list[float]]] = {
        lv: {k: [] for k in KINDS} for lv in (*LEVEL_NAMES, "sku_intermittent")
    }
    by_id = {kind: {n["node_id"]: n for n in items} for kind, items in nodes.items()}
    for node in nodes["min_trace"]:
        rows = node_rows(suite, node["key"])
        if not rows.any():
            raise BenchError(f"node {node['key']} has no SKU of the suite")
        hist, test = suite.history[rows].sum(axis=0), suite.test[rows].sum(axis=0)
        for kind in KINDS:
            item = by_id["min_trace" if kind == "base" else kind].get(node["node_id"])
            points = (item or {}).get("base_forecast" if kind == "base" else "forecast") or []
            if len(points) != TEST_WEEKS:
                raise BenchError(f"{kind}: node {node['key']} answered {len(points)} points")
            scores[node["level"]][kind].append(mase(hist, test, means(points), SEASON))
    for kind in KINDS:
        found = {names[r["sku"]]: r for r in skus[kind] if r["sku"] in names}
        if len(found) != len(suite.skus):
            raise BenchError(f"{kind}: {len(found)} of {len(suite.skus)} SKU results")
        for i in range(len(suite.skus)):
            r = found[i]
            if r.get("error") or len(r.get("forecast") or ()) != TEST_WEEKS:
                raise BenchError(f"{kind}: SKU {suite.skus[i]} answered {r.get('error') or 'no forecast'}")
            got = mase(suite.history[i], suite.test[i], means(r["forecast"]), SEASON)
            scores["sku"][kind].append(got)
            if suite.intermittent[i]:
                scores["sku_intermittent"][kind].append(got)
    return scores


def max_abs_diff(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]], key: str, field: str) -> float:
    """Largest |a - b| of the `field` forecasts' means over the items both have (by `key`)."""
    other = {x[key]: x for x in b}
    worst = 0.0
    for x in a:
        y = other.get(x[key])
        if y is None or not x.get(field) or not y.get(field):
            raise BenchError(f"{x[key]!r} is not answered by both runs")
        worst = max(worst, float(np.max(np.abs(means(x[field]) - means(y[field])))))
    return worst


def _seed(stack: Any, seed: int, workdir: Path) -> dict[str, Any]:
    suite = generate(seed)
    timings: dict[str, float] = {}
    client = sign_up(stack.describe()["api"], stack.provisioned.service_key, f"Accuracy bench hierarchy {seed}")
    with client:
        started = time.perf_counter()
        demand_csv = workdir / f"demand-{seed}.csv"
        rows = write_demand(demand_csv, suite)
        report = client.upload_demand(demand_csv, timeout=1800)
        if report["status"] != "SUCCEEDED" or report["rows_accepted"] != rows:
            raise BenchError(f"demand upload {report['status']}: {report['rows_accepted']}/{rows} rows")
        attributes_csv = workdir / f"attributes-{seed}.csv"
        n = write_attributes(attributes_csv, suite)
        report = client.upload_attributes(attributes_csv, timeout=1800)
        if report["status"] != "SUCCEEDED" or report["rows_accepted"] != n:
            raise BenchError(f"attributes upload {report['status']}: {report['rows_accepted']}/{n} rows")
        client.declare_hierarchy(HIERARCHY, list(LEVELS))
        timings["uploads_s"] = time.perf_counter() - started
        started = time.perf_counter()
        as_of = (START + dt.timedelta(weeks=HISTORY_WEEKS - 1)).isoformat()
        runs = {}
        for label, method in RUNS.items():  # all three queued at once: the stack's workers share them
            extra = {"hierarchy": HIERARCHY, "reconciliation": method} if method else {}
            name = f"hierarchy bench {seed}: {label}"
            runs[label] = client.start_run(TEST_WEEKS, "W", as_of=as_of, backtest_windows=1, name=name, **extra)
        for label, started_run in runs.items():
            runs[label] = client.wait_run(started_run["run_id"], progress=False, timeout=3600)
            if runs[label]["status"] != "SUCCEEDED":
                raise BenchError(
                    f"seed {seed} run {label} finished {runs[label]['status']}: {runs[label].get('error')}"
                )
        timings["runs_s"] = time.perf_counter() - started
        nodes = {
            label: [item for lv in ("total", *LEVELS) for item in client.node_items(runs[label]["run_id"], lv)]
            for label in ("min_trace", "bottom_up")
        }
        skus = {label: client.results(runs[label]["run_id"]) for label in RUNS}
    checks = {
        # The engine is deterministic and bottom-up keeps the SKUs' base forecasts: C == B at the SKUs.
        "sku_base_vs_bottom_up_max_abs": max_abs_diff(skus["base"], skus["bottom_up"], "sku", "forecast"),
        "node_base_a_vs_b_max_abs": max_abs_diff(nodes["min_trace"], nodes["bottom_up"], "node_id", "base_forecast"),
        # ...and run A answers each SKU's own base forecast beside its reconciled one: C == A's base.
        "sku_base_vs_a_base_max_abs": max_abs_diff(
            skus["base"],
            [{"sku": r["sku"], "forecast": r["base_forecast"]} for r in skus["min_trace"]],
            "sku",
            "forecast",
        ),
    }
    return {
        "scores": score_seed(suite, nodes, skus),
        "checks": checks,
        "reconciliation": sorted({str(n.get("reconciliation")) for n in nodes["min_trace"]}),
        "series": len(nodes["min_trace"]) + len(suite.skus),
        "timings": timings,
        "runs": {label: runs[label]["run_id"] for label in RUNS},
    }


def through_api(stack: Any, seeds: Sequence[int], workdir: Path) -> dict[str, Any]:
    per_seed = {}
    for seed in seeds:
        per_seed[seed] = _seed(stack, seed, workdir)
        print(f"seed {seed}: {per_seed[seed]['checks']} {per_seed[seed]['timings']}", flush=True)
    return pooled_result(seeds, per_seed)


def pooled_result(seeds: Sequence[int], per_seed: dict[int, dict[str, Any]]) -> dict[str, Any]:
    pooled: dict[str, dict[str, list[float]]] = {}
    for got in per_seed.values():
        for level, kinds in got["scores"].items():
            for kind, values in kinds.items():
                pooled.setdefault(level, {}).setdefault(kind, []).extend(values)
    table = level_table(pooled)
    checks = {
        name: max(got["checks"][name] for got in per_seed.values()) for name in next(iter(per_seed.values()))["checks"]
    }
    return {
        "seeds": list(seeds),
        "series": sum(got["series"] for got in per_seed.values()),
        "levels": table,
        "reconciliation": sorted({m for got in per_seed.values() for m in got["reconciliation"]}),
        "checks": checks,
        "verdict": verdict(table),
        "per_seed": {
            seed: {k: got[k] for k in ("checks", "timings", "runs", "reconciliation")} for seed, got in per_seed.items()
        },
    }


def engine_level(seeds: Sequence[int]) -> dict[str, Any]:
    """hierarchy_suite's figures for the same seeds (the engine's stages on arrays)."""
    from bench.accuracy.hierarchy_suite import evaluate

    pooled: dict[str, dict[str, list[float]]] = {}
    for seed in seeds:
        for level, kinds in evaluate(generate(seed))["scores"].items():
            for kind in KINDS:
                pooled.setdefault(level, {}).setdefault(kind, []).extend(kinds[kind])
    return level_table(pooled)


def markdown(res: dict[str, Any]) -> str:
    c = res["checks"]
    lines = [
        f"Seeds {res['seeds']} through the product (local stack, real HTTP), {res['series']} series in all "
        f"(reconciliation answered: {', '.join(res['reconciliation'])}).",
        "",
        "| level | series | MASE base | MASE MinTrace | MASE bottom-up "
        "| MinTrace vs base | bottom-up vs base | MinTrace better on |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level, row in res["levels"].items():
        lines.append(
            f"| {level} | {row['series']} | {row['mase_base']:.3f} | {row['mase_min_trace']:.3f} | "
            f"{row['mase_bottom_up']:.3f} | **{row['min_trace_vs_base_pct']:+.1f} %** | "
            f"{row['bottom_up_vs_base_pct']:+.1f} % | {row['min_trace_better']} of {row['series']} |"
        )
    lines += [
        "",
        f"- Run C's SKU forecasts (no hierarchy) against run B's (bottom-up keeps the SKU base forecasts): "
        f"max |difference| {c['sku_base_vs_bottom_up_max_abs']:.2e} units",
        f"- Run C's SKU forecasts against the SKU base forecasts run A answers (`base_forecast`): max "
        f"|difference| {c['sku_base_vs_a_base_max_abs']:.2e} units",
        f"- The nodes' base forecasts answered by runs A and B: max |difference| "
        f"{c['node_base_a_vs_b_max_abs']:.2e} units",
    ]
    engine = res.get("engine_levels")
    if engine:
        lines += [
            "",
            "Engine level (hierarchy_suite.evaluate, same seeds, this process) and the difference through the API:",
            "",
            "| level | base engine / API | MinTrace engine / API | bottom-up engine / API |",
            "|---|---:|---:|---:|",
        ]
        for level, row in engine.items():
            api = res["levels"][level]
            pairs = [(row[f"mase_{k}"], api[f"mase_{k}"]) for k in KINDS]
            cells = " | ".join(f"{e:.3f} / {a:.3f} ({100 * (a / e - 1):+.2f} %)" for e, a in pairs)
            lines.append(f"| {level} | {cells} |")
    lines += verdict_lines(res["verdict"])
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy.hierarchy_api", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 21, 22, ... (default 10)")
    parser.add_argument("--no-engine", action="store_true", help="skip the engine-level figures beside")
    args = parser.parse_args(argv)
    seeds = list(range(21, 21 + args.seeds))
    started = time.perf_counter()
    res = on_local_stack(
        "bench.accuracy.hierarchy_api",
        "accuracy-hierarchy-stack.log",
        lambda stack, tmp: through_api(stack, seeds, tmp),
    )
    if res is None:
        return 1
    res["api_seconds"] = round(time.perf_counter() - started, 1)
    if not args.no_engine:
        started = time.perf_counter()
        res["engine_levels"] = engine_level(seeds)
        res["engine_seconds"] = round(time.perf_counter() - started, 1)
    write_report("hierarchy_accuracy_api", res, markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
