"""Analog forecasts for launches through the product: `python -m bench.accuracy.launch_api`.

The seeded launch suite (bench/accuracy/launch_suite.py: weekly launches in 12 category/brand
groups with shared launch curves) goes the way a tenant's data goes: the local stack starts in
this process on free ports (as `make demo`), two enterprise tenants sign up, and with the Python
client (real HTTP) each uploads the same demand as an ERP exports it (a CSV `sku,date,quantity`,
weekly rows dated Mondays through the cut; a launch with no sale yet is listed with one zero row
in the last history week) through the presigned POST. Tenant A also uploads the items'
attributes (a CSV `sku,category,brand`); tenant B does not, so its run is today's `new` policy.
Each starts one auto run of 8 weeks from the end of its data, and every result is read over HTTP.

Scored as the engine-level bench is (launch_suite.score): WAPE over the 8 weeks after the cut for
the launches, analog (tenant A) against the new policy (tenant B); target analog >= 20 % lower.
Writes bench/out/accuracy_launch_api.{md,json}; the stack's log goes to
<state>/logs/accuracy-launch-stack.log.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.accuracy.launch_suite import (
    HISTORY_WEEKS,
    START,
    TEST_WEEKS,
    LaunchSku,
    coverage,
    generate,
    markdown,
    score,
)
from bench.accuracy.report_files import write_report
from bench.accuracy.through_api import BenchError, on_local_stack, sign_up


def sku_name(item: LaunchSku) -> str:
    """Names as planners' exports carry them: spaces and unicode."""
    return f"Article {item.sku} — 250 ml"


def write_demand(path: Path, suite: Sequence[LaunchSku]) -> int:
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["sku", "date", "quantity"])
        for item in suite:
            first = max(item.launch, 0) if item.history_weeks else HISTORY_WEEKS - 1
            for w in range(first, HISTORY_WEEKS):
                day = START + dt.timedelta(weeks=w)
                out.writerow([sku_name(item), day.isoformat(), f"{item.values[w]:g}"])
                rows += 1
    return rows


def write_attributes(path: Path, suite: Sequence[LaunchSku]) -> int:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["sku", "category", "brand"])
        for item in suite:
            out.writerow([sku_name(item), item.attributes["category"], item.attributes["brand"]])
    return len(suite)


def _tenant_run(stack: Any, suite: Sequence[LaunchSku], workdir: Path, with_attributes: bool) -> dict[str, Any]:
    timings: dict[str, float] = {}
    label = "analog" if with_attributes else "new_policy"
    client = sign_up(stack.describe()["api"], stack.provisioned.service_key, f"Accuracy bench launches {label}")
    with client:
        demand_csv = workdir / f"{label}-demand.csv"
        rows = write_demand(demand_csv, suite)
        started = time.perf_counter()
        report = client.upload_demand(demand_csv, timeout=1800)
        if report["status"] != "SUCCEEDED" or report["rows_accepted"] != rows:
            raise BenchError(f"demand upload {report['status']}: {report['rows_accepted']}/{rows} rows")
        if with_attributes:
            attributes_csv = workdir / "attributes.csv"
            n = write_attributes(attributes_csv, suite)
            report = client.upload_attributes(attributes_csv, timeout=1800)
            if report["status"] != "SUCCEEDED" or report["rows_accepted"] != n:
                raise BenchError(f"attributes upload {report['status']}: {report['rows_accepted']}/{n} rows")
        timings["uploads_s"] = time.perf_counter() - started
        started = time.perf_counter()
        run = client.start_run(TEST_WEEKS, "W", name=f"launch bench: {label}")
        run = client.wait_run(run["run_id"], timeout=3600)
        if run["status"] not in ("SUCCEEDED", "PARTIAL"):
            raise BenchError(f"run {label} finished {run['status']}: {run.get('error')}")
        timings["run_s"] = time.perf_counter() - started
        results = client.results(run["run_id"])
    return {"run": run, "results": results, "timings": timings}


def through_api(stack: Any, suite: Sequence[LaunchSku], workdir: Path) -> dict[str, Any]:
    # The new policy first: the stack's first run pays its workers' warm-up, not the analog one.
    runs = {label: _tenant_run(stack, suite, workdir, label == "analog") for label in ("new_policy", "analog")}
    names = {sku_name(s): s.sku for s in suite}
    means: dict[str, dict[str, np.ndarray]] = {}
    methods: dict[str, dict[str, int]] = {}
    bands: dict[str, dict[str, np.ndarray]] = {}
    groups: dict[str, int] = {}
    for label, found in runs.items():
        means[label], methods[label] = {}, {}
        for r in found["results"]:
            sku = names.get(r["sku"])
            if sku is None or r.get("error") or len(r.get("forecast") or ()) != TEST_WEEKS:
                continue
            means[label][sku] = np.array([p["mean"] for p in r["forecast"]], dtype=float)
            methods[label][str(r["method"])] = methods[label].get(str(r["method"]), 0) + 1
            if label == "analog" and r["method"] == "analog":
                bands[sku] = {k: np.array([p[k] for p in r["forecast"]]) for k in ("lo_80", "hi_80", "lo_95", "hi_95")}
                key = json.dumps(r["analog"]["group"], sort_keys=True)
                groups[key] = r["analog"]["members"]
    res = score(suite, means)
    res["methods"] = methods
    res["coverage_analog"] = coverage(suite, bands)
    res["groups_found"] = len(groups)
    res["timings"] = {label: found["timings"] for label, found in runs.items()}
    res["runs"] = {label: {f: found["run"].get(f) for f in ("run_id", "status")} for label, found in runs.items()}
    return res


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy.launch_api", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args(argv)
    suite = generate(args.seed)
    res = on_local_stack(
        "bench.accuracy.launch_api", "accuracy-launch-stack.log", lambda stack, tmp: through_api(stack, suite, tmp)
    )
    if res is None:
        return 1
    write_report("accuracy_launch_api", res, markdown(res, "Analog forecasts for launches through the product"))
    return 0 if res["verdict"]["all"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
