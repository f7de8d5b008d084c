"""Benchmark: the ingestion HANDLER on a 1,000,000-row CSV against pyarrow reading it alone (not a test).

The file is bench/ingest_parse.py's (10,000 SKUs x 100 days). Each repetition uploads it as a new
upload of a new tenant into S3 and hands IngestFunction's handler the object-created event, all
in this process against moto (real S3 object, real DynamoDB batch reads and transactional writes;
moto patched as the local stack runs it, skucast_local.moto_fast, since stock moto copies the whole
table per transaction action), and times `pyarrow.csv.read_csv` on the same file alongside
(interleaved, medians), with three floors beside it, what any implementation must pay:
`typed_read` (read_csv straight into dictionary SKUs, dates and floats: an ingest that trusts its
input), `validation_floor` (the least a row-validating ingest does, in pyarrow/numpy: every cell
read as text, cast, checked, duplicates found with one sort) and `write_floor` (after each handler
rep, every item that rep left in the tenant's demand store, read back untimed, then written again
under another tenant id with BatchWriteItem, 25 a call, through the same moto: storing what the
handler stores, without transactions, reads or encoding). The handler's time is split by wrapping
its stages: parse/validate (ingest_file streaming the S3 body), series merge, catalog
classification, DynamoDB reads and writes of the series (the writes include encoding them), and
the catalog pages (reading the pages touched, merging, encoding, writing). Since moto's
in-process DynamoDB is not DynamoDB, it also estimates what the writes would cost there.

Then one more handler run under pyinstrument (not timed with the others): every sample's self time
goes to the innermost stage it ran under (read + validate, series merge/encode, catalog
classification, DynamoDB reads, DynamoDB writes split into moto / boto3+botocore / skucast's
own code, other), with the top functions by self time; the largest stage is named as the bottleneck.

    uv run python bench/ingest.py [--reps 5]

Writes bench/out/ingest.json and bench/out/ingest_profile.txt (pyinstrument's tree), prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "shared"), str(ROOT / "local"), str(ROOT / "functions" / "ingest")]

import boto3  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
from boto3.dynamodb.conditions import Key  # noqa: E402
from moto import mock_aws  # noqa: E402

from bench.ingest_parse import DAYS, SKUS, write_csv  # noqa: E402
from skucast.ingestion import IngestLimits  # noqa: E402

OUT = ROOT / "bench" / "out"
# DynamoDB assumptions for the estimate (us-east-1, on-demand, 2025 prices; one call at a time).
WRITE_UNIT_PRICE = 0.625 / 1e6  # $ per write request unit (1 KB)
READ_UNIT_PRICE = 0.125 / 1e6  # $ per read request unit (4 KB strongly consistent)
CALL_SECONDS = 0.010  # a TransactWriteItems of 99 puts / BatchGetItem of 100 from Lambda, same region
PARTITION_WCU = 1000  # a partition's write ceiling per second (before adaptive splitting)
TRANSACTION_FACTOR = 2  # transactional writes consume two write units per KB
# The floors' reads: the cheapest typed read, and every cell as text (what a validating ingest reads).
TYPED = pacsv.ConvertOptions(
    column_types={"sku": pa.dictionary(pa.int32(), pa.string()), "date": pa.date32(), "quantity": pa.float64()}
)
TEXT = pacsv.ConvertOptions(column_types={"sku": pa.string(), "date": pa.string(), "quantity": pa.string()})
MAX_SKU_LENGTH = IngestLimits().max_sku_length


class Context:
    function_name = "bench"
    memory_limit_in_mb = 3008
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


class Stages:
    """Wall time spent inside wrapped functions, per stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, owner: Any, name: str, stage: str) -> None:
        inner = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - began

        setattr(owner, name, timed)


@contextmanager
def aws() -> Iterator[dict[str, Any]]:
    from skucast_local import moto_fast
    from skucast_local.emulator import LOCAL_CREDENTIALS, REGION, provision
    from skucast_local.template import load

    moto_fast.install()

    os.environ.update(LOCAL_CREDENTIALS)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(
        POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_METRICS_DISABLED="true", POWERTOOLS_LOG_LEVEL="ERROR"
    )
    with mock_aws():
        provisioned = provision(
            lambda service: boto3.client(service, region_name=REGION), "moto", load(ROOT / "template.yaml"), "bench"
        )
        os.environ.update(provisioned.environments["IngestFunction"])
        yield {"bucket": provisioned.resources["DataBucket"].ref, "table": provisioned.resources["Table"].ref}


def item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (binary and string lengths, ~numbers)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if isinstance(value, bytes | bytearray):
            size += len(value)
        elif hasattr(value, "value") and isinstance(value.value, bytes):
            size += len(value.value)
        elif isinstance(value, str):
            size += len(value.encode())
        else:
            size += 21 if value is not None else 1
    return size


def typed_read(path: Path) -> pa.Table:
    """The cheapest read that already yields SKUs, dates and numbers: an ingest that trusts its input."""
    return pacsv.read_csv(path, convert_options=TYPED)


def validation_floor(path: Path) -> int:
    """The least a row-validating ingest must do, in pyarrow/numpy (no skucast code): read every
    cell as text, cast dates and quantities, check quantity >= 0 and the SKU's length, dictionary-
    encode the SKUs and find duplicate (sku, date) pairs with one sort. Returns the rows it would
    reject (bad cells plus repeats of a pair)."""
    table = pacsv.read_csv(path, convert_options=TEXT)
    days = pc.cast(pc.cast(table["date"], pa.date32()), pa.int32())  # raises on a non-date
    quantity = pc.cast(table["quantity"], pa.float64())  # raises on a non-number
    bad = pc.or_kleene(
        pc.invert(pc.greater_equal(quantity, 0)), pc.greater(pc.utf8_length(table["sku"]), MAX_SKU_LENGTH)
    )
    skus = pc.dictionary_encode(table["sku"]).unify_dictionaries()  # one code per SKU across chunks
    codes = np.concatenate([chunk.indices.to_numpy() for chunk in skus.chunks])
    day = days.to_numpy()
    order = np.lexsort((day, codes))
    repeated = (np.diff(codes[order]) == 0) & (np.diff(day[order]) == 0)
    return int(pc.sum(bad).as_py() or 0) + int(repeated.sum())


def partition_items(table: Any, pk: str) -> list[dict[str, Any]]:
    """Every item of one partition (Query, paged)."""
    out, kwargs = [], {"KeyConditionExpression": Key("pk").eq(pk)}
    while True:
        page = table.query(**kwargs)
        out += page["Items"]
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def demand_items(table: Any, client_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The tenant's demand store as stored: its series partitions' items and its catalog's, whatever their layout."""
    from skucast.repositories.keys import SERIES_SHARDS, catalog_pk, series_shard_pk

    series = [i for s in range(SERIES_SHARDS) for i in partition_items(table, series_shard_pk(client_id, s))]
    return series, partition_items(table, catalog_pk(client_id))


def as_tenant(items: list[dict[str, Any]], client_id: str, other: str) -> list[dict[str, Any]]:
    """The same items under another tenant's partitions (pk's tenant prefix rewritten): new items."""
    from skucast.repositories.keys import tenant_pk

    old, new = tenant_pk(client_id), tenant_pk(other)
    assert all(i["pk"].startswith(old) for i in items)
    return [{**i, "pk": new + i["pk"][len(old) :]} for i in items]


def write_floor(table: Any, items: list[dict[str, Any]]) -> None:
    """Storing what the handler stores, at the least: BatchWriteItem (25 a call), no transactions,
    no reads, items already encoded."""
    with table.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)


def dynamodb_estimate(table: str, client_id: str) -> dict[str, Any]:
    t = boto3.resource("dynamodb", region_name="us-east-1").Table(table)
    series, catalog = demand_items(t, client_id)
    # Merges write in fenced transactions (repositories/demand.put_merge_round): twice the units.
    series_wcu = TRANSACTION_FACTOR * sum(math.ceil(item_bytes(i) / 1024) for i in series)
    catalog_wcu = TRANSACTION_FACTOR * sum(math.ceil(item_bytes(i) / 1024) for i in catalog)
    reads_rcu = len(series)  # strongly consistent reads of (then absent) items: 1 unit each
    # services/demand.apply_points: rounds of 99 SKUs, one BatchGetItem and one transaction each;
    # then per catalog page touched a Query for it, and its writes 99 items a transaction at most.
    rounds = math.ceil(len(series) / 99)
    calls = 2 * rounds + len(catalog) + math.ceil(len(catalog) / 99)
    return {
        "series_items": len(series),
        "catalog_items": len(catalog),
        "series_item_bytes_mean": round(statistics.mean(item_bytes(i) for i in series)),
        "write_units": series_wcu + catalog_wcu,
        "read_units": reads_rcu,
        "calls": calls,
        "cost_usd": round((series_wcu + catalog_wcu) * WRITE_UNIT_PRICE + reads_rcu * READ_UNIT_PRICE, 4),
        "seconds_sequential_calls": round(calls * CALL_SECONDS, 1),
        # The catalog is one partition per tenant: its writes cannot go faster than this.
        "seconds_catalog_partition_floor": round(catalog_wcu / PARTITION_WCU, 1),
    }


# Stages of the profile: a sample counts for the innermost of these functions it ran under.
PROFILE_STAGES = {
    ("ingest_file", "skucast/ingestion/validate.py"): "read_validate",
    ("merge_owned", "skucast/services/demand.py"): "series_merge_encode",
    ("encode", "skucast/ingestion/series.py"): "series_merge_encode",
    ("encode_owners", "skucast/repositories/demand.py"): "series_merge_encode",
    ("catalog_entry", "skucast/services/demand.py"): "catalog_classification",
    ("get_stored_series", "skucast/repositories/demand.py"): "dynamodb_reads",
    ("put_merge_round", "skucast/repositories/demand.py"): "dynamodb_writes",
    ("merge_entries", "skucast/repositories/catalog.py"): "catalog_pages",
}
TOP_FRAMES = 15


def _stage_of(frame: Any) -> str | None:
    path = (frame.file_path or "").replace("\\", "/")
    for (function, where), stage in PROFILE_STAGES.items():
        if frame.function == function and path.endswith(where):
            return stage
    return None


def _layer_of(frame: Any) -> str | None:
    """Whose code a frame is: the emulator, the AWS SDK, skucast; None (the standard library,
    builtins, numpy...) counts for whoever called it."""
    path = (frame.file_path or "").replace("\\", "/")
    if "/moto/" in path or path.endswith("skucast_local/moto_fast.py"):
        return "moto"
    if "/botocore/" in path or "/boto3/" in path:
        return "boto3_botocore"
    if "/skucast/" in path:
        return "skucast"
    return None


def profile_split(root: Any) -> dict[str, Any]:
    """Self time of every sample, by the innermost stage it ran under, plus the top functions."""
    stages: dict[str, float] = defaultdict(float)
    writes: dict[str, float] = defaultdict(float)
    layers: dict[str, float] = defaultdict(float)
    functions: dict[tuple[str, str], float] = defaultdict(float)
    pending = [(root, "other", "skucast")]
    while pending:
        frame, stage, layer = pending.pop()
        stage = _stage_of(frame) or stage
        own = frame.time - sum(child.time for child in frame.children)
        # pyinstrument keeps a function's own time in a synthetic "[self]" child: count it as the function's.
        source = frame.parent if frame.is_synthetic and frame.parent is not None else frame
        # Below moto's entry everything is the emulator's work, botocore's models it uses included.
        layer = layer if layer == "moto" else _layer_of(source) or layer
        stages[stage] += own
        layers[layer] += own
        if stage == "dynamodb_writes":
            writes[layer] += own
        functions[(source.function or "?", source.code_position_short() or "?")] += own
        pending.extend((child, stage, layer) for child in frame.children)
    total = root.time or 1.0
    top = sorted(functions.items(), key=lambda kv: kv[1], reverse=True)[:TOP_FRAMES]
    ordered = dict(sorted(stages.items(), key=lambda kv: kv[1], reverse=True))
    bottleneck = next(iter(ordered))
    return {
        "seconds": round(root.time, 3),
        "stages_seconds": {k: round(v, 3) for k, v in ordered.items()},
        "stages_share": {k: round(v / total, 3) for k, v in ordered.items()},
        "dynamodb_writes_by_layer_seconds": {k: round(v, 3) for k, v in sorted(writes.items())},
        # moto = the emulated AWS services (in-process S3 and DynamoDB): not there on AWS.
        "by_layer_seconds": {k: round(v, 3) for k, v in sorted(layers.items())},
        "emulator_share": round(layers["moto"] / total, 3),
        "top_frames": [
            {"function": f, "where": w, "self_seconds": round(t, 3), "share": round(t / total, 3)} for (f, w), t in top
        ],
        "bottleneck": bottleneck,
    }


def bottleneck_sentence(prof: dict[str, Any]) -> str:
    stage, share = prof["bottleneck"], prof["stages_share"][prof["bottleneck"]]
    text = f"{stage} ({share:.0%} of the profiled handler run)"
    if stage == "dynamodb_writes":
        layers = prof["dynamodb_writes_by_layer_seconds"]
        text += (
            f": moto's emulated DynamoDB {layers.get('moto', 0):.2f} s, boto3/botocore (serialising the "
            f"requests and parsing the answers) {layers.get('boto3_botocore', 0):.2f} s, skucast's own "
            f"code {layers.get('skucast', 0):.2f} s"
        )
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, aws() as res:
        from ingest.app import handler
        from skucast.repositories import catalog as catalog_repo
        from skucast.repositories import demand as demand_repo
        from skucast.repositories.keys import CLIENT_PROFILE_SK, tenant_pk
        from skucast.schemas.demand import CreateUploadRequest
        from skucast.services import demand as demand_service
        from skucast.services import uploads as uploads_service
        from skucast.settings import get_settings

        path = Path(tmp) / "demand.csv"
        rows = write_csv(path)
        content = path.read_bytes()
        print(f"file: {rows:,} rows ({SKUS:,} SKUs x {DAYS} days), {len(content) / 1e6:.1f} MB")
        settings = get_settings()
        stages = Stages()
        stages.wrap(uploads_service, "ingest_file", "parse_validate")
        stages.wrap(demand_service, "merge_owned", "series_merge")
        stages.wrap(demand_service, "catalog_entry", "catalog_classification")
        stages.wrap(demand_repo, "get_stored_series", "dynamodb_reads")
        stages.wrap(demand_repo, "put_merge_round", "dynamodb_writes")
        stages.wrap(catalog_repo, "merge_entries", "catalog_pages")
        s3 = boto3.client("s3", region_name="us-east-1")
        ddb = boto3.resource("dynamodb", region_name="us-east-1").Table(res["table"])
        times: dict[str, list[float]] = defaultdict(list)
        splits: dict[str, list[float]] = defaultdict(list)
        tenant = ""

        def ingest(rep: int, profile: dict[str, Any] | None = None) -> None:
            """One upload through the handler: timed, or (given `profile`) profiled into it."""
            nonlocal tenant
            tenant = f"cli_bench{rep}"
            ddb.put_item(
                Item={"pk": tenant_pk(tenant), "sk": CLIENT_PROFILE_SK, "client_id": tenant, "tier": "enterprise"}
            )
            ticket = uploads_service.create_upload(settings, tenant, CreateUploadRequest(filename="demand.csv"))
            s3.put_object(Bucket=res["bucket"], Key=ticket.fields["key"], Body=content)
            event = json.loads((ROOT / "events" / "s3_upload_created.json").read_text())
            event["Records"][0]["s3"]["bucket"]["name"] = res["bucket"]
            event["Records"][0]["s3"]["object"]["key"] = ticket.fields["key"]
            stages.seconds.clear()
            began = time.perf_counter()
            if profile is None:
                assert handler(event, Context())["ingested"] == 1
                times["handler"].append(time.perf_counter() - began)
                for stage, seconds in stages.seconds.items():
                    splits[stage].append(seconds)
            else:
                profile.update(profiled(lambda: handler(event, Context())))
            report = uploads_service.get_upload(settings, tenant, ticket.upload_id)
            assert report.status == "SUCCEEDED" and report.rows_accepted == rows, report

        def validate(rep: int) -> None:
            rejected = _timed(times["validation_floor"], validation_floor, path)
            assert rejected == 0, rejected

        floor_items: list[int] = []

        def store(rep: int) -> None:
            """The write floor on the items the handler rep just before left (read back untimed)."""
            series, catalog = demand_items(ddb, tenant)
            items = as_tenant(series + catalog, tenant, f"cli_floor{rep}")
            floor_items.append(len(items))
            _timed(times["write_floor"], write_floor, ddb, items)

        runs: dict[str, Callable[[int], None]] = {
            "arrow": lambda rep: _timed(times["arrow"], pacsv.read_csv, path),
            "typed_read": lambda rep: _timed(times["typed_read"], typed_read, path),
            "validation_floor": validate,
            "handler": ingest,
            "write_floor": store,  # after the handler: its tenant's items
        }
        for rep in range(args.reps):
            # Untimed, so that no timed read carries alone what only the first one pays: memory coming back
            # after the previous rep's Python-heavy work (tens of ms), and in rep 0 pandas, which pyarrow
            # imports on the first Python scalar it converts (~1.6 s).
            validation_floor(path)
            for run in runs.values():  # interleaved, so a noisy neighbour hits them all alike
                run(rep)
        profile: dict[str, Any] = {}
        ingest(args.reps, profile)
        medians = {name: statistics.median(values) for name, values in times.items()}
        split = {stage: statistics.median(values) for stage, values in splits.items()}
        split["other"] = medians["handler"] - sum(split.values())
        estimate = dynamodb_estimate(res["table"], tenant)
        without_writes = medians["handler"] - split.get("dynamodb_writes", 0) - split.get("dynamodb_reads", 0)
        result = {
            "rows": rows,
            "skus": SKUS,
            "reps": args.reps,
            "seconds": {k: round(v, 3) for k, v in medians.items()},
            "reps_seconds": {k: [round(v, 3) for v in values] for k, values in times.items()},
            "rows_per_second": {k: round(rows / v) for k, v in medians.items()},
            "ratio_handler_to_arrow": round(medians["handler"] / medians["arrow"], 2),
            "ratio_typed_read_to_arrow": round(medians["typed_read"] / medians["arrow"], 2),
            "ratio_validation_floor_to_arrow": round(medians["validation_floor"] / medians["arrow"], 2),
            "ratio_handler_to_write_floor": round(medians["handler"] / medians["write_floor"], 2),
            "write_floor_items": floor_items[-1],
            "handler_split_seconds": {k: round(v, 3) for k, v in split.items()},
            "ratio_without_dynamodb_to_arrow": round(without_writes / medians["arrow"], 2),
            "ratio_parse_validate_to_arrow": round(split.get("parse_validate", 0) / medians["arrow"], 2),
            # The restated targets (issue #17 item 9): each stage against its own floor, same run.
            "targets": {
                "ingest handler vs its write floor": (round(medians["handler"] / medians["write_floor"], 2), 2.0),
                "parse + validate vs pyarrow.csv.read_csv": (
                    round(split.get("parse_validate", 0) / medians["arrow"], 2),
                    5.0,
                ),
            },
            "dynamodb_estimate": estimate,
            "profile": profile,
            # The handler's median less the emulator's share of the profiled run: what remains on AWS
            # as CPU (network waits aside: see dynamodb_estimate).
            "ratio_without_emulator_to_arrow": round(
                medians["handler"] * (1 - profile["emulator_share"]) / medians["arrow"], 2
            ),
        }
        OUT.mkdir(exist_ok=True)
        (OUT / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
        print_table(result)


def profiled(run: Callable[[], Any]) -> dict[str, Any]:
    """`run` (one handler call) under pyinstrument: its split by stage and top frames."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001)
    profiler.start()
    try:
        assert run()["ingested"] == 1
    finally:
        profiler.stop()
    OUT.mkdir(exist_ok=True)
    (OUT / "ingest_profile.txt").write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    session = profiler.last_session
    assert session is not None
    root = session.root_frame()
    assert root is not None
    return profile_split(root)


def _timed(into: list[float], fn: Callable[..., Any], *args: Any) -> Any:
    began = time.perf_counter()
    result = fn(*args)
    into.append(time.perf_counter() - began)
    return result


def print_table(r: dict[str, Any]) -> None:
    s, rps, split, est = r["seconds"], r["rows_per_second"], r["handler_split_seconds"], r["dynamodb_estimate"]
    print(
        f"\n{r['rows']:,} rows, {r['skus']:,} SKUs, median of {r['reps']} reps (targets: the handler <= 2x its "
        "write floor, parse + validate <= 5x pyarrow.csv.read_csv)\n"
    )
    print("| what | seconds | rows/s | x arrow |")
    print("|---|---:|---:|---:|")
    print(f"| pyarrow.csv.read_csv | {s['arrow']:.2f} | {rps['arrow']:,} | 1.00 |")
    print(
        f"| floor: typed read (dictionary SKUs, date32, float64) | {s['typed_read']:.2f} | "
        f"{rps['typed_read']:,} | {r['ratio_typed_read_to_arrow']:.2f} |"
    )
    print(
        f"| floor: validation (text read, casts, checks, duplicates by one sort) | {s['validation_floor']:.2f} | "
        f"{rps['validation_floor']:,} | {r['ratio_validation_floor_to_arrow']:.2f} |"
    )
    print(
        f"| floor: write (the handler's {r['write_floor_items']:,} items, BatchWriteItem, moto) | "
        f"{s['write_floor']:.2f} | {rps['write_floor']:,} | {s['write_floor'] / s['arrow']:.2f} |"
    )
    print(f"| ingest handler (moto) | {s['handler']:.2f} | {rps['handler']:,} | {r['ratio_handler_to_arrow']:.2f} |")
    for stage, seconds in split.items():
        print(f"| - {stage} | {seconds:.2f} | | {seconds / s['arrow']:.2f} |")
    print(f"| handler without DynamoDB calls | | | {r['ratio_without_dynamodb_to_arrow']:.2f} |")
    print(
        f"\nFloors: validating the rows alone is {r['ratio_validation_floor_to_arrow']:.2f}x the bare read "
        f"(a typed read that trusts its input {r['ratio_typed_read_to_arrow']:.2f}x); the handler is "
        f"{r['ratio_handler_to_write_floor']:.2f}x its write floor ({s['write_floor']:.2f} s to store its "
        f"{r['write_floor_items']:,} items with BatchWriteItem through the same moto)."
    )
    print("\n| target | figure | verdict |")
    print("|---|---:|---|")
    for name, (ratio, target) in r["targets"].items():
        print(f"| {name} <= {target:g}x | {ratio:.2f}x | {'met' if ratio <= target else 'NOT met'} |")
    prof = r["profile"]
    print(f"\nProfile of one more handler run (pyinstrument, {prof['seconds']:.2f} s; self time by stage):\n")
    print("| stage | seconds | share |")
    print("|---|---:|---:|")
    for stage, seconds in prof["stages_seconds"].items():
        print(f"| {stage} | {seconds:.2f} | {prof['stages_share'][stage]:.0%} |")
    print("\n| top functions by self time | where | seconds | share |")
    print("|---|---|---:|---:|")
    for f in prof["top_frames"][:10]:
        print(f"| `{f['function']}` | `{f['where']}` | {f['self_seconds']:.2f} | {f['share']:.0%} |")
    print(
        f"\nBottleneck: {bottleneck_sentence(prof)}. moto (the emulated S3 and DynamoDB) is "
        f"{prof['emulator_share']:.0%} of the whole run; without it the handler would be "
        f"{r['ratio_without_emulator_to_arrow']:.1f}x pyarrow (by layer: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in prof["by_layer_seconds"].items())
        + ")."
    )
    print(
        f"\nOn DynamoDB: {est['write_units']:,} write units + {est['read_units']:,} read units "
        f"(${est['cost_usd']}), {est['calls']:,} calls (~{est['seconds_sequential_calls']} s one at a time), "
        f"catalog partition floor {est['seconds_catalog_partition_floor']} s; "
        f"series items {est['series_item_bytes_mean']} bytes on average."
    )


if __name__ == "__main__":
    main()
