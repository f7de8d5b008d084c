"""Alerts in-process (real handlers, moto): one alert per condition however many raise it at once,
its EventBridge event seen by a rule's SQS target, the outbox when publishing fails, run_failed
and schedule_missed raised where they happen, acknowledging, settings, roles and tenants."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from skucast.alerts import AlertSettings
from skucast.repositories import events
from skucast.scoring import ScoredPoint
from skucast.services import alerts, runs, scheduling, scoring
from skucast.settings import get_settings
from skucast_local.emulator import REGION, Provisioned
from tests.integration.pipeline import Pipeline, demand_mix, read_run, start_run

F = "/api/v1/forecast"


@pytest.fixture
def pipe(provisioned: Provisioned, lambda_context: Any) -> Pipeline:
    return Pipeline(provisioned, lambda_context)


def _subscribe(provisioned: Provisioned) -> str:
    """An EventBridge rule on the alert bus with an SQS target, as a tenant's integration would have."""
    bus = provisioned.resources["AlertBus"].ref
    sqs, eb = boto3.client("sqs", region_name=REGION), boto3.client("events", region_name=REGION)
    url = sqs.create_queue(QueueName="alerts-seen")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["skucast.alerts"], "detail-type": ["skucast.alert"]}
    eb.put_rule(Name="alerts-to-sqs", EventBusName=bus, EventPattern=json.dumps(pattern))
    eb.put_targets(Rule="alerts-to-sqs", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return str(url)


def _seen(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def _alerts(pipe: Pipeline, client: str, **query: str) -> list[dict[str, Any]]:
    status, page, _ = pipe.api("GET", f"{F}/alerts", client, role="viewer", query=query or None)
    assert status == 200, page
    return list(page["items"])


def _stall_and_fail(pipe: Pipeline, client: str) -> str:
    """A run whose plan is lost, swept past every repair until the sweeper fails it."""
    from skucast.services import batches

    run = start_run(pipe, client)
    pipe.receive("PlanQueue")  # the plan message is lost
    now = datetime.now(UTC)
    for hours in range(1, batches.MAX_REPAIRS + 2):
        scheduling.sweep_stalled_runs(get_settings(), now + timedelta(hours=hours))
    assert read_run(pipe, client, run["run_id"])["status"] == "FAILED"
    return str(run["run_id"])


def test_given_a_run_failed_by_the_sweeper_then_one_run_failed_alert_and_one_event(
    pipe: Pipeline, provisioned: Provisioned
) -> None:
    seen = _subscribe(provisioned)
    client = pipe.tenant("cli_failing")
    run_id = _stall_and_fail(pipe, client)
    # More sweeps, and failing it again directly (a redelivery, another sweeper): nothing new.
    scheduling.sweep_stalled_runs(get_settings(), datetime.now(UTC) + timedelta(hours=9))
    assert not runs.fail_run(get_settings(), client, run_id, "stalled", "again")

    [alert] = _alerts(pipe, client)
    assert alert["kind"] == "run_failed" and alert["run_id"] == run_id and alert["status"] == "open"
    assert alert["detail"] == {
        "status": "FAILED",
        "error": {"code": "stalled", "message": alert["detail"]["error"]["message"]},
    }
    [event] = _seen(seen)
    assert event["source"] == "skucast.alerts" and event["detail-type"] == "skucast.alert"
    assert event["detail"] == {"client_id": client, **alert}
    assert _alerts(pipe, pipe.tenant("cli_other")) == []  # another tenant sees none of it


def test_given_many_failing_one_run_at_once_then_exactly_one_alert(pipe: Pipeline, provisioned: Provisioned) -> None:
    seen = _subscribe(provisioned)
    client = pipe.tenant("cli_race")
    run_id = start_run(pipe, client)["run_id"]
    outcomes: list[bool] = []
    barrier = threading.Barrier(6)

    def fail() -> None:
        barrier.wait()
        outcomes.append(runs.fail_run(get_settings(), client, run_id, "stalled", "stopped"))

    threads = [threading.Thread(target=fail) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == [False] * 5 + [True]
    assert [a["kind"] for a in _alerts(pipe, client)] == ["run_failed"]
    assert len(_seen(seen)) == 1


def test_given_a_run_whose_alert_was_raised_already_when_it_fails_then_it_fails_without_a_second(
    pipe: Pipeline,
) -> None:
    client = pipe.tenant("cli_prealerted")
    run_id = start_run(pipe, client)["run_id"]
    assert alerts.raise_alert(get_settings(), client, "run_failed", run_id=run_id, detail={"early": True})
    assert runs.fail_run(get_settings(), client, run_id, "stalled", "stopped")
    assert read_run(pipe, client, run_id)["status"] == "FAILED"
    assert [a["detail"] for a in _alerts(pipe, client)] == [{"early": True}]


def test_given_concurrent_raises_of_one_condition_then_one_alert(pipe: Pipeline, provisioned: Provisioned) -> None:
    seen = _subscribe(provisioned)
    client = pipe.tenant("cli_shift")
    raised: list[Any] = []
    barrier = threading.Barrier(8)

    def raise_it() -> None:
        barrier.wait()
        detail = {"direction": "above", "periods": 3, "start": "2024-03-01", "end": "2024-03-03"}
        settings = get_settings()
        kwargs = {"sku": "A#1", "run_id": "run_x", "since": "2024-03-01", "until": "2024-03-03"}
        raised.append(alerts.raise_alert(settings, client, "demand_shift", detail=detail, **kwargs))

    threads = [threading.Thread(target=raise_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in raised) == 1
    [alert] = _alerts(pipe, client)
    assert (alert["kind"], alert["sku"]) == ("demand_shift", "A#1")
    assert [e["detail"]["alert_id"] for e in _seen(seen)] == [alert["alert_id"]]


def test_given_an_acknowledged_condition_then_the_same_evidence_raises_nothing_and_new_evidence_does(
    pipe: Pipeline,
) -> None:
    client = pipe.tenant("cli_rearm")
    settings = get_settings()

    def shift(since: str, until: str) -> Any:
        return alerts.raise_alert(
            settings, client, "demand_shift", sku="A", detail={"start": since}, since=since, until=until
        )

    first = shift("2024-03-01", "2024-03-05")
    assert first is not None
    assert shift("2024-03-01", "2024-03-09") is None  # open: the same condition does not alert twice
    status, acked, _ = pipe.api("POST", f"{F}/alerts/{first.alert_id}/acknowledge", client, role="analyst")
    assert status == 200 and acked["status"] == "acknowledged" and acked["acknowledged_by"] == "usr_test"
    assert shift("2024-03-01", "2024-03-09") is None  # the same shift again (a duplicate upload)
    assert shift("2024-03-05", "2024-03-09") is None  # evidence the acknowledged alert already covered
    again = shift("2024-03-20", "2024-03-23")  # a new shift after it
    assert again is not None and again.alert_id != first.alert_id
    assert [a["status"] for a in _alerts(pipe, client)] == ["open", "acknowledged"]
    # A one-shot condition never alerts again, even once acknowledged.
    failed = alerts.raise_alert(settings, client, "run_failed", run_id="run_1", detail={})
    assert failed is not None
    pipe.api("POST", f"{F}/alerts/{failed.alert_id}/acknowledge", client, role="analyst")
    assert alerts.raise_alert(settings, client, "run_failed", run_id="run_1", detail={}) is None


def test_given_acknowledging_then_roles_tenants_and_repeats_answer_as_documented(pipe: Pipeline) -> None:
    client, other = pipe.tenant("cli_ack"), pipe.tenant("cli_ack_other")
    alert = alerts.raise_alert(get_settings(), client, "run_failed", run_id="run_2", detail={})
    assert alert is not None
    path = f"{F}/alerts/{alert.alert_id}/acknowledge"
    assert pipe.api("POST", path, client, role="viewer")[0] == 403
    assert pipe.api("POST", path, other, role="admin")[0] == 404
    assert pipe.api("POST", f"{F}/alerts/alert_{'0' * 20}/acknowledge", client, role="analyst")[0] == 404
    assert pipe.api("POST", f"{F}/alerts/not-an-id/acknowledge", client, role="analyst")[0] == 404
    status, first, _ = pipe.api("POST", path, client, role="analyst")
    assert status == 200 and first["status"] == "acknowledged" and first["acknowledged_at"]
    status, second, _ = pipe.api("POST", path, client, role="admin")
    assert (status, second) == (200, first)  # idempotent: the first acknowledgement stands
    assert _alerts(pipe, client, status="open") == []
    assert [a["alert_id"] for a in _alerts(pipe, client, status="acknowledged")] == [alert.alert_id]
    assert pipe.api("GET", f"{F}/alerts", client, role="viewer", query={"status": "closed"})[0] == 422


def test_given_many_alerts_then_pages_newest_first_and_the_status_filter_pages_too(pipe: Pipeline) -> None:
    client = pipe.tenant("cli_pages")
    made = [alerts.raise_alert(get_settings(), client, "run_failed", run_id=f"run_{i}", detail={}) for i in range(7)]
    ids = [a.alert_id for a in made if a is not None][::-1]
    for alert_id in ids[1::2]:
        pipe.api("POST", f"{F}/alerts/{alert_id}/acknowledge", client, role="analyst")

    def every(**query: str) -> list[str]:
        out, cursor = [], None
        while True:
            page = _alerts_page(pipe, client, {"limit": "2", **query, **({"cursor": cursor} if cursor else {})})
            out += [a["alert_id"] for a in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                return out

    assert every() == ids
    assert every(status="open") == ids[0::2]
    assert every(status="acknowledged") == ids[1::2]
    status, problem, _ = pipe.api("GET", f"{F}/alerts", client, role="viewer", query={"cursor": "bogus"})
    assert status == 400, problem


def _alerts_page(pipe: Pipeline, client: str, query: dict[str, str]) -> dict[str, Any]:
    status, page, _ = pipe.api("GET", f"{F}/alerts", client, role="viewer", query=query)
    assert status == 200, page
    return dict(page)


def test_given_eventbridge_failing_then_the_alert_waits_on_the_outbox_and_the_sweep_publishes_it_once(
    pipe: Pipeline, provisioned: Provisioned, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _subscribe(provisioned)
    client = pipe.tenant("cli_outbox")
    real = events.publish_checked

    def refused(*args: Any, **kwargs: Any) -> None:
        raise events.NotPublished("InternalFailure: try again")

    monkeypatch.setattr(events, "publish_checked", refused)
    alert = alerts.raise_alert(get_settings(), client, "run_failed", run_id="run_3", detail={})
    assert alert is not None and _seen(seen) == []
    assert [a["alert_id"] for a in _alerts(pipe, client)] == [alert.alert_id]  # stored all the same
    monkeypatch.setattr(events, "publish_checked", real)

    now = datetime.now(UTC)
    assert alerts.publish_pending(get_settings(), now) == 0  # within the grace: its raiser may still send it
    assert scheduling.sweep(get_settings(), now + timedelta(minutes=10))["alerts_published"] == 1
    assert scheduling.sweep(get_settings(), now + timedelta(minutes=20))["alerts_published"] == 0
    assert [e["detail"]["alert_id"] for e in _seen(seen)] == [alert.alert_id]


def test_given_a_schedule_whose_slots_passed_unfired_then_one_schedule_missed_alert(pipe: Pipeline) -> None:
    client = pipe.tenant("cli_sched")
    pipe.store(client, demand_mix(3))
    status, schedule, _ = pipe.api("PUT", f"{F}/schedule", client, body={"cron": "0 3 * * *", "horizon": 7})
    assert status == 200, schedule
    slot = datetime.fromisoformat(schedule["next_run_at"])
    # The scheduler did not fire for three days: the slot runs late, the two after it never will.
    late = slot + timedelta(days=2, hours=1)
    assert scheduling.start_due_reforecasts(get_settings(), late) == 1
    assert scheduling.start_due_reforecasts(get_settings(), late) == 0
    [alert] = _alerts(pipe, client)
    assert alert["kind"] == "schedule_missed"
    assert alert["detail"]["reason"] == "not_fired" and alert["detail"]["slots_missed"] == 2
    assert alert["detail"]["slot"] == (slot + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # On time, the next day: no alert.
    assert scheduling.start_due_reforecasts(get_settings(), slot + timedelta(days=3, minutes=5)) == 1
    assert len(_alerts(pipe, client)) == 1


def test_given_a_scheduled_run_refused_by_the_tier_then_schedule_missed_names_the_reason(pipe: Pipeline) -> None:
    client = pipe.tenant("cli_sched_full", tier="free")
    pipe.store(client, demand_mix(3))
    start_run(pipe, client)  # the free tier's one active run is taken
    status, schedule, _ = pipe.api("PUT", f"{F}/schedule", client, body={"cron": "0 3 * * *", "horizon": 7})
    assert status == 200, schedule
    slot = datetime.fromisoformat(schedule["next_run_at"])
    assert scheduling.start_due_reforecasts(get_settings(), slot + timedelta(minutes=1)) == 0
    [alert] = _alerts(pipe, client)
    assert alert["kind"] == "schedule_missed" and alert["detail"]["reason"] == "refused"
    assert alert["detail"]["slot"] == schedule["next_run_at"] and "at a time" in alert["detail"]["message"]


def test_given_alert_settings_then_defaults_validated_ranges_and_roles(pipe: Pipeline) -> None:
    client = pipe.tenant("cli_settings")
    path = f"{F}/alerts/settings"
    status, defaults, _ = pipe.api("GET", path, client, role="viewer")
    assert (status, defaults) == (200, {"wape_threshold": 0.5, "min_points": 28, "shift_periods": 3})
    status, saved, _ = pipe.api("PUT", path, client, role="admin", body={"wape_threshold": 0.3, "shift_periods": 5})
    assert (status, saved) == (200, {"wape_threshold": 0.3, "min_points": 28, "shift_periods": 5})
    assert pipe.api("GET", path, client, role="viewer")[1] == saved
    assert pipe.api("PUT", path, client, role="analyst", body={})[0] == 403
    for bad in ({"wape_threshold": 0}, {"wape_threshold": 11}, {"min_points": 0}, {"shift_periods": 1},
                {"shift_periods": 400}, {"shift_periods": "x"}, {"client_id": client}):  # fmt: skip
        status, problem, _ = pipe.api("PUT", path, client, role="admin", body=bad)
        assert status == 422, (bad, problem)
    status, reset, _ = pipe.api("PUT", path, client, role="admin", body={})  # PUT replaces: defaults again
    assert reset == defaults
    assert pipe.api("GET", path, pipe.tenant("cli_settings_other"), role="viewer")[1] == defaults


# ---------------------------------------------------------------- raised by the scoring of actuals
def _scored(day: int, actual: float, mean: float, naive: float, half95: float = 5.0) -> ScoredPoint:
    date = (datetime(2024, 3, 1) + timedelta(days=day)).date().isoformat()
    return ScoredPoint(date, actual, mean, mean, naive, ((80, mean - 3, mean + 3), (95, mean - half95, mean + half95)))


def test_given_scored_points_then_a_skus_alerts_follow_the_rules_and_the_same_evidence_raises_nothing_new(
    pipe: Pipeline, provisioned: Provisioned
) -> None:
    client, settings = pipe.tenant("scored"), get_settings()
    thresholds = AlertSettings(wape_threshold=0.5, min_points=7, shift_periods=3)
    # Two in-interval days, then four days far above the 95 % band: a demand shift of four periods.
    shift = [_scored(d, a, 10.0, 10.0) for d, a in enumerate([9.0, 11.0, 40.0, 41.0, 39.0, 42.0])]
    # WAPE 0.9 over 7 points, worse than the benchmark's 0.1: accuracy degraded.
    worse = [_scored(d, 10.0, 1.0, 9.0, half95=100.0) for d in range(7)]
    # The same WAPE, but the benchmark did as badly: sparse-like demand, not degraded.
    as_bad = [_scored(d, 10.0, 1.0, 1.0, half95=100.0) for d in range(7)]
    for _ in range(2):  # the second pass is the same evidence again
        scoring.after_scored(settings, client, "run_1", "SHIFT ü", list(reversed(shift)), 1.0, thresholds)
        scoring.after_scored(settings, client, "run_1", "WORSE", worse, 1.0, thresholds)
        scoring.after_scored(settings, client, "run_1", "AS BAD", as_bad, 1.0, thresholds)

    got = {(a["kind"], a["sku"]): a for a in _alerts(pipe, client)}
    assert set(got) == {("demand_shift", "SHIFT ü"), ("accuracy_degraded", "WORSE")}
    detail = got[("demand_shift", "SHIFT ü")]["detail"]
    assert (detail["direction"], detail["periods"], detail["start"], detail["end"]) == (
        "above",
        4,
        "2024-03-03",
        "2024-03-06",
    )
    degraded = got[("accuracy_degraded", "WORSE")]["detail"]
    assert degraded["wape"] == pytest.approx(0.9) and degraded["naive_wape"] == pytest.approx(0.1)
    assert degraded["points"] == 7 and degraded["scope"] == "sku"
