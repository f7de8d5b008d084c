"""Benchmark: ingestion at its SKU limit, one SKU per row (not a test).

The worst file for the merge is one with a different SKU on every row: every row is a series item
to read, merge, encode and write, and a catalog entry. This bench uploads such files (N rows,
N SKUs, one date) through IngestFunction's handler in this process against moto (as bench/ingest.py
does: real S3 object, real BatchGetItem and fenced TransactWriteItems, skucast_local.moto_fast) at a
few sizes, and splits each run's time into:

- `parse_validate`: ingest_file on the S3 body;
- `moto`: time inside the emulated AWS services (botocore's stubber: moto parsing the request,
  running it, building the answer), which DynamoDB does on its side on AWS;
- `client`: the rest, i.e. what the function itself computes: merging and encoding series, the
  catalog, boto3/botocore serialising the requests and parsing the answers;

all as CPU time of the handler's thread (moto runs in it; the machine is shared, and wall time
there measures the neighbours too), and counts the AWS calls by operation. After an untimed
warm-up upload, each part and each call count is fitted as a + b*N over the sizes (least
squares), and bench/aws_model.ingest_model extrapolates to 1,000,000 and 5,000,000 SKUs on AWS with
stated per-call latencies, beside IngestFunction's 900 s timeout and the per-upload SKU limit
(Settings.max_skus_per_upload). Then the 5,000,000-row file itself goes through the handler with
the default limits: it is refused after validation (`too_many_skus`), and its time and the
store's emptiness are recorded.

    uv run python -m bench.ingest_skus [--skus 20000 50000 100000] [--refuse-rows 5000000]

Writes bench/out/ingest_limits.json (what `make bench` reads) and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "shared"), str(ROOT / "local"), str(ROOT / "functions" / "ingest")]

import boto3  # noqa: E402
import numpy as np  # noqa: E402

from bench import aws_model  # noqa: E402
from bench.ingest import Context, aws, demand_items  # noqa: E402

OUT = ROOT / "bench" / "out"
DEFAULT_SIZES = (20_000, 50_000, 100_000)
REFUSE_ROWS = 5_000_000


def write_distinct(path: Path, rows: int) -> int:
    """`rows` rows, a different SKU on each, all on one date; returns the file's size in bytes."""
    rng = np.random.default_rng(11)
    quantities = rng.poisson(3, size=rows)
    chunk = 200_000
    with path.open("w", encoding="utf-8") as out:
        out.write("sku,date,quantity\n")
        for start in range(0, rows, chunk):
            stop = min(rows, start + chunk)
            out.write("".join(f"SKU-{i:07d},2024-06-03,{quantities[i]}\n" for i in range(start, stop)))
    return path.stat().st_size


class Meter:
    """Time inside moto (botocore's stubber) and AWS calls by operation, while installed."""

    def __init__(self) -> None:
        self.moto_seconds = 0.0  # CPU time of this thread inside moto
        self.calls: Counter[str] = Counter()

    def install(self) -> None:
        from moto.core.botocore_stubber import BotocoreStubber

        inner = BotocoreStubber.process_request
        meter = self

        def process_request(stubber: Any, request: Any) -> Any:
            target = request.headers.get("X-Amz-Target")
            name = target.decode() if isinstance(target, bytes) else target
            meter.calls[str(name).rsplit(".", 1)[-1] if name else f"s3:{request.method}"] += 1
            began = time.thread_time()
            try:
                return inner(stubber, request)
            finally:
                meter.moto_seconds += time.thread_time() - began

        BotocoreStubber.process_request = process_request  # type: ignore[method-assign]

    def reset(self) -> None:
        self.moto_seconds = 0.0
        self.calls.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skus", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--refuse-rows", type=int, default=REFUSE_ROWS, help="0: skip the refusal run")
    parser.add_argument("--out", type=Path, default=OUT / "ingest_limits.json")
    parser.add_argument("--remodel", type=Path, help="measure nothing: the model again from this result file")
    args = parser.parse_args(argv)
    if args.remodel:
        return remodel(args.remodel, args.out)
    # Sizes above the deployed limit are measured with the limit raised for this process only.
    os.environ["SKUCAST_MAX_SKUS_PER_UPLOAD"] = str(max(args.skus))
    meter = Meter()
    meter.install()
    with tempfile.TemporaryDirectory() as tmp, aws() as res:
        from ingest.app import handler
        from skucast.repositories.keys import CLIENT_PROFILE_SK, tenant_pk
        from skucast.schemas.demand import CreateUploadRequest
        from skucast.services import uploads as uploads_service
        from skucast.settings import Settings, get_settings

        s3 = boto3.client("s3", region_name="us-east-1")
        ddb = boto3.resource("dynamodb", region_name="us-east-1").Table(res["table"])
        parse = {"seconds": 0.0}
        inner_ingest = uploads_service.ingest_file

        def timed_ingest(*a: Any, **k: Any) -> Any:
            began = time.thread_time()
            try:
                return inner_ingest(*a, **k)
            finally:
                parse["seconds"] += time.thread_time() - began

        uploads_service.ingest_file = timed_ingest  # type: ignore[assignment]

        def run(tenant: str, path: Path, settings: Settings) -> dict[str, Any]:
            ddb.put_item(
                Item={"pk": tenant_pk(tenant), "sk": CLIENT_PROFILE_SK, "client_id": tenant, "tier": "enterprise"}
            )
            ticket = uploads_service.create_upload(settings, tenant, CreateUploadRequest(filename=path.name))
            with path.open("rb") as body:
                s3.put_object(Bucket=res["bucket"], Key=ticket.fields["key"], Body=body)
            event = json.loads((ROOT / "events" / "s3_upload_created.json").read_text())
            event["Records"][0]["s3"]["bucket"]["name"] = res["bucket"]
            event["Records"][0]["s3"]["object"]["key"] = ticket.fields["key"]
            meter.reset()
            parse["seconds"] = 0.0
            wall, cpu = time.perf_counter(), time.thread_time()
            assert handler(event, Context())["ingested"] == 1
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            report = uploads_service.get_upload(settings, tenant, ticket.upload_id)
            return {
                "wall_seconds": round(wall, 3),
                "cpu_seconds": round(cpu, 3),
                "parse_validate_seconds": round(parse["seconds"], 3),
                "moto_seconds": round(meter.moto_seconds, 3),
                "client_seconds": round(cpu - meter.moto_seconds - parse["seconds"], 3),
                "calls": dict(meter.calls),
                "status": report.status,
                "errors": [e.model_dump() for e in report.errors[:1]],
                "skus_touched": report.skus_touched,
            }

        settings = get_settings()
        warm = Path(tmp) / "warm_up.csv"
        write_distinct(warm, 2_000)
        run("cli_warm_up", warm, settings)  # imports, first calls of every kind: not in the fit
        runs = []
        for n in sorted(args.skus):
            path = Path(tmp) / f"distinct_{n}.csv"
            size = write_distinct(path, n)
            tenant = f"cli_skus{n}"
            measured = run(tenant, path, settings)
            series, catalog = demand_items(ddb, tenant)
            assert measured["status"] == "SUCCEEDED" and len(series) == n, measured
            measured.update(skus=n, file_bytes=size, series_items=len(series), catalog_items=len(catalog))
            runs.append(measured)
            path.unlink()
            print(f"{n:,} SKUs: {json.dumps(measured)}", flush=True)
        refusal = None
        if args.refuse_rows:
            os.environ.pop("SKUCAST_MAX_SKUS_PER_UPLOAD")
            get_settings.cache_clear()
            settings = get_settings()
            path = Path(tmp) / "distinct_refused.csv"
            size = write_distinct(path, args.refuse_rows)
            refusal = run("cli_refused", path, settings)
            series, catalog = demand_items(ddb, "cli_refused")
            refusal.update(
                rows=args.refuse_rows,
                file_bytes=size,
                limit=settings.max_skus_per_upload,
                series_items=len(series),
                catalog_items=len(catalog),
            )
            print(f"refusal: {json.dumps(refusal)}", flush=True)
            assert refusal["status"] == "REJECTED" and not series and not catalog, refusal
    result = {
        "runs": runs,
        "fit": fit(runs),
        "refusal": refusal,
        "limit": Settings.model_fields["max_skus_per_upload"].default,
    }
    result["aws_model"] = aws_model.ingest_model(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(markdown(result)))
    return 0


def remodel(source: Path, out: Path) -> int:
    """The fit and the AWS model again from a result file's runs, with today's limit and assumptions."""
    from skucast.settings import Settings

    result = json.loads(source.read_text())
    result["fit"] = fit(result["runs"])
    result["limit"] = Settings.model_fields["max_skus_per_upload"].default
    result["aws_model"] = aws_model.ingest_model(result)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(markdown(result)))
    return 0


FITTED = ("cpu_seconds", "parse_validate_seconds", "moto_seconds", "client_seconds", "wall_seconds")


def fit(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each part as a + b*N (least squares over the sizes; one size: through the origin), and the
    AWS calls per SKU by operation (from the largest run)."""
    n = np.array([r["skus"] for r in runs], float)
    out: dict[str, Any] = {}
    for name in FITTED:
        y = np.array([r[name] for r in runs], float)
        if len(runs) > 1:
            b, a = np.polyfit(n, y, 1)
            predicted = a + b * n
            worst = float(np.max(np.abs(predicted - y) / y))
        else:
            a, b, worst = 0.0, float(y[0] / n[0]), 0.0
        out[name] = {"intercept": round(float(a), 3), "per_sku": float(f"{b:.4g}"), "worst_residual": round(worst, 3)}
    out["calls"] = {}
    for op in sorted({op for r in runs for op in r["calls"]}):
        y = np.array([r["calls"].get(op, 0) for r in runs], float)
        b, a = np.polyfit(n, y, 1) if len(runs) > 1 else (y[0] / n[0], 0.0)
        out["calls"][op] = {"intercept": round(float(a), 1), "per_sku": float(f"{b:.4g}")}
    return out


def markdown(r: dict[str, Any]) -> list[str]:
    lines = [
        "One SKU per row, through the ingest handler (moto in-process):",
        "",
        "| SKUs | wall s | CPU s | parse + validate CPU s | inside moto CPU s | client (merge, encode, SDK) CPU s "
        "| AWS calls |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in r["runs"]:
        calls = ", ".join(f"{k} {v:,}" for k, v in sorted(run["calls"].items()))
        lines.append(
            f"| {run['skus']:,} | {run['wall_seconds']:.1f} | {run['cpu_seconds']:.1f} | "
            f"{run['parse_validate_seconds']:.2f} | {run['moto_seconds']:.1f} | {run['client_seconds']:.1f} | {calls} |"
        )
    f = r["fit"]
    lines += ["", "| fitted a + b*N | a (s) | b (ms per SKU) | worst residual |", "|---|---:|---:|---:|"]
    for name in FITTED:
        lines.append(
            f"| {name} | {f[name]['intercept']:.2f} | {f[name]['per_sku'] * 1000:.3f} | "
            f"{f[name]['worst_residual']:.0%} |"
        )
    if r["refusal"]:
        x = r["refusal"]
        lines += [
            "",
            f"The {x['rows']:,}-row file ({x['file_bytes'] / 1e6:.0f} MB, a SKU per row) with the default limit "
            f"({x['limit']:,} SKUs per upload): {x['status']} `{x['errors'][0]['code']}` after "
            f"{x['wall_seconds']:.1f} s (parse + validate {x['parse_validate_seconds']:.1f} s); "
            f"{x['series_items']} series and {x['catalog_items']} catalog items stored.",
        ]
    lines += ["", *aws_model.ingest_markdown(r["aws_model"])]
    return lines


if __name__ == "__main__":
    sys.exit(main())
