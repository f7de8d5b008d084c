"""Benchmark: scoring a 10,000-SKU run against one day of actuals, against ingesting that day in
the same handler run (issue #20: scoring <= 2x ingesting; not a test).

Each repetition is a new tenant in moto in-process (patched as the local stack runs it,
skucast_local.moto_fast): 10,000 SKUs with 100 days of history, a finished 28-day daily run of
them (results seeded as the worker writes them: forecast, intervals, the seasonal-naive benchmark,
the MASE scale) in the tenant's scoring index. Then day 1 and day 2 of the horizon arrive, each as
one CSV file of 10,000 rows (one per SKU) through IngestFunction's handler on the S3 event. The
handler's thread CPU time is split by wrapping services.scoring.Arrivals (finding the runs, keeping
the merged series' window, scoring): scoring, and the
rest of the handler (reading, validating and merging the day: "ingesting"). Day 2 is the steady
state (every SKU's score item already holds a point). Verdict on the median ratio of day 2.

DynamoDB write units, as AWS would bill them, from what the handler wrote: scoring's
transactions (each score item written, and each sums item updated, at 2 units per KB of the item
as it is after the write: transactional writes cost twice) per scored point; ingesting's series
items and catalog pages (transactional, same rule) per row. `aws_model.scoring_model` prices them.

    uv run python -m bench.scoring [--reps 3] [--skus 10000] [--out bench/out/scoring.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench._common import ROOT, emit

SKUS = 10_000
DAYS = 100
HORIZON = 28
START = dt.date(2024, 1, 1)
TARGET = 2.0


def _result(i: int, first: dt.date) -> dict[str, Any]:
    level = 5.0 + i % 50
    points = []
    for d in range(HORIZON):
        mean = level * (1.0 + 0.2 * ((d % 7) - 3) / 3)
        points.append(
            {
                "date": (first + dt.timedelta(days=d)).isoformat(),
                "mean": mean,
                "lo_80": mean * 0.7,
                "hi_80": mean * 1.3,
                "lo_95": mean * 0.5,
                "hi_95": mean * 1.5,
            }
        )
    return {
        "sku": f"SKU-{i:06d}",
        "demand_class": ("smooth", "erratic", "intermittent", "lumpy")[i % 4],
        "method": ("ets_ann", "theta", "croston_sba", "tsb", "ensemble")[i % 5],
        "forecast": points,
        "metrics": {"mase": 0.8, "wape": 0.3},
        "candidates": {},
        "reason": "bench",
        "error": None,
        "scale": 1.0 + (i % 7) / 10,
        "naive": [level] * HORIZON,
    }


def _csv(n: int, day: dt.date) -> bytes:
    lines = ["sku,date,quantity"] + [f"SKU-{i:06d},{day.isoformat()},{5 + (i * 7919) % 40}" for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def _units(size: int) -> int:
    return 2 * max(1, math.ceil(size / 1024))  # transactional: twice the 1 KB write units


def measure(n: int, reps: int) -> dict[str, Any]:  # noqa: C901 (setup, two ingests and the unit count share the emulator)
    import boto3
    import numpy as np

    from bench.ingest import Context, aws, demand_items, item_bytes

    with aws() as res:
        from ingest.app import handler
        from skucast import ids
        from skucast.ingestion.series import DemandSeries
        from skucast.records import RunRecord, RunStatus
        from skucast.repositories import catalog as catalog_repo
        from skucast.repositories import demand as demand_repo
        from skucast.repositories import dynamo
        from skucast.repositories import runs as runs_repo
        from skucast.repositories import scores as scores_repo
        from skucast.repositories.keys import CLIENT_PROFILE_SK, run_accuracy_pk, tenant_accuracy_pk, tenant_pk
        from skucast.schemas.demand import CreateUploadRequest
        from skucast.services import scoring as scoring_service
        from skucast.services import uploads as uploads_service
        from skucast.settings import get_settings

        settings = get_settings()
        s3 = boto3.client("s3", region_name="us-east-1")
        table = boto3.resource("dynamodb", region_name="us-east-1").Table(res["table"])
        first = START + dt.timedelta(days=DAYS)

        clock: dict[str, float] = defaultdict(float)
        written: list[tuple[list[Any], Any]] = []
        inner_write = scoring_service.repo.write_scores

        def timed(owner: Any, name: str) -> None:
            """Count the thread CPU time inside owner.name as scoring's."""
            inner = getattr(owner, name)

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                began = time.thread_time()
                try:
                    return inner(*args, **kwargs)
                finally:
                    clock["scoring"] += time.thread_time() - began

            setattr(owner, name, wrapper)

        def recorded_write(table_name: str, client_id: str, run_id: str, shards: int, writes: Any, sums: Any) -> None:
            inner_write(table_name, client_id, run_id, shards, writes, sums)
            written.append((list(writes), sums))

        # Everything scoring does inside the handler: finding the runs (before the merge), keeping
        # each merged series' window (during it), scoring (after it).
        for name in ("__init__", "keep", "score"):
            timed(scoring_service.Arrivals, name)
        scoring_service.repo.write_scores = recorded_write  # type: ignore[assignment]

        def seed(tenant: str) -> str:
            table.put_item(
                Item={"pk": tenant_pk(tenant), "sk": CLIENT_PROFILE_SK, "client_id": tenant, "tier": "enterprise"}
            )
            rng = np.random.default_rng(5)
            series = {f"SKU-{i:06d}": DemandSeries(start=START, values=rng.gamma(2, 5, DAYS).round()) for i in range(n)}
            demand_repo.put_series(res["table"], tenant, series, "upl_00000000000000000000")
            catalog_repo.merge_entries(
                res["table"],
                tenant,
                [
                    {"sku": s, "demand_class": "smooth", "last_date": (first - dt.timedelta(days=1)).isoformat()}
                    for s in series
                ],
                None,
            )
            run_id = ids.new_sortable_id("run")
            shards = max(1, math.ceil(n / 5000))
            run = RunRecord(
                run_id=run_id,
                status=RunStatus.SUCCEEDED,
                created_at="2024-04-10T00:00:00Z",
                params={"horizon": HORIZON, "frequency": "D", "levels": [80, 95]},
                result_shards=shards,
                as_of=(first - dt.timedelta(days=1)).isoformat(),
            )
            table.put_item(
                Item={
                    "pk": tenant_pk(tenant),
                    "sk": f"RUN#{run_id}",
                    "run_id": run_id,
                    "status": "SUCCEEDED",
                    "created_at": run.created_at,
                    "params": run.params,
                    "result_shards": shards,
                    "as_of": run.as_of,
                }
            )
            runs_repo.put_results(res["table"], tenant, run_id, shards, [_result(i, first) for i in range(n)])
            entry = scoring_service.scoring_entry(run)
            table.put_item(Item=scores_repo.index_action(tenant, entry)["Put"]["Item"])
            return run_id

        def ingest_day(tenant: str, day: dt.date) -> dict[str, float]:
            ticket = uploads_service.create_upload(settings, tenant, CreateUploadRequest(filename="day.csv"))
            s3.put_object(Bucket=res["bucket"], Key=ticket.fields["key"], Body=_csv(n, day))
            event = json.loads((ROOT / "events" / "s3_upload_created.json").read_text())
            event["Records"][0]["s3"]["bucket"]["name"] = res["bucket"]
            event["Records"][0]["s3"]["object"]["key"] = ticket.fields["key"]
            clock.clear()
            written.clear()
            began, wall = time.thread_time(), time.perf_counter()
            assert handler(event, Context())["ingested"] == 1
            total, seconds = time.thread_time() - began, time.perf_counter() - wall
            report = uploads_service.get_upload(settings, tenant, ticket.upload_id)
            assert report.status == "SUCCEEDED" and report.rows_accepted == n, report
            return {
                "handler": total,
                "scoring": clock["scoring"],
                "ingesting": total - clock["scoring"],
                "wall": seconds,
            }

        def write_units(tenant: str, run_id: str) -> dict[str, Any]:
            """Scoring's write units of the last ingest: its score items and sums items as stored now."""
            sums_sizes = {}
            for pk in (run_accuracy_pk(tenant, run_id), tenant_accuracy_pk(tenant)):
                for item in scores_repo.table(res["table"]).query(KeyConditionExpression=scores_repo.Key("pk").eq(pk))[
                    "Items"
                ]:
                    sums_sizes[(item["pk"], item["sk"])] = item_bytes(item)
            units = points = items = updates = 0
            for writes, deltas in written:
                for w in writes:
                    body = {"points": w.points, "demand_class": w.demand_class, "method": w.method, "scale": w.scale}
                    item = {"pk": "x" * 60, "sk": "SKU#" + w.sku, "schema_version": 1, "version": 1}
                    size = item_bytes({**item, "doc": dynamo.pack_json(body).value})
                    units += _units(size)
                    items += 1
                    points += 1  # one new point per SKU per day
                for kind, sk in deltas:
                    pk = run_accuracy_pk(tenant, run_id) if kind == "run" else tenant_accuracy_pk(tenant)
                    units += _units(sums_sizes.get((pk, sk), 1024))
                    updates += 1
            return {
                "write_units": units,
                "points": points,
                "score_items": items,
                "sums_updates": updates,
                "transactions": len(written),
                "write_units_per_point": round(units / max(points, 1), 2),
            }

        def ingest_units(tenant: str) -> dict[str, Any]:
            series, catalog = demand_items(table, tenant)
            units = sum(_units(item_bytes(i)) for i in series) + sum(_units(item_bytes(i)) for i in catalog)
            return {"write_units": units, "rows": n, "write_units_per_row": round(units / n, 2)}

        days: dict[str, list[dict[str, float]]] = {"day1": [], "day2": []}
        units: dict[str, Any] = {}
        for rep in range(reps):
            tenant = f"cli_scorebench{rep}"
            run_id = seed(tenant)
            days["day1"].append(ingest_day(tenant, first))
            units["day1"] = write_units(tenant, run_id)
            days["day2"].append(ingest_day(tenant, first + dt.timedelta(days=1)))
            units["day2"] = write_units(tenant, run_id)
            units["ingest_day"] = ingest_units(tenant)
            answer = scoring_service.run_accuracy(settings, tenant, run_id)
            assert answer.points_scored == 2 * n, answer.points_scored
            print(f"rep {rep}: day1 {days['day1'][-1]}, day2 {days['day2'][-1]}", flush=True)

    def med(day: str, key: str) -> float:
        return statistics.median(d[key] for d in days[day])

    out: dict[str, Any] = {"skus": n, "reps": reps, "target": TARGET, "days": {}}
    for day in days:
        ratios = [d["scoring"] / d["ingesting"] for d in days[day]]
        out["days"][day] = {
            "scoring_cpu_s": round(med(day, "scoring"), 3),
            "ingesting_cpu_s": round(med(day, "ingesting"), 3),
            "handler_cpu_s": round(med(day, "handler"), 3),
            "handler_wall_s": round(med(day, "wall"), 3),
            "ratio": round(statistics.median(ratios), 2),
            "ratios": [round(r, 2) for r in ratios],
            "scoring_ms_per_sku": round(1000 * med(day, "scoring") / n, 3),
        }
    out["ratio"] = out["days"]["day2"]["ratio"]
    out["met"] = out["ratio"] <= TARGET
    out["dynamodb"] = units
    from bench.aws_model import scoring_model

    out["aws_model"] = scoring_model(out)
    return out


def markdown(r: dict[str, Any]) -> list[str]:
    from bench.aws_model import scoring_markdown

    lines = [
        f"{r['skus']:,} SKUs, a 28-day daily run; one day of actuals (one row per SKU) through the ingest handler, "
        f"thread CPU, median of {r['reps']} reps. Scoring = services.scoring.Arrivals inside the handler (finding the "
        "runs, keeping the merged series' window, scoring); "
        "ingesting = the rest of the handler (read, validate, merge the day).",
        "",
        "| day | scoring CPU s | ingesting CPU s | ratio (per rep) | scoring ms/SKU |",
        "|---|---|---|---|---|",
    ]
    for day, d in r["days"].items():
        lines.append(
            f"| {day} | {d['scoring_cpu_s']:.2f} | {d['ingesting_cpu_s']:.2f} | {d['ratio']:.2f}x "
            f"({', '.join(f'{x:.2f}' for x in d['ratios'])}) | {d['scoring_ms_per_sku']:.3f} |"
        )
    return [*lines, "", *scoring_markdown(r["aws_model"])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--skus", type=int, default=SKUS)
    parser.add_argument("--quick", action="store_true", help="1,000 SKUs, 2 reps")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    n, reps = (1000, 2) if args.quick else (args.skus, args.reps)
    result = measure(n, reps)
    print("\n".join(markdown(result)))
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
