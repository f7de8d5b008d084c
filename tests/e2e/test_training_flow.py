"""The global model's training stage on the local stack, as a user drives it: declare a driver and
a calendar, upload demand through the presigned POST, run, read the results over HTTP.

The stack runs with a small shard size (SKUCAST_TRAINING_SHARD_SKUS=10), so 36 SKUs train as four
shards, four messages on TrainQueue handled by TrainFunction invocations; and with the TEST-ONLY
fault hook SKUCAST_TEST_FAIL_TRAINING_SKU naming one SKU of the third shard, whose training then
raises on every delivery: SQS retries it, redrives it to TrainDLQ after three receives, and
TrainDeadLetterFunction settles it FAILED. The run must end PARTIAL with exactly that shard's SKUs
failed (`training_failed`), every other SKU forecast, each batch predicted by the models its own
shard trained (read from the stack's table and bucket)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from skucast.forecasting import global_model
from skucast.repositories.keys import batches_pk, shard_map_key, shard_model_key, shards_pk
from tests.e2e.conftest import RunningStack, start_stack, stop_stack
from tests.e2e.routes import Tenant, results, run_to_end, upload

pytestmark = pytest.mark.e2e
F = "/api/v1/forecast"
START = dt.date(2025, 1, 1)
DAYS = 150
SHARD = 10
SKUS = [f"TRN {i:02d} ü" for i in range(36)]  # names with spaces and unicode, kept as sent
FAILING = SKUS[23]  # the third shard: SKUs 20..29
RUN = {"horizon": 14, "frequency": "D", "levels": [80, 95], "backtest_windows": 1}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(
        tmp_path_factory.mktemp("training-stack"),
        SKUCAST_TRAINING_SHARD_SKUS=str(SHARD),
        SKUCAST_TEST_FAIL_TRAINING_SKU=FAILING,
    )
    yield running
    stop_stack(running)


def _demand_csv(rng: np.random.Generator, promo: dict[str, np.ndarray]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["sku", "date", "quantity"])
    t = np.arange(DAYS)
    for k, sku in enumerate(SKUS):
        level = 5 + 3 * (k % 5)
        lam = level * (1 + 0.3 * np.sin(2 * np.pi * t / 7)) * (1 + promo[sku][:DAYS])
        for day, q in enumerate(rng.poisson(lam)):
            writer.writerow([sku, (START + dt.timedelta(days=day)).isoformat(), int(q)])
    return buf.getvalue().encode()


def _items(stack: RunningStack, pk: str) -> list[dict[str, Any]]:
    db: Any = stack.aws_client("dynamodb")
    table = stack.describe()["resources"]["Table"]
    pages = db.get_paginator("query").paginate(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pk}}
    )
    return [item for page in pages for item in page["Items"]]


def test_given_small_shards_and_one_failing_when_a_run_trains_then_each_sku_uses_its_shards_model_and_only_the_failed_shard_fails(  # noqa: E501
    stack: RunningStack,
) -> None:
    tenant = Tenant.sign_up(stack, tier="enterprise", http=stack.http())
    rng = np.random.default_rng(19)
    promo = {sku: (rng.random(DAYS + 14) < 0.1).astype(float) for sku in SKUS}
    r = tenant.http.put(f"{F}/drivers/promo", json={"kind": "flag", "aggregate": "max"}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    records = [
        {"sku": sku, "date": (START + dt.timedelta(days=d)).isoformat(), "values": {"promo": float(flags[d])}}
        for sku, flags in promo.items()
        for d in range(DAYS + 14)
        if flags[d] or d % 7 == 0
    ]
    for i in range(0, len(records), 5000):
        r = tenant.http.post(f"{F}/drivers/values", json={"records": records[i : i + 5000]}, headers=tenant.headers)
        assert r.status_code == 200 and r.json()["status"] == "SUCCEEDED", r.text
    r = tenant.http.put(f"{F}/calendar", json={"holidays": ["US"], "events": []}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    report = upload(tenant, _demand_csv(rng, promo))
    assert report["status"] == "SUCCEEDED", report

    run = run_to_end(tenant, RUN, timeout=600)
    run_id = run["run_id"]
    assert run["status"] == "PARTIAL", run
    assert run["progress"] == {"skus_total": 36, "skus_done": 26, "skus_failed": 10}
    by_sku = {r["sku"]: r for r in results(tenant, run_id)}
    assert sorted(by_sku) == sorted(SKUS)
    failed = {s for s, r in by_sku.items() if r["error"]}
    assert failed == set(SKUS[20:30])
    assert {by_sku[s]["error"]["code"] for s in failed} == {"training_failed"}
    assert all(len(by_sku[s]["forecast"]) == 14 for s in set(SKUS) - failed)
    # Each forecast SKU's backtest scored its shard's global-model candidate beside the per-SKU fits.
    assert all("global_lgbm" in by_sku[s]["candidates"] for s in set(SKUS) - failed)

    # Four shards, each its own training message; the failing one retried, then dead-lettered.
    stats = stack.stats()
    assert stats.get("sqs.TrainQueue.delivered", 0) == 4 + 2, stats
    assert stats.get("sqs.TrainQueue.failed", 0) == 3, stats
    assert stats.get("sqs.TrainDLQ.delivered", 0) == 1, stats
    shards = {i["sk"]["S"].split("#")[-1]: i["status"]["S"] for i in _items(stack, shards_pk(tenant.client_id, run_id))}
    assert shards == {"s00000": "TRAINED", "s00001": "TRAINED", "s00002": "FAILED", "s00003": "TRAINED"}

    # Every batch was predicted by its own shard's stored models, for each of its SKUs.
    s3: Any = stack.aws_client("s3")
    bucket = stack.describe()["resources"]["DataBucket"]
    shard_map = json.loads(s3.get_object(Bucket=bucket, Key=shard_map_key(tenant.client_id, run_id))["Body"].read())
    assert shard_map == {sku: f"s{i // SHARD:05d}" for i, sku in enumerate(sorted(SKUS))}
    for shard, status in shards.items():
        if status == "TRAINED":
            body = s3.get_object(Bucket=bucket, Key=shard_model_key(tenant.client_id, run_id, shard))["Body"].read()
            trained = set(global_model.load(body)["models"][0]["scales"])
            assert trained == {s for s, owner in shard_map.items() if owner == shard}
    for batch in _items(stack, batches_pk(tenant.client_id, run_id)):
        skus = [s["S"] for s in batch["skus"]["L"]]
        shard = batch["shard"]["S"]
        assert {shard_map[s] for s in skus} == {shard}
        if shards[shard] == "TRAINED":
            used = batch["record"]["M"]["global_model"]["M"]
            assert used["shard"]["S"] == shard and int(used["skus"]["N"]) == len(skus)
