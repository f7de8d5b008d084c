"""The training stage over moto: shards planned and trained as separate messages before any batch
goes out, each batch predicted by its own shard's stored models, a duplicate training message
trains once, and a shard failing every retry is dead-lettered into `training_failed` for its SKUs
only (the run PARTIAL)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import boto3
import numpy as np
import pytest

from skucast.forecasting import global_model
from skucast.repositories import runs as runs_repo
from skucast.repositories import training as training_repo
from skucast.repositories.keys import shard_map_key, shard_model_key
from skucast.services import training
from skucast.settings import get_settings
from skucast_local.emulator import REGION, Provisioned
from tests.integration.pipeline import Pipeline, read_results, read_run, start_run

F = "/api/v1/forecast"
SHARD = 12
RUN = {"horizon": 14, "frequency": "D", "backtest_windows": 1}


@pytest.fixture
def pipe(provisioned: Provisioned, lambda_context: Any, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    monkeypatch.setenv("SKUCAST_TRAINING_SHARD_SKUS", str(SHARD))
    get_settings.cache_clear()
    return Pipeline(provisioned, lambda_context)


@pytest.fixture
def trained(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[str, ...]]:
    """The real global_model.train, counting the SKU sets it trained (a spy, not a fake), with
    fewer trees so the suite stays quick."""
    calls: Counter[tuple[str, ...]] = Counter()
    original = global_model.train

    def train(items: Any, features: Any, spec: Any, config: Any = None) -> bytes:
        calls[tuple(sorted(i.sku for i in items))] += 1
        return original(items, features, spec, global_model.GlobalConfig(n_estimators=30))

    monkeypatch.setattr(global_model, "train", train)
    return calls


def _tenant(pipe: Pipeline, name: str, n: int = 30) -> tuple[str, list[str]]:
    client = pipe.tenant(name)
    rng = np.random.default_rng(5)
    series = {f"SKU {i:02d}": rng.poisson(8 + i, 120).astype(float) for i in range(n)}
    pipe.store(client, series, start=dt.date(2025, 1, 1))
    # A calendar with holidays: the run has features, so it trains the global model.
    assert pipe.api("PUT", f"{F}/calendar", client, body={"holidays": ["US"], "events": []})[0] == 200
    return client, sorted(series)


def test_a_run_with_features_trains_its_shards_first_and_each_batch_uses_its_shards_models(
    pipe: Pipeline, trained: Counter[tuple[str, ...]]
) -> None:
    client, skus = _tenant(pipe, "acme")
    run_id = start_run(pipe, client, RUN)["run_id"]
    from forecast_worker.planner import handler as planner

    pipe.deliver("PlanQueue", planner, pipe.receive("PlanQueue", 1))
    # Planned: three shards (12, 12, 6 SKUs) as three training messages; no batch sent yet.
    sent = pipe.sqs.receive_message(QueueUrl=pipe.queue("TrainQueue"), MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert sorted(json.loads(m["Body"])["shard_id"] for m in sent["Messages"]) == ["s00000", "s00001", "s00002"]
    assert pipe.receive("ForecastQueue") == []
    shards = list(training_repo.iter_shards(pipe.table, client, run_id))
    assert [s.skus for s in shards] == [12, 12, 6]
    pipe.drain()
    run = read_run(pipe, client, run_id)
    assert run["status"] == "SUCCEEDED", run
    # Each shard trained once, on exactly its SKUs.
    assert sorted(trained.values()) == [1, 1, 1]
    assert sorted(trained) == sorted([tuple(skus[0:12]), tuple(skus[12:24]), tuple(skus[24:30])])
    # Its models are stored under the tenant and run and hold exactly its SKUs.
    bucket = get_settings().data_bucket
    s3 = boto3.client("s3", region_name=REGION)
    shard_map = json.loads(s3.get_object(Bucket=bucket, Key=shard_map_key(client, run_id))["Body"].read())
    for shard in shards:
        body = s3.get_object(Bucket=bucket, Key=shard_model_key(client, run_id, shard.shard_id))["Body"].read()
        members = {sku for sku, s in shard_map.items() if s == shard.shard_id}
        assert set(global_model.load(body)["models"][0]["scales"]) == members
    # Every batch was predicted by its own shard's model, for every one of its SKUs.
    for batch in runs_repo.iter_batches(pipe.table, client, run_id):
        assert batch.shard is not None and {shard_map[s] for s in batch.skus} == {batch.shard}
        assert batch.record and batch.record["global_model"] == {"shard": batch.shard, "skus": len(batch.skus)}
    # The engine scored each SKU's global-model candidate in its backtest, beside the per-SKU fits.
    served = read_results(pipe, client, run_id)
    assert len(served) == 30
    assert all("global_lgbm" in r["candidates"] for r in served), [r["candidates"] for r in served][:2]


def test_a_duplicate_training_message_trains_once(pipe: Pipeline, trained: Counter[tuple[str, ...]]) -> None:
    client, _ = _tenant(pipe, "acme")
    run_id = start_run(pipe, client, RUN)["run_id"]
    pipe.drain(duplicate=True)  # every training (and batch) message delivered twice
    assert read_run(pipe, client, run_id)["status"] == "SUCCEEDED"
    assert sorted(trained.values()) == [1, 1, 1]
    run = runs_repo.get_run(pipe.table, client, run_id)
    assert run is not None and (run.shards_total, run.shards_settled) == (3, 3)


def test_a_shard_failing_every_retry_fails_only_its_skus(
    pipe: Pipeline, trained: Counter[tuple[str, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, skus = _tenant(pipe, "acme")
    monkeypatch.setenv("SKUCAST_TEST_FAIL_TRAINING_SKU", skus[13])  # the second shard fails
    get_settings.cache_clear()
    attempts: Counter[str] = Counter()
    original = training.train_shard

    def counted(message: Any, settings: Any) -> None:
        attempts[message.shard_id] += 1
        original(message, settings)

    monkeypatch.setattr(training, "train_shard", counted)
    run_id = start_run(pipe, client, RUN)["run_id"]
    pipe.drain()
    run = read_run(pipe, client, run_id)
    assert run["status"] == "PARTIAL", run
    assert run["progress"] == {"skus_total": 30, "skus_done": 18, "skus_failed": 12}
    results = {r["sku"]: r for r in read_results(pipe, client, run_id)}
    failed = {s for s, r in results.items() if r["error"]}
    assert failed == set(skus[12:24])
    assert {results[s]["error"]["code"] for s in failed} == {"training_failed"}
    assert all(results[s]["forecast"] for s in set(skus) - failed)
    shards = {s.shard_id: s.status.value for s in training_repo.iter_shards(pipe.table, client, run_id)}
    assert shards == {"s00000": "TRAINED", "s00001": "FAILED", "s00002": "TRAINED"}
    assert attempts == {"s00000": 1, "s00001": 3, "s00002": 1}  # retried by SQS, then dead-lettered
    assert pipe.receive("TrainDLQ") == []  # recorded, not left behind


def test_a_run_without_features_trains_nothing(pipe: Pipeline, trained: Counter[tuple[str, ...]]) -> None:
    client = pipe.tenant("plain")
    pipe.store(client, {"A": np.ones(60), "B": np.full(60, 2.0)})
    run_id = start_run(pipe, client, RUN)["run_id"]
    pipe.drain()
    assert read_run(pipe, client, run_id)["status"] == "SUCCEEDED"
    assert not trained and list(training_repo.iter_shards(pipe.table, client, run_id)) == []
    assert all(b.shard is None for b in runs_repo.iter_batches(pipe.table, client, run_id))


def test_given_a_lost_training_message_then_the_sweeper_sends_it_again_and_the_run_completes(
    pipe: Pipeline, trained: Counter[tuple[str, ...]]
) -> None:
    from datetime import UTC, datetime, timedelta

    from forecast_worker.planner import handler as planner
    from skucast.services import scheduling

    client, _ = _tenant(pipe, "acme")
    run_id = start_run(pipe, client, RUN)["run_id"]
    pipe.deliver("PlanQueue", planner, pipe.receive("PlanQueue", 1))
    lost = pipe.receive("TrainQueue", 1)[0]  # never delivered to a trainer
    pipe.sqs.delete_message(QueueUrl=pipe.queue("TrainQueue"), ReceiptHandle=lost["ReceiptHandle"])
    pipe.drain()
    assert read_run(pipe, client, run_id)["status"] == "RUNNING"  # two shards trained, one waits
    assert len(trained) == 2
    later = datetime.now(UTC) + timedelta(hours=1)
    assert scheduling.sweep_stalled_runs(get_settings(), later) == {"repaired": 1, "failed": 0}
    pipe.drain()
    assert read_run(pipe, client, run_id)["status"] == "SUCCEEDED"
    assert sorted(trained.values()) == [1, 1, 1]  # the re-sent shard trained; the others not again
