"""Alerts over real HTTP on the local stack, seen where a tenant's integration sees them: at
GET /alerts and on EventBridge, through a rule with an SQS target that the test creates on the
stack's AWS emulator.

A run that fails for real: its planner fails every invocation (the stack's fault switch), so the
plan message goes to PlanDLQ after its retries and the run never starts; the sweeper repairs it
(re-sends the plan) twice and then fails it. This stack runs with a 3-second progress timeout
(SKUCAST_RUN_PROGRESS_TIMEOUT_SECONDS) so that takes seconds, not 45 minutes.
(No input makes a run FAILED by itself: SKUs that fail - unknown, unstorable, dead-lettered
batches - make it PARTIAL; FAILED is a run that cannot be queued or stalls.)

The demand_shift flow (a level shift in uploaded actuals) belongs next to these tests: use
`alert_bus_queue`, `_events` and `_alerts` below.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import RunningStack, start_stack, stop_stack
from tests.e2e.routes import Tenant, store_sku, wait

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
