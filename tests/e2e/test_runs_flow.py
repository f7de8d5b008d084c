"""Forecast runs through the local stack: upload, run, results, and the failures the queue can throw."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from skucast.forecasting.engine import ForecastSpec, SeriesInput, forecast_batch
from skucast.repositories.keys import series_pk, sku_sk
from skucast.services.batches import BATCH_SIZE
from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant, finish, results, run_to_end, upload, wait

START = dt.date(2025, 1, 1)
DAYS = 120
RUN = {"horizon": 14, "frequency": "D", "levels": [80, 95], "backtest_windows": 1}


def demand(n: int, seed: int = 11) -> dict[str, np.ndarray]:
    """Seeded daily demand of three shapes: weekly-seasonal, intermittent, recently started."""
    rng = np.random.default_rng(seed)
    t = np.arange(DAYS)
    out = {}
    for i in range(n):
        if i % 3 == 0:
            v = rng.poisson(np.clip(15 + 6 * np.sin(2 * np.pi * t / 7) + 0.05 * t, 0, None)).astype(float)
        elif i % 3 == 1:
            v = rng.poisson(4, DAYS) * (rng.random(DAYS) < 0.25)
        else:
            v = rng.poisson(6, DAYS).astype(float)
            v[: DAYS - 20] = 0
        out[f"E2E-{i:05d}"] = v.astype(float)
    return out


def csv_bytes(series: dict[str, np.ndarray]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["sku", "date", "quantity"])
    for sku, values in series.items():
        for day, q in enumerate(values):
            writer.writerow([sku, (START + dt.timedelta(days=day)).isoformat(), f"{q:g}"])
    return buf.getvalue().encode()


@pytest.fixture(scope="module")
def tenant(stack: RunningStack) -> Iterator[Tenant]:
    with stack.http() as http:
        t = Tenant.sign_up(stack, tier="enterprise", http=http)
        report = upload(t, csv_bytes(demand(2000)))
        assert report["status"] == "SUCCEEDED" and report["skus_touched"] == 2000, report
        yield t


def test_given_2000_uploaded_skus_when_a_run_completes_then_every_forecast_equals_the_engines(
    tenant: Tenant,
) -> None:
    run = run_to_end(tenant, RUN)
    assert run["status"] == "SUCCEEDED", run
    assert run["progress"] == {"skus_total": 2000, "skus_done": 2000, "skus_failed": 0}
    assert sum(run["summary"]["by_class"].values()) == 2000
    got = {r["sku"]: r for r in results(tenant, run["run_id"])}
    assert len(got) == 2000
    spec = ForecastSpec(horizon=14, frequency="D", levels=(80, 95), method="auto", backtest_windows=1)
    series = demand(2000)
    expected = forecast_batch([SeriesInput(s, START, v) for s, v in series.items()], spec)
    for e in expected:
        r = got[e.sku]
        assert (r["method"], r["demand_class"]) == (e.method, e.demand_class), e.sku
        assert [p["date"] for p in r["forecast"]] == [p["date"] for p in e.forecast]
        for key in ("mean", "lo_80", "hi_80", "lo_95", "hi_95"):
            np.testing.assert_allclose([p[key] for p in r["forecast"]], [p[key] for p in e.forecast], rtol=1e-9)


def test_given_every_message_delivered_twice_then_results_and_progress_are_exact(
    stack: RunningStack, tenant: Tenant
) -> None:
    skus = sorted(demand(2000))[:240]
    httpx.post(f"{stack.control}/switches", json={"duplicate_deliveries": True}, timeout=10)
    try:
        run = run_to_end(tenant, {**RUN, "skus": skus})
    finally:
        httpx.post(f"{stack.control}/switches", json={"duplicate_deliveries": False}, timeout=10)
    assert run["status"] == "SUCCEEDED"
    assert run["progress"] == {"skus_total": 240, "skus_done": 240, "skus_failed": 0}
    assert sorted(r["sku"] for r in results(tenant, run["run_id"])) == skus


def test_given_a_worker_killed_mid_batch_then_the_run_still_completes_with_every_sku_once(
    stack: RunningStack, tenant: Tenant
) -> None:
    skus = sorted(demand(2000))[240:640]
    r = tenant.http.post("/api/v1/forecast/runs", json={**RUN, "skus": skus}, headers=tenant.headers)
    run_id = r.json()["run_id"]

    def working() -> bool:
        busy = httpx.get(f"{stack.control}/containers", timeout=10).json()["ForecastWorkerFunction"]
        run = tenant.http.get(f"/api/v1/forecast/runs/{run_id}", headers=tenant.headers).json()
        return bool(busy) and run["status"] == "RUNNING" and run["progress"]["skus_done"] < 400

    wait(working, 300, "the workers to be mid-run")
    killed = httpx.post(f"{stack.control}/functions/ForecastWorkerFunction/kill", timeout=10).json()["killed"]
    assert killed
    run = finish(tenant, run_id)
    assert run["status"] == "SUCCEEDED", run
    assert run["progress"] == {"skus_total": 400, "skus_done": 400, "skus_failed": 0}
    assert sorted(r["sku"] for r in results(tenant, run_id)) == skus


def test_given_a_poison_batch_then_it_is_dead_lettered_and_the_run_is_partial(
    stack: RunningStack, tenant: Tenant
) -> None:
    skus = sorted(demand(2000))[640:720]  # two batches
    poison = skus[3]
    table: Any = stack.aws_client("dynamodb")
    table.update_item(  # a series no reader can decode: its batch fails every retry
        TableName=stack.describe()["resources"]["Table"],
        Key={"pk": {"S": series_pk(tenant.client_id, poison)}, "sk": {"S": sku_sk(poison)}},
        UpdateExpression="SET series = :garbage",
        ExpressionAttributeValues={":garbage": {"B": b"not a series"}},
    )
    run = run_to_end(tenant, {**RUN, "skus": skus})
    assert run["status"] == "PARTIAL", run
    by_sku = {r["sku"]: r for r in results(tenant, run["run_id"])}
    failed = {s for s, r in by_sku.items() if r["error"]}
    assert poison in failed and len(failed) == BATCH_SIZE
    assert {by_sku[s]["error"]["code"] for s in failed} == {"batch_failed"}
    assert run["progress"] == {"skus_total": 80, "skus_done": 80 - len(failed), "skus_failed": len(failed)}
    assert all(by_sku[s]["forecast"] for s in set(skus) - failed)


def test_given_a_schedule_fired_twice_in_one_period_then_one_run(stack: RunningStack, tenant: Tenant) -> None:
    http = tenant.http
    body = {"cron": "0 3 * * *", "horizon": 7, "enabled": True}
    assert http.put("/api/v1/forecast/schedule", json=body, headers=tenant.headers).status_code == 200
    table: Any = stack.aws_client("dynamodb")
    slot = "2020-01-01T03:00:00Z"  # make this tenant's schedule due now
    table.update_item(
        TableName=stack.describe()["resources"]["Table"],
        Key={"pk": {"S": f"CLIENT#{tenant.client_id}"}, "sk": {"S": "SCHEDULE"}},
        UpdateExpression="SET next_run_at = :slot, gsi1sk = :gsi",
        ExpressionAttributeValues={":slot": {"S": slot}, ":gsi": {"S": f"{slot}#{tenant.client_id}"}},
    )
    before = {r["run_id"] for r in http.get("/api/v1/forecast/runs", headers=tenant.headers).json()["items"]}
    for _ in range(2):
        fired = httpx.post(f"{stack.control}/schedules/SchedulerFunction.Reforecast/fire", timeout=120)
        assert fired.status_code == 200, fired.text
    runs = http.get("/api/v1/forecast/runs", headers=tenant.headers).json()["items"]
    new = [r for r in runs if r["run_id"] not in before]
    assert [r["trigger"] for r in new] == ["schedule"]
    schedule = http.get("/api/v1/forecast/schedule", headers=tenant.headers).json()
    assert schedule["next_run_at"] > slot
    finish(tenant, new[0]["run_id"])


def test_given_a_run_cancelled_with_batches_in_flight_then_its_results_and_export_stay_as_at_the_cancel(
    stack: RunningStack, tenant: Tenant
) -> None:
    skus = sorted(demand(2000))[720:1120]  # 10 batches; the pool computes two at a time
    r = tenant.http.post("/api/v1/forecast/runs", json={**RUN, "skus": skus}, headers=tenant.headers)
    run_id = r.json()["run_id"]
    path = f"/api/v1/forecast/runs/{run_id}"

    def one_batch_done() -> bool:
        progress = tenant.http.get(path, headers=tenant.headers).json()["progress"]
        return progress["skus_done"] + progress["skus_failed"] >= BATCH_SIZE

    wait(one_batch_done, 300, "a first batch to settle")
    r = tenant.http.post(f"{path}/cancel", headers=tenant.headers)
    assert r.status_code == 202, r.text
    at_cancel = tenant.http.get(path, headers=tenant.headers).json()
    skus_at_cancel = sorted(r["sku"] for r in results(tenant, run_id))
    assert at_cancel["status"] == "CANCELLED" and 0 < len(skus_at_cancel) < len(skus)
    time.sleep(15)  # the batches that were computing at the cancel (2-3 s each) end meanwhile
    run = tenant.http.get(path, headers=tenant.headers).json()
    assert run == at_cancel
    later = sorted(r["sku"] for r in results(tenant, run_id))
    assert later == skus_at_cancel
    assert run["progress"]["skus_done"] + run["progress"]["skus_failed"] == len(later)
    link = tenant.http.post(f"{path}/export", json={"format": "csv"}, headers=tenant.headers)
    assert link.status_code == 200, link.text
    rows = list(csv.DictReader(io.StringIO(httpx.get(link.json()["url"], timeout=60).text)))
    column = "sku" if "sku" in rows[0] else "unique_id"
    assert sorted({row[column] for row in rows}) == skus_at_cancel


def test_given_cli_results_piped_into_head_then_it_ends_quietly(stack: RunningStack, tenant: Tenant) -> None:
    run = run_to_end(tenant, {**RUN, "skus": sorted(demand(2000))[1200:1400]})  # 2,800 rows: past a pipe's buffer
    key = tenant.create_api_key("viewer")["api_key"]
    command = [sys.executable, "-m", "skucast_client", "results", run["run_id"], "--api", stack.api, "--api-key", key]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKUCAST_")}
    cli = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert cli.stdout is not None and cli.stderr is not None
    head = [cli.stdout.readline() for _ in range(3)]  # `| head -n 3`, then the pipe closes
    cli.stdout.close()
    stderr = cli.stderr.read().decode()
    assert cli.wait(timeout=120) == 141, stderr
    assert head[0].split() and stderr == ""
