"""Forecast runs end to end in-process: API -> plan queue -> planner -> forecast queue -> workers."""

from __future__ import annotations

import csv
import io
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pytest

from skucast.forecasting.engine import ForecastSpec, SeriesInput, forecast_batch
from skucast.repositories.keys import run_idempotency_sk, run_sk
from skucast.services import batches
from skucast_local.emulator import REGION, Provisioned
from tests.integration.pipeline import RUN, Pipeline, demand_mix, read_results, read_run, start_run


@pytest.fixture
def pipe(provisioned: Provisioned, lambda_context: Any) -> Pipeline:
    return Pipeline(provisioned, lambda_context)


def test_given_stored_demand_when_a_run_completes_then_every_sku_has_the_engines_forecast(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batches, "SKUS_PER_RESULT_SHARD", 20)  # several result shards
    client = pipe.tenant("cli_acme")
    series = demand_mix(60)
    pipe.store(client, series)
    run = start_run(pipe, client)
    assert run["status"] == "QUEUED"
    pipe.drain()
    done = read_run(pipe, client, run["run_id"])
    assert done["status"] == "SUCCEEDED"
    assert done["progress"] == {"skus_total": 60, "skus_done": 60, "skus_failed": 0}
    assert sum(done["summary"]["by_class"].values()) == 60
    results = read_results(pipe, client, run["run_id"])
    assert sorted(r["sku"] for r in results) == sorted(series)
    spec = ForecastSpec(horizon=14, frequency="D", levels=(80, 95), method="auto", backtest_windows=1)
    import datetime as dt

    direct = forecast_batch([SeriesInput(s, dt.date(2024, 1, 1), v) for s, v in series.items()], spec)
    by_sku = {r["sku"]: r for r in results}
    for expected in direct:
        got = by_sku[expected.sku]
        assert got["method"] == expected.method
        assert [p["date"] for p in got["forecast"]] == [p["date"] for p in expected.forecast]
        np.testing.assert_allclose([p["mean"] for p in got["forecast"]], [p["mean"] for p in expected.forecast])


def test_given_every_message_delivered_twice_then_results_and_counts_are_exact(pipe: Pipeline) -> None:
    client = pipe.tenant("cli_dup")
    pipe.store(client, demand_mix(90))
    run = start_run(pipe, client)
    pipe.drain(duplicate=True)
    done = read_run(pipe, client, run["run_id"])
    assert done["status"] == "SUCCEEDED"
    assert done["progress"] == {"skus_total": 90, "skus_done": 90, "skus_failed": 0}
    assert len(read_results(pipe, client, run["run_id"])) == 90


def test_given_a_dead_lettered_batch_then_the_run_is_partial_with_those_skus_marked(pipe: Pipeline) -> None:
    from forecast_worker.app import handler as worker
    from forecast_worker.dead_letters import handler as dead_letters
    from forecast_worker.planner import handler as planner

    client = pipe.tenant("cli_poison")
    pipe.store(client, demand_mix(80))
    run = start_run(pipe, client)
    pipe.deliver("PlanQueue", planner, pipe.receive("PlanQueue", 1))
    first, *rest = pipe.receive("ForecastQueue", 10)
    pipe.sqs.delete_message(QueueUrl=pipe.queue("ForecastQueue"), ReceiptHandle=first["ReceiptHandle"])
    pipe.sqs.send_message(QueueUrl=pipe.queue("ForecastDLQ"), MessageBody=first["Body"])  # as the redrive would
    pipe.deliver("ForecastDLQ", dead_letters, pipe.receive("ForecastDLQ"))
    if rest:
        pipe.deliver("ForecastQueue", worker, rest)
    pipe.drain()
    done = read_run(pipe, client, run["run_id"])
    assert done["status"] == "PARTIAL"
    assert done["progress"]["skus_failed"] == batches.BATCH_SIZE
    assert done["progress"]["skus_done"] == 80 - batches.BATCH_SIZE
    failed = [r for r in read_results(pipe, client, run["run_id"]) if r["error"]]
    assert len(failed) == batches.BATCH_SIZE and {r["error"]["code"] for r in failed} == {"batch_failed"}


def test_given_unknown_skus_requested_then_they_fail_alone(pipe: Pipeline) -> None:
    client = pipe.tenant("cli_unknown")
    pipe.store(client, demand_mix(3))
    run = start_run(pipe, client, {**RUN, "skus": ["SKU-0000", "NOPE"]})
    pipe.drain()
    done = read_run(pipe, client, run["run_id"])
    assert done["status"] == "PARTIAL"
    assert done["progress"] == {"skus_total": 2, "skus_done": 1, "skus_failed": 1}
    status, result, _ = pipe.api("GET", f"/api/v1/forecast/runs/{run['run_id']}/results/NOPE", client, "viewer")
    assert status == 200 and result["error"]["code"] == "unknown_sku"


def test_given_a_cancelled_run_then_no_more_batches_count_and_cancel_again_is_409(pipe: Pipeline) -> None:
    client = pipe.tenant("cli_cancel")
    pipe.store(client, demand_mix(120))
    run = start_run(pipe, client)
    from forecast_worker.planner import handler as planner

    pipe.deliver("PlanQueue", planner, pipe.receive("PlanQueue", 1))
    status, cancelled, _ = pipe.api("POST", f"/api/v1/forecast/runs/{run['run_id']}/cancel", client, "analyst")
    assert status == 202 and cancelled["status"] == "CANCELLED"
    pipe.drain()
    after = read_run(pipe, client, run["run_id"])
    assert after["status"] == "CANCELLED" and after["progress"]["skus_done"] == 0
    status, problem, _ = pipe.api("POST", f"/api/v1/forecast/runs/{run['run_id']}/cancel", client, "analyst")
    assert status == 409 and problem["status"] == 409
    # The tenant's slots came back: a new run starts and completes.
    run2 = start_run(pipe, client, {**RUN, "skus": ["SKU-0001"]})
    pipe.drain()
    assert read_run(pipe, client, run2["run_id"])["status"] == "SUCCEEDED"


def test_given_the_same_idempotency_key_then_the_same_run(pipe: Pipeline) -> None:
    client = pipe.tenant("cli_idem")
    pipe.store(client, demand_mix(3))
    first = start_run(pipe, client, headers={"Idempotency-Key": "k-1"})
    again = start_run(pipe, client, headers={"Idempotency-Key": "k-1"})
    assert again["run_id"] == first["run_id"]
    status, problem, _ = pipe.api(
        "POST",
        "/api/v1/forecast/runs",
        client,
        body={**RUN, "horizon": 7},
        headers={"Idempotency-Key": "k-1"},
    )
    assert status == 422, problem


def test_given_a_finished_run_then_only_its_idempotency_claim_carries_the_tables_ttl(pipe: Pipeline) -> None:
    """DynamoDB deletes items past the table's TTL attribute: a run, its batches and its results
    are kept; only the Idempotency-Key claim expires (a day)."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    ttl = dynamodb.describe_time_to_live(TableName=pipe.table)["TimeToLiveDescription"]["AttributeName"]
    client = pipe.tenant("cli_ttl")
    pipe.store(client, demand_mix(3))
    run = start_run(pipe, client, headers={"Idempotency-Key": "k-ttl"})
    pipe.drain()
    assert read_run(pipe, client, run["run_id"])["status"] == "SUCCEEDED"
    items = boto3.resource("dynamodb", region_name=REGION).Table(pipe.table).scan()["Items"]
    mine = [i for i in items if client in str(i["pk"])]
    expiring = [str(i["sk"]) for i in mine if ttl in i]
    assert len(expiring) == 1 and expiring[0].startswith(run_idempotency_sk("")), expiring
    assert any(i["sk"] == run_sk(run["run_id"]) and ttl not in i for i in mine)
    assert len(read_results(pipe, client, run["run_id"])) == 3


def test_given_tier_limits_then_runs_are_refused_with_the_reason(pipe: Pipeline) -> None:
    client = pipe.tenant("cli_free", tier="free")
    pipe.store(client, demand_mix(3))
    status, problem, _ = pipe.api("POST", "/api/v1/forecast/runs", client, body={**RUN, "horizon": 366})
    assert status == 422 and problem["errors"][0]["field"] == "horizon"
    status, problem, _ = pipe.api("POST", "/api/v1/forecast/runs", client, body={**RUN, "method": "magic"})
    assert status == 422 and problem["errors"][0]["code"] == "unknown_method"
    start_run(pipe, client)
    status, problem, _ = pipe.api("POST", "/api/v1/forecast/runs", client, body=RUN)
    assert status == 409, problem  # free tier: one active run


def test_given_roles_then_viewers_cannot_start_runs(pipe: Pipeline) -> None:
    client = pipe.tenant("cli_roles")
    status, _, _ = pipe.api("POST", "/api/v1/forecast/runs", client, role="viewer", body=RUN)
    assert status == 403


def test_given_another_tenants_run_then_404_everywhere(pipe: Pipeline) -> None:
    a, b = pipe.tenant("cli_a"), pipe.tenant("cli_b")
    pipe.store(a, demand_mix(3))
    run = start_run(pipe, a)
    pipe.drain()
    rid = run["run_id"]
    for method, path, body in [
        ("GET", f"/api/v1/forecast/runs/{rid}", None),
        ("GET", f"/api/v1/forecast/runs/{rid}/results", None),
        ("GET", f"/api/v1/forecast/runs/{rid}/results/SKU-0000", None),
        ("POST", f"/api/v1/forecast/runs/{rid}/cancel", None),
        ("POST", f"/api/v1/forecast/runs/{rid}/export", {"format": "csv"}),
    ]:
        status, _, _ = pipe.api(method, path, b, body=body)
        assert status == 404, (method, path)
    status, listed, _ = pipe.api("GET", "/api/v1/forecast/runs", b, role="viewer")
    assert listed["items"] == []


def test_given_a_finished_run_when_exported_then_csv_has_every_point_and_no_live_formula(
    pipe: Pipeline,
) -> None:
    client = pipe.tenant("cli_export")
    pipe.store(client, {"=HYPERLINK(1)": demand_mix(1)["SKU-0000"], "PLAIN": demand_mix(1)["SKU-0000"]})
    run = start_run(pipe, client)
    status, problem, _ = pipe.api(
        "POST", f"/api/v1/forecast/runs/{run['run_id']}/export", client, body={"format": "csv"}
    )
    assert status == 409, problem  # not finished yet
    pipe.drain()
    status, link, _ = pipe.api("POST", f"/api/v1/forecast/runs/{run['run_id']}/export", client, body={"format": "csv"})
    assert status == 200 and link["expires_in"] > 0
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = pipe.p.resources["DataBucket"].ref
    key = link["url"].split(f"/{bucket}/", 1)[1].split("?", 1)[0] if f"/{bucket}/" in link["url"] else None
    if key is None:  # virtual-hosted style URL
        key = link["url"].split(".amazonaws.com/", 1)[1].split("?", 1)[0]
    text = s3.get_object(Bucket=bucket, Key=urllib.request.url2pathname(key))["Body"].read().decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 2 * 14
    assert {r["sku"] for r in rows} == {"'=HYPERLINK(1)", "PLAIN"}
    assert {"lo_80", "hi_95"} <= set(rows[0])


def test_given_a_schedule_fired_twice_in_one_period_then_one_run(pipe: Pipeline) -> None:
    from skucast.services import scheduling
    from skucast.settings import get_settings

    client = pipe.tenant("cli_sched")
    pipe.store(client, demand_mix(3))
    status, schedule, _ = pipe.api("PUT", "/api/v1/forecast/schedule", client, body={"cron": "0 3 * * *", "horizon": 7})
    assert status == 200, schedule
    slot = datetime.fromisoformat(schedule["next_run_at"])
    later = slot + timedelta(minutes=1)
    assert scheduling.start_due_reforecasts(get_settings(), later) == 1
    assert scheduling.start_due_reforecasts(get_settings(), later) == 0
    status, listed, _ = pipe.api("GET", "/api/v1/forecast/runs", client, role="viewer")
    assert [r["trigger"] for r in listed["items"]] == ["schedule"]
    status, again, _ = pipe.api("GET", "/api/v1/forecast/schedule", client, role="viewer")
    assert datetime.fromisoformat(again["next_run_at"]) == slot + timedelta(days=1)


def test_given_a_run_without_progress_past_its_deadline_then_the_sweeper_repairs_it_then_fails_it(
    pipe: Pipeline,
) -> None:
    from skucast.services import batches as batch_service
    from skucast.services import scheduling
    from skucast.settings import get_settings

    client = pipe.tenant("cli_stall")
    run = start_run(pipe, client)
    pipe.receive("PlanQueue")  # the plan message is "lost": received, never processed
    now = datetime.now(UTC)
    assert scheduling.sweep_stalled_runs(get_settings(), now) == {"repaired": 0, "failed": 0}
    for hours in range(1, batch_service.MAX_REPAIRS + 1):
        outcome = scheduling.sweep_stalled_runs(get_settings(), now + timedelta(hours=hours))
        assert outcome == {"repaired": 1, "failed": 0}
    assert len(pipe.receive("PlanQueue")) == 1 + batch_service.MAX_REPAIRS  # the plan was sent again
    final = scheduling.sweep_stalled_runs(get_settings(), now + timedelta(hours=batch_service.MAX_REPAIRS + 1))
    assert final == {"repaired": 0, "failed": 1}
    assert read_run(pipe, client, run["run_id"])["status"] == "FAILED"


def test_given_a_batch_claimed_but_never_sent_then_the_sweeper_sends_it_and_the_run_completes(
    pipe: Pipeline,
) -> None:
    from forecast_worker.planner import handler as planner
    from skucast.services import scheduling
    from skucast.settings import get_settings

    client = pipe.tenant("cli_lost_batch")
    pipe.store(client, demand_mix(90))
    run = start_run(pipe, client)
    pipe.deliver("PlanQueue", planner, pipe.receive("PlanQueue", 1))
    lost = pipe.receive("ForecastQueue", 1)[0]  # a sender died after claiming: the message never arrives
    pipe.sqs.delete_message(QueueUrl=pipe.queue("ForecastQueue"), ReceiptHandle=lost["ReceiptHandle"])
    pipe.drain()
    assert read_run(pipe, client, run["run_id"])["status"] == "RUNNING"
    later = datetime.now(UTC) + timedelta(hours=1)
    assert scheduling.sweep_stalled_runs(get_settings(), later) == {"repaired": 1, "failed": 0}
    pipe.drain()
    done = read_run(pipe, client, run["run_id"])
    assert done["status"] == "SUCCEEDED"
    assert done["progress"] == {"skus_total": 90, "skus_done": 90, "skus_failed": 0}


def test_given_a_small_worker_pool_then_a_tenant_never_has_more_batches_queued_than_it_can_run(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forecast_worker.app import handler as worker
    from forecast_worker.planner import handler as planner
    from skucast.settings import get_settings

    monkeypatch.setenv("SKUCAST_WORKER_CONCURRENCY", "2")  # the template's WorkerConcurrency
    get_settings.cache_clear()
    client = pipe.tenant("cli_pool")  # standard tier: 16 batches in flight, more than the pool
    pipe.store(client, demand_mix(6 * batches.BATCH_SIZE, seed=11))
    run = start_run(pipe, client, {**RUN, "backtest_windows": 0, "method": "naive"})
    pipe.deliver("PlanQueue", planner, pipe.receive("PlanQueue", 1))
    queued = pipe.receive("ForecastQueue")
    assert len(queued) == 2  # one per worker, not the tier's 16
    pipe.deliver("ForecastQueue", worker, queued[:1])  # one batch settles: one more is released
    assert len(pipe.receive("ForecastQueue")) == 2
    pipe.drain()
    assert read_run(pipe, client, run["run_id"])["progress"]["skus_done"] == 6 * batches.BATCH_SIZE
