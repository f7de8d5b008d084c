"""Worker overhead: `uv run python -m bench.worker [--quick]`.

The worker handler (forecast_worker.app.handler) on one SQS event of ESM-batch-size messages
(4 x 40 SKUs), against moto in-process with the template's resources (real pydantic parsing,
DynamoDB reads of the series, result writes, batch settlement, the next batches' SQS sends), versus
the bare engine (`forecast_batch`) on the same series in memory. Interleaved repetitions, medians.

Also measured here, for the AWS model: engine CPU-seconds per SKU per demand class, and a metered
pass counting every AWS request the worker (and the planner, per run) makes, with DynamoDB
request units computed from the items' sizes.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench._common import ROOT, emit
from bench.scaling import HORIZON, START, demand_mix

SERVICE_KEY = "bench-service-key-0123456789abcdef"
# handler: moto with per-item transaction rollback (local/skucast_local/moto_fast.py, as the stack runs it);
# handler_stock_moto: moto as installed (whole-table deepcopy per transaction action)
CONTENDERS = ("handler", "handler_stock_moto", "engine")


class Context:
    function_name = "ForecastWorkerFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ForecastWorkerFunction"
    aws_request_id = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


# ---------------------------------------------------------------- moto in-process
@contextmanager
def moto_aws() -> Iterator[Any]:
    """moto in-process with the template's resources, the functions' environment set."""
    import boto3
    from aws_lambda_powertools.utilities import parameters
    from moto import mock_aws

    from skucast import aws
    from skucast.settings import get_settings
    from skucast_local.emulator import LOCAL_CREDENTIALS, REGION, provision
    from skucast_local.template import load

    os.environ.update(LOCAL_CREDENTIALS)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    with mock_aws():
        template = load(ROOT / "template.yaml")
        provisioned = provision(
            lambda service: boto3.client(service, region_name=REGION), "moto", template, SERVICE_KEY
        )
        os.environ.update(provisioned.environments["ForecastWorkerFunction"])
        aws.reset_clients()
        get_settings.cache_clear()
        parameters.clear_caches()
        yield provisioned


def add_tenant(table: str, client_id: str, tier: str = "enterprise") -> str:
    import boto3

    from skucast.repositories.keys import CLIENT_PROFILE_SK, tenant_pk

    boto3.resource("dynamodb", region_name="us-east-1").Table(table).put_item(
        Item={"pk": tenant_pk(client_id), "sk": CLIENT_PROFILE_SK, "client_id": client_id, "tier": tier}
    )
    return client_id


def store(table: str, client_id: str, series: dict[str, Any]) -> None:
    from skucast.ingestion.series import DemandSeries
    from skucast.repositories import catalog, demand

    demand.put_series(table, client_id, {s: DemandSeries(START, v) for s, v in series.items()}, "upl_bench")
    catalog.merge_entries(table, client_id, [{"sku": s, "demand_class": "unknown"} for s in series], None)


def plan(client_id: str, skus: list[str]) -> str:
    """A run of these SKUs, created and planned as the API and planner do (through the services)."""
    from skucast.schemas.forecast import CreateRunRequest
    from skucast.schemas.messages import PlanMessage
    from skucast.services import batches, runs
    from skucast.settings import get_settings

    settings = get_settings()
    run = runs.create_run(settings, client_id, CreateRunRequest(horizon=HORIZON, skus=skus))
    batches.plan_run(PlanMessage(client_id=client_id, run_id=run.run_id), settings)
    return run.run_id


def sqs_event(provisioned: Any, logical: str, n: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Up to `n` messages of a queue as one Lambda SQS event (the local stack's event shape)."""
    import boto3

    from skucast_local.pumps import sqs_record

    sqs = boto3.client("sqs", region_name="us-east-1")
    url, arn = provisioned.resources[logical].ref, provisioned.resources[logical].attrs["Arn"]
    messages: list[dict[str, Any]] = []
    while len(messages) < n:
        got = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, n - len(messages)),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not got:
            break
        messages += got
    return {"Records": [sqs_record(m, arn) for m in messages]}, messages


def purge(provisioned: Any, logical: str, messages: list[dict[str, Any]]) -> None:
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1")
    for m in messages:
        sqs.delete_message(QueueUrl=provisioned.resources[logical].ref, ReceiptHandle=m["ReceiptHandle"])


def drain(provisioned: Any, logical: str) -> None:
    while True:
        _, messages = sqs_event(provisioned, logical, 10)
        if not messages:
            return
        purge(provisioned, logical, messages)


_STOCK_TRANSACT: Any = None


@contextmanager
def moto_transactions(patched: bool) -> Iterator[None]:
    """moto's TransactWriteItems as installed, or with per-item rollback (the bench's patch)."""
    global _STOCK_TRANSACT
    from moto.dynamodb import models

    from skucast_local import moto_fast

    if _STOCK_TRANSACT is None:
        _STOCK_TRANSACT = models.DynamoDBBackend.transact_write_items
    if patched:
        models.DynamoDBBackend.transact_write_items = moto_fast.transact_write_items
    else:
        models.DynamoDBBackend.transact_write_items = _STOCK_TRANSACT
    yield


@contextmanager
def emulated_service_time() -> Iterator[Any]:
    """CPU seconds spent inside moto's emulated services (AWS's side of the calls, not Lambda's)."""
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request
    spent = [0.0]

    def timed(self: Any, request: Any) -> Any:
        t0 = time.thread_time()
        try:
            return original(self, request)
        finally:
            spent[0] += time.thread_time() - t0

    BotocoreStubber.process_request = timed  # type: ignore[method-assign]
    try:
        yield lambda: spent[0]
    finally:
        BotocoreStubber.process_request = original  # type: ignore[method-assign]


# ---------------------------------------------------------------- metering AWS requests
def _av_size(value: dict[str, Any]) -> int:
    """Bytes DynamoDB bills for one typed attribute value (its documented sizing rules)."""
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = v.lstrip("-").replace(".", "").lstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(base64.b64decode(v))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _av_size(x) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(_av_size(x) + 1 for x in v)
    if kind == "SS":
        return sum(len(x.encode()) for x in v)
    if kind == "NS":
        return sum(_av_size({"N": x}) for x in v)
    return sum(len(base64.b64decode(x)) for x in v)  # BS


def item_size(item: dict[str, Any]) -> int:
    return sum(len(k.encode()) + _av_size(v) for k, v in item.items())


class Meter:
    """Counts AWS requests of every botocore client created while one is active; DynamoDB write
    and read request units from item sizes (updates: the item's size after the invocation, read
    back unmetered). Time inside AWS calls is summed too (in-process moto: client + emulated service)."""

    active: Meter | None = None
    _patched = False

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.wru = 0.0
        self.rru = 0.0
        self.sqs_requests = 0
        self.s3_puts = 0
        self.seconds = 0.0
        self.updated_keys: list[tuple[str, dict[str, Any], int]] = []  # (table, key, multiplier)
        self._began = 0.0

    @classmethod
    def _patch(cls) -> None:
        """Every client created from now on reports to the active meter (if any)."""
        import botocore.session

        if cls._patched:
            return
        original = botocore.session.Session.create_client

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            client.meta.events.register("before-call", lambda **kw: cls.active and cls.active._before(**kw))
            client.meta.events.register("after-call", lambda **kw: cls.active and cls.active._after(**kw))
            return client

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
        cls._patched = True

    def __enter__(self) -> Meter:
        from skucast import aws

        self._patch()
        aws.reset_clients()  # the functions' cached clients are re-created, metered
        Meter.active = self
        return self

    def __exit__(self, *exc: object) -> None:
        Meter.active = None

    def _before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        op = model.name
        self.calls[f"{service}.{op}"] += 1
        self._began = time.perf_counter()
        body = params.get("body") or b""
        if service == "sqs":
            size = len(body) if isinstance(body, bytes | str) else 0
            self.sqs_requests += max(1, math.ceil(size / 65536))
        elif service == "s3" and op in (
            "PutObject",
            "CopyObject",
            "PostObject",
            "ListObjectsV2",
            "CreateMultipartUpload",
        ):
            self.s3_puts += 1
        elif service == "dynamodb" and body:
            self._dynamodb_write(op, json.loads(body))

    def _dynamodb_write(self, op: str, req: dict[str, Any]) -> None:  # noqa: C901 (one branch per operation)
        table = req.get("TableName", "")
        if op == "PutItem":
            self.wru += math.ceil(item_size(req["Item"]) / 1024)
        elif op in ("UpdateItem", "DeleteItem"):
            self.updated_keys.append((table, req["Key"], 1))
        elif op == "BatchWriteItem":
            for writes in req["RequestItems"].values():
                for w in writes:
                    if "PutRequest" in w:
                        self.wru += math.ceil(item_size(w["PutRequest"]["Item"]) / 1024)
                    else:
                        self.wru += 1
        elif op == "TransactWriteItems":
            for entry in req["TransactItems"]:
                ((kind, spec),) = entry.items()
                if kind == "Put":
                    self.wru += 2 * math.ceil(item_size(spec["Item"]) / 1024)
                elif kind in ("Update", "Delete"):
                    self.updated_keys.append((spec["TableName"], spec["Key"], 2))
                else:  # ConditionCheck: billed as a transactional write
                    self.wru += 2

    def _after(self, model: Any, http_response: Any, **_: Any) -> None:
        self.seconds += time.perf_counter() - self._began
        if model.service_model.service_name != "dynamodb" or model.name not in (
            "GetItem",
            "BatchGetItem",
            "Query",
            "Scan",
            "TransactGetItems",
        ):
            return
        try:
            answer = json.loads(http_response.content or b"{}")
        except ValueError:
            return
        if model.name == "GetItem":
            self.rru += math.ceil(item_size(answer.get("Item", {})) / 4096) or 1
        elif model.name == "BatchGetItem":
            for items in answer.get("Responses", {}).values():
                self.rru += sum(max(1, math.ceil(item_size(i) / 4096)) for i in items)
        elif model.name == "TransactGetItems":
            self.rru += sum(
                2 * max(1, math.ceil(item_size(r.get("Item", {})) / 4096)) for r in answer.get("Responses", [])
            )
        else:  # Query/Scan: the items' total size, rounded up once per request
            self.rru += max(1, math.ceil(sum(item_size(i) for i in answer.get("Items", [])) / 4096))

    def settle_updates(self) -> None:
        """Updated items: bill the item's current size (read back without metering)."""
        import boto3

        Meter.active = None
        client = boto3.client("dynamodb", region_name="us-east-1")
        for table, key, multiplier in self.updated_keys:
            item = client.get_item(TableName=table, Key=key).get("Item") or {}
            self.wru += multiplier * max(1, math.ceil(item_size(item) / 1024))
        self.updated_keys.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "calls": dict(sorted(self.calls.items())),
            "dynamodb_wru": self.wru,
            "dynamodb_rru": self.rru,
            "sqs_requests": self.sqs_requests,
            "s3_puts": self.s3_puts,
            "aws_call_seconds": round(self.seconds, 3),
        }


# ---------------------------------------------------------------- the measurements
def class_costs(n: int) -> dict[str, Any]:
    """Engine CPU seconds per SKU by demand class (one series at a time, process time)."""
    from skucast.forecasting.engine import ForecastSpec, SeriesInput, forecast_batch

    spec = ForecastSpec(horizon=HORIZON)
    series = demand_mix(n, seed=3)
    forecast_batch([SeriesInput(s, START, v) for s, v in list(series.items())[:10]], spec)  # warm-up
    by_class: dict[str, list[float]] = defaultdict(list)
    for sku, values in series.items():
        t0 = time.process_time()
        result = forecast_batch([SeriesInput(sku, START, values)], spec)[0]
        by_class[result.demand_class].append(time.process_time() - t0)
    total = sum(sum(v) for v in by_class.values())
    return {
        "n": n,
        "mix": {k: len(v) / n for k, v in sorted(by_class.items())},
        "cpu_seconds_per_sku": {k: statistics.fmean(v) for k, v in sorted(by_class.items())},
        "mix_cpu_seconds_per_sku": total / n,
    }


def run(quick: bool = False, reps: int = 5, log: Any = print) -> dict[str, Any]:
    from skucast.forecasting.engine import ForecastSpec, SeriesInput, forecast_batch
    from skucast.services.batches import BATCH_SIZE
    from skucast_local.template import load

    reps = 2 if quick else reps
    esm_batch = next(s.batch_size for s in load(ROOT / "template.yaml").sqs if s.function == "ForecastWorkerFunction")
    n = esm_batch * BATCH_SIZE
    series = demand_mix(n, seed=5)
    skus = list(series)
    inputs = [SeriesInput(s, START, v) for s, v in series.items()]
    spec = ForecastSpec(horizon=HORIZON)
    ctx = Context()
    out: dict[str, Any] = {
        "skus_per_invocation": n,
        "messages_per_invocation": esm_batch,
        "batch_size": BATCH_SIZE,
    }
    with moto_aws() as provisioned:
        # imported once the function's environment is set, as Lambda's init does
        from forecast_worker.app import handler
        from forecast_worker.planner import handler as planner_handler

        table = provisioned.resources["Table"].ref
        client = add_tenant(table, "cli_bench")
        store(table, client, series)

        def invocation() -> tuple[float, float, float]:
            """(wall, CPU, CPU inside the emulated services) of the handler call alone."""
            plan(client, skus)
            event, messages = sqs_event(provisioned, "ForecastQueue", esm_batch)
            assert len(messages) == esm_batch, len(messages)
            with emulated_service_time() as inside:
                w0, c0 = time.perf_counter(), time.process_time()
                answer = handler(event, ctx)
                wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                emulated = inside()
            assert not answer.get("batchItemFailures"), answer
            purge(provisioned, "ForecastQueue", messages)
            drain(provisioned, "ForecastQueue")  # next batches the settlement sent (none here)
            return wall, cpu, emulated

        def engine() -> tuple[float, float]:
            w0, c0 = time.perf_counter(), time.process_time()
            forecast_batch(inputs, spec)
            return time.perf_counter() - w0, time.process_time() - c0

        invocation()  # warm-up: imports, first fits, moto's first writes
        engine()
        times: dict[str, list[tuple[float, float, float]]] = {k: [] for k in CONTENDERS}
        for r in range(reps):
            order = CONTENDERS if r % 2 == 0 else CONTENDERS[::-1]
            for name in order:
                if name == "engine":
                    times[name].append((*engine(), 0.0))
                    continue
                with moto_transactions(patched=name == "handler"):
                    times[name].append(invocation())
            log(f"  worker rep {r + 1}/{reps}: " + ", ".join(f"{k} {v[-1][0]:.2f} s" for k, v in times.items()))
        for name, values in times.items():
            out[name] = {
                "wall_seconds": [round(w, 3) for w, _, _ in values],
                "cpu_seconds": [round(c, 3) for _, c, _ in values],
                "emulated_service_seconds": [round(e, 3) for _, _, e in values],
                "wall_median": statistics.median(w for w, _, _ in values),
                "cpu_median": statistics.median(c for _, c, _ in values),
                "cpu_outside_emulator_median": statistics.median(c - e for _, c, e in values),
            }
        # CPU time is the verdict: in-process moto never waits on a network, so on an idle machine
        # wall ~ CPU, and on a shared one (other engineers' tests) CPU time is the stable measure
        engine_cpu = out["engine"]["cpu_median"]
        out["ratio_wall"] = out["handler"]["wall_median"] / out["engine"]["wall_median"]
        out["ratio_cpu"] = out["handler"]["cpu_median"] / engine_cpu
        out["ratio_stock_moto"] = out["handler_stock_moto"]["cpu_median"] / engine_cpu
        out["ratio_outside_emulator"] = out["handler"]["cpu_outside_emulator_median"] / engine_cpu
        out["target"] = 1.10
        out["met"] = out["ratio_cpu"] <= 1.10

        # metered passes: what a run's planning and one invocation ask of AWS
        from skucast.schemas.forecast import CreateRunRequest
        from skucast.services import runs
        from skucast.settings import get_settings

        drain(provisioned, "PlanQueue")
        with moto_transactions(patched=True), Meter() as meter:
            run_ = runs.create_run(get_settings(), client, CreateRunRequest(horizon=HORIZON, skus=skus))
            event, messages = sqs_event(provisioned, "PlanQueue", 1)
            planner_handler(event, ctx)
            meter.settle_updates()
        purge(provisioned, "PlanQueue", messages)
        out["api_and_planner_per_run"] = {**meter.snapshot(), "batches": math.ceil(n / BATCH_SIZE)}
        event, messages = sqs_event(provisioned, "ForecastQueue", esm_batch)
        with Meter() as meter:
            w0 = time.perf_counter()
            handler(event, ctx)
            wall = time.perf_counter() - w0
            meter.settle_updates()
        purge(provisioned, "ForecastQueue", messages)
        out["metered_invocation"] = {
            **meter.snapshot(),
            "wall_seconds": round(wall, 3),
            "run_id": run_.run_id,
        }
    log("  worker: class costs")
    out["class_costs"] = class_costs(100 if quick else 400)
    return out


def profile(quick: bool = False) -> str:
    """pyinstrument text profile of handler invocations (needs `--with pyinstrument`)."""
    from pyinstrument import Profiler

    from forecast_worker.app import handler
    from skucast.services.batches import BATCH_SIZE

    n = 4 * BATCH_SIZE
    series = demand_mix(n, seed=5)
    with moto_aws() as provisioned:
        table = provisioned.resources["Table"].ref
        client = add_tenant(table, "cli_bench")
        store(table, client, series)
        plan(client, list(series))
        event, messages = sqs_event(provisioned, "ForecastQueue", 4)
        handler(event, Context())  # warm
        purge(provisioned, "ForecastQueue", messages)
        profiler = Profiler(interval=0.001)
        for _ in range(1 if quick else 3):
            plan(client, list(series))
            event, messages = sqs_event(provisioned, "ForecastQueue", 4)
            profiler.start()
            handler(event, Context())
            profiler.stop()
            purge(provisioned, "ForecastQueue", messages)
    return str(profiler.output_text(unicode=False, color=False, show_all=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile instead")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.profile:
        print(profile(args.quick))
        return 0
    result = run(args.quick, args.reps, log=lambda m: print(m, flush=True))
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
