"""The AWS model: time and list-price cost of a 1,000,000-SKU daily run, from measured figures.

Inputs (bench.worker's result): engine CPU-seconds per SKU per demand class, the worker handler's
overhead over the engine (with the time spent inside the emulated AWS services taken out), the
AWS requests and DynamoDB request units one invocation and one run's planning make. Everything
else is an assumption, stated in ASSUMPTIONS and printed in the report with its value.

    uv run python -m bench.aws_model bench/out/worker.json
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

SKUS = 1_000_000
WORKERS = 1_000

PRICES = {  # us-east-1 list prices (2024), USD
    "lambda_gb_second": 0.0000166667,  # x86
    "lambda_per_million_requests": 0.20,
    "dynamodb_per_million_wru": 0.625,  # on-demand
    "dynamodb_per_million_rru": 0.125,  # on-demand
    "sqs_per_million_requests": 0.40,  # standard queue; first 1M/month free ignored
    "s3_put_per_thousand": 0.005,
    "xray_per_million_traces": 5.00,  # Tracing: Active in template.yaml; free tier ignored
}

ASSUMPTIONS = {
    "skus": SKUS,
    "history_days": 730,
    "horizon_days": 28,
    "concurrent_workers": WORKERS,
    "lambda_memory_mb": 2048,  # ForecastWorkerFunction's MemorySize
    "lambda_vcpu_equals_bench_core": True,  # 2048 MB gives ~1.16 vCPU; the engine is single-threaded
    "aws_call_latency_seconds": 0.010,  # per DynamoDB/SQS call, in-region (moto answers in-process)
    "esm_receives_per_invocation": 1,  # event source mapping: one ReceiveMessage per batch of 4
    "esm_deletes_per_invocation": 1,  # and one DeleteMessageBatch
    "s3_puts_per_run": 1,  # the day's upload file; results stay in DynamoDB
    "lambda_sqs_scale_up_per_minute": 300,  # Lambda adds up to 300 concurrent SQS pollers a minute
    "dynamodb_table_max_wru_per_second": 40_000,  # default per-table on-demand quota (raisable)
    "dynamodb_partition_max_wru_per_second": 1_000,
    "class_mix": "the synthetic mix of bench.scaling.demand_mix (measured classes)",
    "excluded": "CloudWatch Logs/metrics, data transfer, DynamoDB storage, ingestion of the upload, API calls",
}

REFERENCES = [
    ("Nixtla StatsForecast on Ray (reported)", 1_000_000, 4.81 * 60, 2.14, "128 CPUs"),
    ("Amazon Forecast on M5 (reported)", 30_490, 4.1 * 3600, 803.0, "managed service"),
]


def model(worker: dict[str, Any], tier_batches_in_flight: int | None = None) -> dict[str, Any]:
    a, p = ASSUMPTIONS, PRICES
    classes = worker["class_costs"]
    mix: dict[str, float] = classes["mix"]
    cpu: dict[str, float] = classes["cpu_seconds_per_sku"]
    engine_per_sku = sum(mix[c] * cpu[c] for c in mix)
    n_inv = int(worker["skus_per_invocation"])
    per_batch = n_inv // int(worker["messages_per_invocation"])
    inv = worker["metered_invocation"]
    plan = worker["api_and_planner_per_run"]
    calls_per_inv = sum(inv["calls"].values())
    # the handler's own work beyond the engine, per SKU, without the emulated services' time;
    # on AWS each call waits for the network instead
    handler_extra = max(0.0, worker["handler"]["cpu_outside_emulator_median"] - worker["engine"]["cpu_median"])
    overhead_per_sku = handler_extra / n_inv + calls_per_inv * a["aws_call_latency_seconds"] / n_inv
    seconds_per_sku = engine_per_sku + overhead_per_sku
    gb = a["lambda_memory_mb"] / 1024
    invocations = math.ceil(SKUS / n_inv)
    batches = math.ceil(SKUS / per_batch)
    plan_batches = max(1, int(plan.get("batches", 1)))
    wru_per_sku = inv["dynamodb_wru"] / n_inv + plan["dynamodb_wru"] / plan_batches / per_batch
    rru_per_sku = inv["dynamodb_rru"] / n_inv + plan["dynamodb_rru"] / plan_batches / per_batch
    sqs_sends_per_batch = plan["sqs_requests"] / plan_batches  # planner/settlement: one send per batch
    sqs_total = batches * sqs_sends_per_batch + invocations * (
        a["esm_receives_per_invocation"] + a["esm_deletes_per_invocation"]
    )
    lambda_seconds = SKUS * seconds_per_sku
    cost = {
        "lambda_compute": lambda_seconds * gb * p["lambda_gb_second"],
        "lambda_requests": invocations / 1e6 * p["lambda_per_million_requests"],
        "dynamodb_writes": SKUS * wru_per_sku / 1e6 * p["dynamodb_per_million_wru"],
        "dynamodb_reads": SKUS * rru_per_sku / 1e6 * p["dynamodb_per_million_rru"],
        "sqs": sqs_total / 1e6 * p["sqs_per_million_requests"],
        "s3_puts": a["s3_puts_per_run"] / 1000 * p["s3_put_per_thousand"],
        "xray_traces": invocations / 1e6 * p["xray_per_million_traces"],
    }
    total = sum(cost.values())

    def wall(concurrency: int) -> dict[str, float]:
        ramp_s = concurrency / a["lambda_sqs_scale_up_per_minute"] * 60
        ramp_work = concurrency * ramp_s / 2
        compute = (
            math.sqrt(2 * lambda_seconds * ramp_s / concurrency)
            if lambda_seconds <= ramp_work
            else ramp_s + (lambda_seconds - ramp_work) / concurrency
        )
        # DynamoDB: the table's write quota, and the result shards' partitions
        shards = min(512, math.ceil(SKUS / 10_000))
        write_cap = min(a["dynamodb_table_max_wru_per_second"], shards * a["dynamodb_partition_max_wru_per_second"])
        dynamo = SKUS * wru_per_sku / write_cap
        return {
            "concurrency": concurrency,
            "compute_bound_seconds": round(compute, 1),
            "dynamodb_write_bound_seconds": round(dynamo, 1),
            "seconds": round(max(compute, dynamo), 1),
            "bound_by": "DynamoDB writes" if dynamo > compute else "Lambda compute",
        }

    times = [wall(WORKERS)]
    if tier_batches_in_flight:  # one tenant's cap on batches in flight (skucast.tiers)
        per_invocation = int(worker["messages_per_invocation"])
        times.append(
            {
                **wall(max(1, min(WORKERS, tier_batches_in_flight // per_invocation))),
                "note": f"one enterprise tenant: {tier_batches_in_flight} batches in flight, "
                f"{per_invocation} message(s) per invocation",
            }
        )
    refs = []
    for name, n, seconds, usd, what in REFERENCES:
        refs.append(
            {
                "name": name,
                "series": n,
                "minutes": round(seconds / 60, 2),
                "usd": usd,
                "compute": what,
                "usd_per_million_series": round(usd / n * 1e6, 2),
            }
        )
    return {
        "prices": PRICES,
        "assumptions": ASSUMPTIONS,
        "measured": {
            "engine_cpu_seconds_per_sku_by_class": {k: round(v, 5) for k, v in cpu.items()},
            "class_mix": {k: round(v, 3) for k, v in mix.items()},
            "engine_seconds_per_sku_mix": round(engine_per_sku, 5),
            "handler_overhead_seconds_per_sku": round(overhead_per_sku, 5),
            "aws_calls_per_invocation": calls_per_inv,
            "skus_per_invocation": n_inv,
            "dynamodb_wru_per_sku": round(wru_per_sku, 3),
            "dynamodb_rru_per_sku": round(rru_per_sku, 3),
            "sqs_requests_per_sku": round(sqs_total / SKUS, 4),
        },
        "lambda_seconds": round(lambda_seconds, 0),
        "lambda_gb_seconds": round(lambda_seconds * gb, 0),
        "invocations": invocations,
        "cost_usd": {k: round(v, 4) for k, v in cost.items()},
        "total_usd": round(total, 2),
        "usd_per_million_skus": round(total, 2),
        "time": times,
        "references": refs,
    }


def markdown(m: dict[str, Any]) -> list[str]:
    me, a = m["measured"], m["assumptions"]
    lines = [
        f"A {a['skus']:,}-SKU daily run ({a['history_days']} days of history, {a['horizon_days']}-day horizon, "
        f"{a['lambda_memory_mb']} MB workers), from this run's measurements:",
        "",
        "| measured | value |",
        "|---|---|",
    ]
    for cls, sec in me["engine_cpu_seconds_per_sku_by_class"].items():
        lines.append(f"| engine CPU s/SKU, {cls} (mix {me['class_mix'][cls]:.0%}) | {sec:.4f} |")
    lines += [
        f"| engine s/SKU, mix | {me['engine_seconds_per_sku_mix']:.4f} |",
        f"| handler overhead s/SKU (own work + {me['aws_calls_per_invocation']} AWS calls per "
        f"{me['skus_per_invocation']} SKUs at {a['aws_call_latency_seconds'] * 1000:.0f} ms) | "
        f"{me['handler_overhead_seconds_per_sku']:.4f} |",
        f"| DynamoDB write request units / SKU | {me['dynamodb_wru_per_sku']:.2f} |",
        f"| DynamoDB read request units / SKU | {me['dynamodb_rru_per_sku']:.2f} |",
        f"| SQS requests / SKU | {me['sqs_requests_per_sku']:.4f} |",
        "",
        "| cost item | USD |",
        "|---|---:|",
    ]
    for k, v in m["cost_usd"].items():
        lines.append(f"| {k} | {v:.4f} |")
    lines += [f"| **total per run** | **{m['total_usd']:.2f}** |", ""]
    lines += [
        "| concurrency | compute-bound (incl. the SQS scale-up ramp) | DynamoDB-write-bound | run time | bound by |",
        "|---|---:|---:|---:|---|",
    ]
    for t in m["time"]:
        note = f" ({t['note']})" if t.get("note") else ""
        lines.append(
            f"| {t['concurrency']}{note} | {t['compute_bound_seconds']:.0f} s "
            f"| {t['dynamodb_write_bound_seconds']:.0f} s "
            f"| {t['seconds'] / 60:.1f} min | {t['bound_by']} |"
        )
    lines += ["", "| reference | series | time | USD | USD per 1M series |", "|---|---:|---:|---:|---:|"]
    for r in m["references"]:
        lines.append(
            f"| {r['name']}, {r['compute']} | {r['series']:,} | {r['minutes']:.1f} min | {r['usd']:.2f} | "
            f"{r['usd_per_million_series']:,.2f} |"
        )
    lines.append(
        f"| skucast (this model) | {a['skus']:,} | {m['time'][0]['seconds'] / 60:.1f} min | "
        f"{m['total_usd']:.2f} | {m['usd_per_million_skus']:,.2f} |"
    )
    lines += ["", "Prices (USD, us-east-1 list, 2024; stated as assumptions):", ""]
    lines += [f"- `{k}` = {v}" for k, v in m["prices"].items()]
    lines += ["", "Assumptions:", ""]
    lines += [f"- `{k}` = {v}" for k, v in a.items()]
    return lines


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    worker = json.loads(Path(args[0] if args else "bench/out/worker.json").read_text())
    print("\n".join(markdown(model(worker, 256))))
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ---------------------------------------------------------------- ingestion at its SKU limit
# bench/ingest_skus.py measures one-SKU-per-row files through the ingest handler on moto; this
# turns its fitted per-SKU figures into an IngestFunction invocation on AWS. The merge is
# sequential (one round of SKUs at a time: a BatchGetItem, then one fenced TransactWriteItems), so
# its time is the function's own CPU plus the calls' round trips, one after another.
INGEST_TIMEOUT_SECONDS = 900  # IngestFunction's Timeout (template.yaml)
INGEST_ASSUMPTIONS = {
    # Round trips from Lambda to DynamoDB in the same region, per call, for the calls' sizes here
    # (BatchGetItem of 99 strongly consistent keys, TransactWriteItems of 99 small puts + the fence).
    # Not measured (no AWS account here): DynamoDB's single-item latency is single-digit ms; a batch
    # or transaction of ~100 items is several times that (transactions commit in two phases).
    "latency_seconds": {
        "central": {"BatchGetItem": 0.012, "TransactWriteItems": 0.030, "other": 0.008},
        "pessimistic": {"BatchGetItem": 0.025, "TransactWriteItems": 0.060, "other": 0.015},
    },
    # A Lambda vCPU runs this single-threaded code as fast as one bench core (3008 MB: ~1.75 vCPU,
    # of which the merge uses one); pessimistic: 1.5x slower.
    "cpu_factor": {"central": 1.0, "pessimistic": 1.5},
    "s3_read_mb_per_second": 90,  # GetObject streamed into the parser, added on top of parsing
    "transaction_wru_per_kb": 2,  # transactional writes: two write request units per KB
    "table_wru_per_second_new_on_demand": 4_000,  # a new on-demand table serves 2x its 2,000 WRU start
    "partition_wru_per_second": 1_000,
    "series_partitions_per_tenant": 16,  # repositories/keys.py SERIES_SHARDS
    "excluded": "lock waits behind another upload, Lambda retries, throttling retries beyond the floors",
}
INGEST_SIZES = (1_000_000, 5_000_000)


def ingest_model(measured: dict[str, Any]) -> dict[str, Any]:
    """One upload of N rows, a different SKU on each, on AWS: seconds by part, per scenario, for
    the sizes in INGEST_SIZES and the per-upload SKU limit, beside the 900 s timeout."""
    a, fit = INGEST_ASSUMPTIONS, measured["fit"]
    largest = max(measured["runs"], key=lambda r: r["skus"])
    bytes_per_row = largest["file_bytes"] / largest["skus"]
    limit = int(measured["limit"])
    cases = []
    for n in sorted({*INGEST_SIZES, limit}):
        for scenario in ("central", "pessimistic"):
            latency, cpu_factor = a["latency_seconds"][scenario], a["cpu_factor"][scenario]

            def line(name: str, n: int = n) -> float:
                return float(fit[name]["intercept"] + fit[name]["per_sku"] * n)

            calls = {
                op: max(0.0, c["intercept"] + c["per_sku"] * n)
                for op, c in fit["calls"].items()
                if not op.startswith("s3:")
            }
            waits = {op: c * latency.get(op, latency["other"]) for op, c in calls.items()}
            parts = {
                "s3_read": n * bytes_per_row / 1e6 / a["s3_read_mb_per_second"],
                "parse_validate": cpu_factor * line("parse_validate_seconds"),
                "client_cpu": cpu_factor * line("client_seconds"),
                "dynamodb_round_trips": sum(waits.values()),
            }
            seconds = sum(parts.values())
            # Write-rate floors: what the writes need at the table's and the series partitions' ceilings.
            wru = a["transaction_wru_per_kb"] * n  # series items of one day are well under 1 KB
            ceiling = min(
                a["table_wru_per_second_new_on_demand"],
                a["series_partitions_per_tenant"] * a["partition_wru_per_second"],
            )
            floor = wru / ceiling
            total = max(seconds, floor)
            cases.append(
                {
                    "skus": n,
                    "scenario": scenario,
                    "parts_seconds": {k: round(v, 1) for k, v in parts.items()},
                    "calls": {k: round(v) for k, v in calls.items()},
                    "write_units": wru,
                    "write_rate_floor_seconds": round(floor, 1),
                    "seconds": round(total, 1),
                    "share_of_timeout": round(total / INGEST_TIMEOUT_SECONDS, 2),
                    "fits": total <= INGEST_TIMEOUT_SECONDS,
                }
            )
    return {"assumptions": a, "timeout_seconds": INGEST_TIMEOUT_SECONDS, "limit": limit, "cases": cases}


def ingest_markdown(m: dict[str, Any]) -> list[str]:
    lines = [
        f"On AWS (bench/aws_model.ingest_model; IngestFunction's timeout {m['timeout_seconds']} s, the per-upload "
        f"limit {m['limit']:,} SKUs):",
        "",
        "| SKUs (one per row) | scenario | S3 read | parse + validate | merge CPU | DynamoDB round trips | calls "
        "| write-rate floor | total | of 900 s |",
        "|---:|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for c in m["cases"]:
        p = c["parts_seconds"]
        calls = ", ".join(f"{k} {v:,}" for k, v in sorted(c["calls"].items()))
        lines.append(
            f"| {c['skus']:,} | {c['scenario']} | {p['s3_read']:.0f} s | {p['parse_validate']:.0f} s | "
            f"{p['client_cpu']:.0f} s | {p['dynamodb_round_trips']:.0f} s | {calls} | "
            f"{c['write_rate_floor_seconds']:.0f} s | **{c['seconds']:.0f} s** | {c['share_of_timeout']:.0%} |"
        )
    lines += ["", "Assumptions:", ""]
    lines += [f"- `{k}` = {v}" for k, v in m["assumptions"].items()]
    return lines


# ---------------------------------------------------------------- scoring against actuals (#20)
SCORING_ASSUMPTIONS = {
    "dynamodb_per_million_wru": PRICES["dynamodb_per_million_wru"],
    "transaction_wru_per_kb": 2,  # every scoring write is transactional (repositories/scores.py)
    "round_skus": 40,  # services/scoring.SKUS_PER_ROUND: one transaction per round and scored run
    "partition_wru_per_second": 1_000,
    "note": "write units counted from the items the bench's handler wrote, at their size after the write",
}


def scoring_model(measured: dict[str, Any]) -> dict[str, Any]:
    """Scoring one day of actuals on DynamoDB: write units per scored point (score item + its share
    of the sums items the round updates), beside ingesting the same day (series + catalog pages,
    per row), and their list price per million points."""
    price = SCORING_ASSUMPTIONS["dynamodb_per_million_wru"]
    out: dict[str, Any] = {"assumptions": SCORING_ASSUMPTIONS, "days": {}}
    ingest = measured["dynamodb"].get("ingest_day") or {}
    for day in ("day1", "day2"):
        d = measured["dynamodb"].get(day)
        if not d:
            continue
        per_point = d["write_units"] / max(d["points"], 1)
        out["days"][day] = {
            "write_units_per_point": round(per_point, 2),
            "score_item_units_per_point": round(2 * d["score_items"] / max(d["points"], 1), 2) if d["points"] else None,
            "sums_updates_per_point": round(d["sums_updates"] / max(d["points"], 1), 3),
            "usd_per_million_points": round(per_point * price, 2),
            "vs_ingest_per_row": round(per_point / ingest["write_units_per_row"], 2) if ingest else None,
        }
    if ingest:
        out["ingest_write_units_per_row"] = ingest["write_units_per_row"]
        out["ingest_usd_per_million_rows"] = round(ingest["write_units_per_row"] * price, 2)
    return out


def scoring_markdown(m: dict[str, Any]) -> list[str]:
    lines = [
        "DynamoDB write units (bench/aws_model.scoring_model; on-demand, transactional writes at 2 units per KB):",
        "",
        "| day | WRU per scored point | sums updates per point | $ per 1M points | vs ingesting, per row |",
        "|---|---:|---:|---:|---:|",
    ]
    for day, d in m["days"].items():
        vs = d["vs_ingest_per_row"]
        lines.append(
            f"| {day} | {d['write_units_per_point']:.2f} | {d['sums_updates_per_point']:.3f} | "
            f"{d['usd_per_million_points']:.2f} | {'' if vs is None else f'{vs:.2f}x'} |"
        )
    if "ingest_write_units_per_row" in m:
        lines.append(
            f"\nIngesting the same day: {m['ingest_write_units_per_row']:.2f} WRU per row "
            f"(${m['ingest_usd_per_million_rows']:.2f} per 1M rows)."
        )
    return lines


# ---------------------------------------------------------------- the global model's training stage
# bench/training.py measures one training shard (CPU and peak memory per shard size, fitted as
# a + b*N) and one batch's prediction; this turns them into a 100,000-SKU tenant's run with two
# drivers (and the calendar) on AWS: the shards train in parallel, so the stage takes about one
# shard's time; the workers then predict every SKU with its shard's model.
TRAINING_SKUS = 100_000
TRAINING_ASSUMPTIONS = {
    "skus": TRAINING_SKUS,
    "drivers": "two drivers (a promotion flag, a price) and the holiday count, as bench/training.py's shard",
    "history_days": 364,
    "horizon_days": 28,
    "backtest_windows": "1 (so three models per shard: the final one and two windows)",
    "train_memory_mb": 4096,  # TrainFunction's MemorySize (template.yaml)
    "worker_memory_mb": 2048,  # ForecastWorkerFunction's MemorySize
    "train_concurrency": 500,  # TrainQueue's MaximumConcurrency (WorkerConcurrency)
    "lambda_vcpu_equals_bench_core": True,  # LightGBM runs with num_threads=1 (determinism)
    "cold_start_seconds": 10,  # image pull + imports of a TrainFunction container (not measured here)
    "queue_latency_seconds": 2,  # TrainQueue -> invocation, and the last shard's settle -> batches
    "s3_get_per_thousand": 0.0004,
    "model_gets_per_batch": 1,  # worst case: a worker container's cache (2 shards) misses every batch
    "batch_skus": 40,
    # Batches in which some SKU's forecast is the global model's, so whose effects are made (for the
    # whole batch at once); the model takes every batch - an upper bound.
    "explained_share": 1.0,
}


def training_model(measured: dict[str, Any], shard_skus: int | None = None) -> dict[str, Any]:
    a, p = TRAINING_ASSUMPTIONS, PRICES
    mem, cmp = measured["memory"], measured["compare"]
    size = int(shard_skus or measured["default_shard_skus"])
    shards = math.ceil(TRAINING_SKUS / size)
    shard_cpu = mem["train_cpu_fit"]["intercept"] + mem["train_cpu_fit"]["per_sku"] * size
    shard_peak = mem["peak_mb_fit"]["intercept"] + mem["peak_mb_fit"]["per_sku"] * size
    waves = math.ceil(shards / a["train_concurrency"])
    stage_seconds = waves * (a["cold_start_seconds"] + shard_cpu) + a["queue_latency_seconds"]
    train_gb_s = shards * (a["cold_start_seconds"] + shard_cpu) * a["train_memory_mb"] / 1024
    explain_per_sku = cmp.get("explain_seconds_per_sku", 0.0) * a["explained_share"]
    predict_s = (cmp["predict_seconds_per_sku"] + explain_per_sku) * TRAINING_SKUS
    batches = math.ceil(TRAINING_SKUS / a["batch_skus"])
    cost = {
        "training_lambda_compute": train_gb_s * p["lambda_gb_second"],
        "training_requests_and_messages": shards
        * (p["lambda_per_million_requests"] + 3 * p["sqs_per_million_requests"])
        / 1e6,
        "model_puts": (shards + 1) / 1000 * p["s3_put_per_thousand"],
        "model_gets": batches * a["model_gets_per_batch"] / 1000 * a["s3_get_per_thousand"],
        "prediction_lambda_compute": predict_s * a["worker_memory_mb"] / 1024 * p["lambda_gb_second"],
    }
    return {
        "assumptions": a,
        "shard_skus": size,
        "shards": shards,
        "shard_train_cpu_seconds": round(shard_cpu, 1),
        "shard_peak_mb": round(shard_peak, 0),
        "stage_seconds": round(stage_seconds, 1),
        "train_lambda_gb_seconds": round(train_gb_s, 0),
        "prediction_seconds_per_sku": cmp["predict_seconds_per_sku"],
        "explain_seconds_per_sku": round(explain_per_sku, 4),
        "prediction_lambda_seconds": round(predict_s, 0),
        "cost_usd": {k: round(v, 4) for k, v in cost.items()},
        "total_usd": round(sum(cost.values()), 3),
    }


def training_markdown(m: dict[str, Any]) -> list[str]:
    a = m["assumptions"]
    lines = [
        f"A {a['skus']:,}-SKU tenant with {a['drivers']}; {a['history_days']} days of history, "
        f"{a['horizon_days']}-day horizon, backtest windows: {a['backtest_windows']}:",
        "",
        f"- {m['shards']} shards of {m['shard_skus']:,} SKUs, each {m['shard_train_cpu_seconds']:.0f} CPU-s "
        f"and {m['shard_peak_mb']:.0f} MB peak (fits, bench/training.py), trained in parallel "
        f"(TrainQueue concurrency {a['train_concurrency']}): **the training stage takes "
        f"{m['stage_seconds'] / 60:.1f} min** (one shard, with a {a['cold_start_seconds']} s cold start), "
        f"before the forecast batches start;",
        f"- prediction adds {m['prediction_seconds_per_sku'] * 1000:.0f} ms CPU per SKU to the workers, and "
        f"the explanations {m.get('explain_seconds_per_sku', 0.0) * 1000:.0f} ms per SKU of a batch in which one "
        f"SKU's forecast is the global model's ({m['prediction_lambda_seconds']:,.0f} Lambda-seconds at "
        f"{a['worker_memory_mb']} MB).",
        "",
        "| cost item | USD |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:.4f} |" for k, v in m["cost_usd"].items()]
    lines += [
        f"| **training stage + prediction, per run** | **{m['total_usd']:.2f}** |",
        "",
        "Assumptions:",
        "",
    ]
    lines += [f"- `{k}` = {v}" for k, v in a.items()]
    return lines


# ---------------------------------------------------------------- hierarchy reconciliation (#21)
HIERARCHY_SKUS = 1_000_000
HIERARCHY_ASSUMPTIONS = {
    "skus": HIERARCHY_SKUS,
    "levels": "three (10 categories, 100 subcategories, 1,000 brands) + total, as bench/hierarchy.py's case",
    "horizon": 28,
    "band_levels": 2,
    "lambda_max_memory_mb": 10_240,
    "lambda_timeout_seconds": 900,
    "memory_headroom": 1.25,  # Lambda memory asked for over the predicted peak
    # A stage that must finish in one attempt gets a third of the timeout spare (retries, latency
    # spikes, an extrapolation 10x past the largest measured size)
    "time_margin": 0.667,
    "lambda_vcpu_equals_bench_core": True,  # the QP solver is single-threaded
    "aws_call_latency_seconds": 0.010,  # as the run model: per DynamoDB call, in-region, sequential
    "result_item_kb": 3.0,  # a SKU result after reconciliation: forecast + base_forecast, h = 28, 2 levels
    "query_page_mb": 1.0,  # DynamoDB returns at most 1 MB per Query page
    "batch_write_items": 25,  # BatchWriteItem
    "result_shards_max": 512,  # a run's result partitions (runs.result_shards)
    "excluded": "the plan's aggregation of node histories (reads every SKU's series: its own stage, "
    "not measured at scale here) and the node batches' forecasts (same engine cost per series as SKUs)",
}


def _power_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """y = c * x^k by least squares in logs: (c, k)."""
    lx, ly = [math.log(x) for x in xs], [math.log(max(y, 1e-9)) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    var = sum((x - mx) ** 2 for x in lx)
    k = sum((x - mx) * (y - my) for x, y in zip(lx, ly, strict=True)) / var if var else 1.0
    return math.exp(my - k * mx), k


def _linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """y = a + b * x by least squares: (a, b)."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0
    return my - b * mx, b


def hierarchy_model(measured: dict[str, Any]) -> dict[str, Any]:
    """The reconciliation stage of a 1,000,000-SKU run under three levels, from bench/hierarchy.py's
    measured scaling (skucast's min_trace, fresh processes): memory fitted a + b*N, solve time
    c*N^k; the stage's DynamoDB reads and rewrites of every SKU result at the stated latency;
    whether one invocation fits Lambda's 10 GB and 15 minutes, and the fan-out plan otherwise."""
    a = HIERARCHY_ASSUMPTIONS
    points = measured["scaling"]
    xs = [float(p["skus"]) for p in points]
    mem_a, mem_b = _linear_fit(xs, [float(p["peak_mb"]) for p in points])
    t_c, t_k = _power_fit(xs, [float(p["seconds"]) for p in points])
    n = float(a["skus"])
    last = points[-1]
    nodes = int(last["nodes"])  # the same 1,111 nodes whatever the SKUs, in this shape
    nnz = round(last["s_nonzeros"] / last["skus"] * n)
    s_mb = (nnz * (8 + 4) + (n + nodes + 1) * 4) / 2**20
    peak_mb = mem_a + mem_b * n
    solve = t_c * n**t_k
    result_mb = n * a["result_item_kb"] / 1024
    reads = math.ceil(result_mb / a["query_page_mb"]) * 2  # read for the bases, read again to rewrite
    writes = math.ceil(n / a["batch_write_items"])
    io_seconds = (reads + writes) * a["aws_call_latency_seconds"]
    total = solve + io_seconds
    memory_needed = math.ceil(peak_mb * a["memory_headroom"] / 64) * 64
    fits_memory = memory_needed <= a["lambda_max_memory_mb"]
    fits_time = total <= a["lambda_timeout_seconds"] * a["time_margin"]
    h = int(a["horizon"])
    per_period_solve = solve / h
    per_shard_writes = math.ceil(n / a["result_shards_max"] / a["batch_write_items"])
    return {
        "assumptions": a,
        "points": [{k: p[k] for k in ("skus", "series", "seconds", "peak_mb")} for p in points],
        "memory_fit_mb": {"intercept": round(mem_a, 1), "per_sku_kb": round(mem_b * 1024, 3)},
        "time_fit": {"c": t_c, "exponent": round(t_k, 3)},
        "series": int(n) + nodes,
        "nodes": nodes,
        "s_nonzeros": nnz,
        "s_mb": round(s_mb, 1),
        "peak_mb": round(peak_mb, 0),
        "lambda_memory_mb_needed": memory_needed,
        "solve_seconds": round(solve, 0),
        "io_calls": reads + writes,
        "io_seconds": round(io_seconds, 0),
        "one_invocation_seconds": round(total, 0),
        "fits_memory": fits_memory,
        "fits_time": fits_time,
        "fits_one_invocation": fits_memory and fits_time,
        "fan_out": {
            "period_messages": h,
            "per_period_solve_seconds": round(per_period_solve, 1),
            "per_period_input_mb": round((n + nodes) * 8 * 2 / 2**20, 1),  # the period's means and sigmas
            "rewrite_messages": a["result_shards_max"],
            "per_shard_rewrite_seconds": round(per_shard_writes * a["aws_call_latency_seconds"] * 2, 1),
        },
    }


def hierarchy_markdown(m: dict[str, Any]) -> list[str]:
    a, f = m["assumptions"], m["fan_out"]
    pts = ", ".join(f"{p['skus']:,}: {p['seconds']:.1f} s / {p['peak_mb']:.0f} MB" for p in m["points"])
    verdict = "fits" if m["fits_one_invocation"] else "does not fit"
    lines = [
        f"**AWS model: reconciling {a['skus']:,} SKUs under {a['levels']}** (`aws_model.hierarchy_model`):",
        "",
        f"- Measured (skucast `min_trace`, solve time / peak RSS): {pts}. Fits: peak "
        f"{m['memory_fit_mb']['intercept']:.0f} MB + {m['memory_fit_mb']['per_sku_kb']:.2f} KB per SKU; "
        f"solve time ~ N^{m['time_fit']['exponent']:.2f}.",
        f"- {m['series']:,} series ({m['nodes']:,} nodes); the sparse S holds {m['s_nonzeros']:,} entries, "
        f"{m['s_mb']:.0f} MB (a dense S would be {m['series'] * a['skus'] * 8 / 2**40:,.1f} TB).",
        f"- One invocation: peak ~{m['peak_mb']:,.0f} MB, so a {m['lambda_memory_mb_needed']:,} MB function "
        f"({'within' if m['fits_memory'] else 'over'} Lambda's {a['lambda_max_memory_mb']:,} MB); solve "
        f"~{m['solve_seconds']:,.0f} s plus {m['io_calls']:,} sequential DynamoDB calls (~{m['io_seconds']:,.0f} s: "
        f"every result read twice and rewritten, {a['batch_write_items']} a BatchWriteItem) = "
        f"~{m['one_invocation_seconds']:,.0f} s against the {a['lambda_timeout_seconds']} s timeout "
        f"({a['time_margin']:.0%} of it at most): **one reconciliation invocation {verdict}**"
        + ("." if m["fits_one_invocation"] else "; the fan-out plan below is needed.")
        + " Today the stage runs in ForecastWorkerFunction (2,048 MB, 120 s): at this size it needs a "
        "function of its own either way.",
    ]
    # The plan that lifts the single invocation's limits, whatever the verdict.
    lines.append(
        f"- Fan-out plan: the non-negative MinTrace QP is independent per forecast period, so "
        f"{f['period_messages']} period messages each solve one period (~{f['per_period_solve_seconds']:.0f} s "
        f"if the solve splits evenly, reading ~{f['per_period_input_mb']:.0f} MB of that period's means and "
        f"sigmas), then {f['rewrite_messages']} rewrite messages, one per result shard "
        f"(~{f['per_shard_rewrite_seconds']:.0f} s of DynamoDB calls each), each settling exactly once "
        "like a batch (the node results are a few thousand items, written once all periods are solved)."
    )
    lines += ["", "Assumptions:", ""]
    lines += [f"- `{k}` = {v}" for k, v in a.items()]
    return lines
