"""Alerts over real HTTP on the local stack, seen where a tenant's integration sees them: at
GET /alerts and on EventBridge, through a rule with an SQS target that the test creates on the
stack's AWS emulator.

A run that fails for real: its planner fails every invocation (the stack's fault switch), so the
plan message goes to PlanDLQ after its retries and the run never starts; the sweeper repairs it
(re-sends the plan) twice and then fails it. This stack runs with a 3-second progress timeout
(SKUCAST_RUN_PROGRESS_TIMEOUT_SECONDS) so that takes seconds, not 45 minutes.
(No input makes a run FAILED by itself: SKUs that fail - unknown, unstorable, dead-lettered
batches - make it PARTIAL; FAILED is a run that cannot be queued or stalls.)

A demand shift: a level shift in actuals uploaded as a file after a run, scored against the run
(services/scoring.after_scored), raises one demand_shift and one event; re-uploads raise nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from tests.e2e.conftest import RunningStack, start_stack, stop_stack
from tests.e2e.routes import Tenant, store_sku, upload, wait

F = "/api/v1/forecast"
PROGRESS_TIMEOUT = 3  # seconds


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(
        tmp_path_factory.mktemp("alerts-stack"), SKUCAST_RUN_PROGRESS_TIMEOUT_SECONDS=str(PROGRESS_TIMEOUT)
    )
    yield running
    stop_stack(running)


@pytest.fixture(scope="module")
def alert_bus_queue(stack: RunningStack) -> str:
    """An EventBridge rule on the alert bus for skucast.alert events, targeting a new SQS queue."""
    bus = stack.describe()["resources"]["AlertBus"]
    sqs: Any = stack.aws_client("sqs")
    events: Any = stack.aws_client("events")
    url = sqs.create_queue(QueueName=f"alerts-seen-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = f"alerts-to-sqs-{uuid.uuid4().hex[:8]}"
    pattern = {"source": ["skucast.alerts"], "detail-type": ["skucast.alert"]}
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    return str(url)


def _events(stack: RunningStack, url: str, client_id: str) -> list[dict[str, Any]]:
    """Every event the rule delivered so far for this tenant (they stay in the queue for later reads)."""
    sqs: Any = stack.aws_client("sqs")
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(5):  # the queue hands out at most 10 at a time; read until nothing new shows
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        fresh = {m["MessageId"]: json.loads(m["Body"]) for m in got if m["MessageId"] not in seen}
        if not fresh:
            break
        seen.update(fresh)
    return [e for e in seen.values() if e["detail"]["client_id"] == client_id]


def _alerts(tenant: Tenant, headers: dict[str, str] | None = None, **query: str) -> list[dict[str, Any]]:
    r = tenant.http.get(f"{F}/alerts", params=query, headers=headers or tenant.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _control(stack: RunningStack, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    r = httpx.post(f"{stack.control}{path}", json=body or {}, timeout=120)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _fail_a_run(stack: RunningStack, tenant: Tenant) -> str:
    """A run whose planner fails every time: the sweeper repairs it twice, then fails it."""
    sku = store_sku(tenant, f"SKU-{uuid.uuid4().hex[:6]}")
    _control(stack, "/switches", {"failing_functions": ["PlannerFunction"]})
    try:
        r = tenant.http.post(f"{F}/runs", json={"horizon": 7, "skus": [sku]}, headers=tenant.headers)
        assert r.status_code == 202, r.text
        run_id = str(r.json()["run_id"])

        def failed() -> bool:
            time.sleep(PROGRESS_TIMEOUT + 0.5)  # past the run's progress deadline
            _control(stack, "/schedules/SchedulerFunction.Sweep/fire")
            status = tenant.http.get(f"{F}/runs/{run_id}", headers=tenant.headers).json()["status"]
            return bool(status == "FAILED")

        wait(failed, 120, "the sweeper to fail the run")
    finally:
        _control(stack, "/switches", {"failing_functions": []})
    run = tenant.http.get(f"{F}/runs/{run_id}", headers=tenant.headers).json()
    assert run["error"]["code"] == "stalled", run
    return run_id


def test_given_a_run_that_fails_then_one_run_failed_alert_at_get_alerts_and_one_event(
    stack: RunningStack, alert_bus_queue: str
) -> None:
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        run_id = _fail_a_run(stack, tenant)

        [alert] = _alerts(tenant)
        assert (alert["kind"], alert["run_id"], alert["status"], alert["sku"]) == ("run_failed", run_id, "open", None)
        assert alert["detail"]["status"] == "FAILED" and alert["detail"]["error"]["code"] == "stalled"
        [event] = wait(lambda: _events(stack, alert_bus_queue, tenant.client_id), 30, "the alert's event")
        assert event["source"] == "skucast.alerts" and event["detail-type"] == "skucast.alert"
        assert event["detail"] == {"client_id": tenant.client_id, **alert}

        # The sweeper again (its outbox pass too), and the run's plan retried: nothing new.
        for _ in range(2):
            _control(stack, "/schedules/SchedulerFunction.Sweep/fire")
        assert _alerts(tenant) == [alert]
        assert len(_events(stack, alert_bus_queue, tenant.client_id)) == 1


def test_given_an_alert_then_acknowledging_answers_by_role_and_tenant_and_is_idempotent(
    stack: RunningStack, alert_bus_queue: str
) -> None:
    with stack.http() as http:
        tenant, other = Tenant.sign_up(stack, http=http), Tenant.sign_up(stack, http=http)
        run_id = _fail_a_run(stack, tenant)
        [alert] = _alerts(tenant)
        assert alert["run_id"] == run_id
        _, viewer = tenant.create_user("viewer")
        analyst_user, analyst = tenant.create_user("analyst")
        key = {"X-Api-Key": tenant.create_api_key("viewer")["api_key"]}
        path = f"{F}/alerts/{alert['alert_id']}/acknowledge"

        assert _alerts(tenant, viewer) == [alert] == _alerts(tenant, key)  # viewers and keys read them
        assert _alerts(other) == []  # another tenant sees none
        assert http.post(path, headers=viewer).status_code == 403
        assert http.post(path, headers=key).status_code == 403
        r = http.post(path, headers=other.headers)
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
        assert alert["alert_id"] not in r.text

        r = http.post(path, headers=analyst)
        assert r.status_code == 200, r.text
        acked = r.json()
        assert acked["status"] == "acknowledged" and acked["acknowledged_by"] == analyst_user["user_id"]
        assert {k: v for k, v in acked.items() if not k.startswith("acknowledged") and k != "status"} == {
            k: v for k, v in alert.items() if not k.startswith("acknowledged") and k != "status"
        }
        again = http.post(path, headers=tenant.headers)
        assert (again.status_code, again.json()) == (200, acked)  # idempotent: the first one stands
        assert _alerts(tenant, status="open") == []
        assert _alerts(tenant, status="acknowledged") == [acked]
        assert http.get(f"{F}/alerts", params={"status": "closed"}, headers=viewer).status_code == 422
        # Acknowledging publishes nothing: events are for new alerts.
        assert len(_events(stack, alert_bus_queue, tenant.client_id)) == 1


def test_given_alert_settings_over_http_then_defaults_admin_only_and_422_for_bad_values(stack: RunningStack) -> None:
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        _, analyst = tenant.create_user("analyst")
        path = f"{F}/alerts/settings"
        defaults = {"wape_threshold": 0.5, "min_points": 28, "shift_periods": 3}
        assert http.get(path, headers=analyst).json() == defaults
        assert http.put(path, json={"shift_periods": 4}, headers=analyst).status_code == 403
        r = http.put(path, json={"shift_periods": 4, "min_points": 14}, headers=tenant.headers)
        assert r.status_code == 200 and r.json() == {**defaults, "shift_periods": 4, "min_points": 14}
        r = http.put(path, json={"shift_periods": 0}, headers=tenant.headers)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "shift_periods"
        assert http.get(path, headers=analyst).json() == {**defaults, "shift_periods": 4, "min_points": 14}


# ---------------------------------------------------------------- demand_shift from uploaded actuals
SHIFT_START = dt.date(2024, 1, 1)  # a Monday, as ERPs date daily rows
SHIFT_HISTORY, SHIFT_HORIZON = 120, 14


def _demand_csv(series: dict[str, np.ndarray], start: dt.date) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["sku", "date", "quantity"])
    for sku, values in series.items():
        writer.writerows((sku, (start + dt.timedelta(days=d)).isoformat(), int(v)) for d, v in enumerate(values))
    return out.getvalue().encode("utf-8")


def test_given_a_level_shift_in_uploaded_actuals_then_one_demand_shift_alert_and_one_event_and_reuploads_add_none(
    stack: RunningStack, alert_bus_queue: str
) -> None:
    rng = np.random.default_rng(20)
    weekly = np.array([1.0, 1.1, 1.0, 0.9, 1.2, 0.6, 0.5])
    shifted, steady = 'Shifted "Ärmel" 1', ["Steady, one", "Steady ü two"]
    level = {shifted: 50.0, steady[0]: 40.0, steady[1]: 60.0}

    def draw(sku: str, days: int, first_day: int, factor: float = 1.0) -> np.ndarray:
        season = weekly[(first_day + np.arange(days)) % 7]
        return rng.poisson(level[sku] * factor * season)

    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        history = {sku: draw(sku, SHIFT_HISTORY, 0) for sku in level}
        assert upload(tenant, _demand_csv(history, SHIFT_START))["status"] == "SUCCEEDED"
        r = http.post(f"{F}/runs", json={"horizon": SHIFT_HORIZON}, headers=tenant.headers)
        assert r.status_code == 202, r.text
        run_id = str(r.json()["run_id"])
        run_url = f"{F}/runs/{run_id}"
        wait(lambda: http.get(run_url, headers=tenant.headers).json()["status"] == "SUCCEEDED", 300, "the run")

        # The actuals of the horizon: one SKU's demand jumps to 2.5 times its level, the others go on.
        first = SHIFT_START + dt.timedelta(days=SHIFT_HISTORY)
        actuals = {sku: draw(sku, SHIFT_HORIZON, SHIFT_HISTORY, 2.5 if sku == shifted else 1.0) for sku in level}
        data = _demand_csv(actuals, first)
        assert upload(tenant, data)["status"] == "SUCCEEDED"

        shifts = [a for a in _alerts(tenant) if a["kind"] == "demand_shift"]
        assert len(shifts) == 1, shifts
        [alert] = shifts
        assert (alert["sku"], alert["run_id"], alert["status"]) == (shifted, run_id, "open")
        detail = alert["detail"]
        assert detail["direction"] == "above" and detail["periods"] >= 3
        last = first + dt.timedelta(days=SHIFT_HORIZON - 1)
        assert first.isoformat() <= detail["start"] <= detail["end"] <= last.isoformat()
        assert all(p["actual"] > p["hi_95"] for p in detail["points"])
        result = http.get(f"{F}/runs/{run_id}/results/{shifted}", headers=tenant.headers).json()
        his = {p["date"]: p["hi_95"] for p in result["forecast"]}
        assert all(p["hi_95"] == his[p["date"]] for p in detail["points"])  # the run's own 95 % bounds

        def shift_events() -> list[dict[str, Any]]:
            seen = _events(stack, alert_bus_queue, tenant.client_id)
            return [e for e in seen if e["detail"]["kind"] == "demand_shift"]

        [event] = wait(shift_events, 30, "the demand_shift event")
        assert event["detail"] == {"client_id": tenant.client_id, **alert}

        # The same file again, and the same actuals by the JSON door: nothing new anywhere.
        before = _alerts(tenant)
        assert upload(tenant, data)["status"] == "SUCCEEDED"
        records = [
            {"sku": sku, "date": (first + dt.timedelta(days=d)).isoformat(), "quantity": int(v)}
            for sku, values in actuals.items()
            for d, v in enumerate(values)
        ]
        assert http.post(f"{F}/demand", json={"records": records}, headers=tenant.headers).status_code == 200
        assert _alerts(tenant) == before
        time.sleep(2)  # an event, had one been published, would be on the queue by now
        assert len(shift_events()) == 1
