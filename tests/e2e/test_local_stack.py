"""The local stack over real HTTP: it serves template.yaml, all of it and nothing else."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import yaml

from tests.conftest import ROOT
from tests.e2e.conftest import RunningStack
from tests.e2e.routes import wait

# An independent reading of template.yaml (plain YAML, CloudFormation tags kept as text), so the
# parity check does not trust the local stack's own template reader.


class _Loose(yaml.SafeLoader):
    pass


_Loose.add_multi_constructor("!", lambda loader, suffix, node: f"!{suffix} {getattr(node, 'value', '')}")


def _template_events() -> list[tuple[str, str, dict[str, Any]]]:
    raw = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loose)
    out = []
    for name, res in raw["Resources"].items():
        if res["Type"] == "AWS::Serverless::Function":
            for ev_name, ev in (res["Properties"].get("Events") or {}).items():
                out.append((name, ev["Type"], {"event": ev_name, **ev["Properties"]}))
    return out


def test_given_the_stack_when_asking_health_then_ok(stack: RunningStack) -> None:
    with stack.http() as http:
        r = http.get("/api/monitoring/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_given_the_operator_key_when_asking_ready_then_every_dependency_is_ok(stack: RunningStack) -> None:
    with stack.http() as http:
        assert http.get("/api/monitoring/ready").status_code == 401
        r = http.get("/api/monitoring/ready", headers={"X-Service-Key": stack.service_key})
    assert r.status_code == 200
    assert r.json()["checks"] == {"dynamodb": "ok", "sqs": "ok", "s3": "ok"}


def test_parity_every_template_route_is_served_and_nothing_else(stack: RunningStack) -> None:
    routes = {(p["Method"].upper(), p["Path"]) for _, kind, p in _template_events() if kind == "Api"}
    assert routes, "the template declares API routes"
    assert set(stack.describe()["routes"]) == {f"{m} {p}" for m, p in routes}
    with stack.http() as http:
        for method, path in sorted(routes):
            concrete = re.sub(r"\{[^}]+\}", "x1", path)
            r = http.request(method, concrete)
            # Served: whatever the route answers, it is not the gateway's "no such route".
            assert r.headers.get("x-amzn-ErrorType") != "MISSING_AUTHENTICATION_TOKEN", (method, path)
        served_paths = {p for _, p in routes}
        # A path it does not serve, whatever the method (a path it serves answers the methods it
        # lacks with 405: test_method_not_allowed.py).
        for method, path in [
            ("POST", "/"),  # GET / is the web console (tests/unit/local/test_console_files.py)
            ("GET", "/api"),
            ("POST", "/api/monitoring/health/extra"),
            ("DELETE", "/api/monitoring"),
            ("GET", "/api/v2/anything"),
            ("GET", "/api/monitoring/health/extra"),
        ]:
            if (method, path) in routes:
                continue
            r = http.request(method, path)
            assert r.status_code == 404, (method, path)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.headers.get("x-amzn-ErrorType") == "MISSING_AUTHENTICATION_TOKEN"
        assert served_paths
        # Outside /api a GET is the console's (a file of console/dist, else index.html), never a route.
        console = http.get("/skus/x1")
        assert console.headers.get("x-amzn-ErrorType") is None
        assert console.headers["content-type"].startswith("text/html")


def test_parity_queue_subscriptions_notifications_and_schedules(stack: RunningStack) -> None:
    events = _template_events()
    described = stack.describe()
    sqs = {f"{p['Queue'].split()[1].split('.')[0]} -> {fn}" for fn, kind, p in events if kind == "SQS"}
    assert set(described["sqs"]) == sqs
    s3 = {fn for fn, kind, _ in events if kind == "S3"}
    assert {line.rsplit(" -> ", 1)[1] for line in described["s3"]} == s3
    schedules = {f"{fn}.{p['event']} {p['Schedule']}" for fn, kind, p in events if kind == "Schedule"}
    assert set(described["schedules"]) == schedules
    for line in described["schedules"]:
        name = line.split()[0]
        r = httpx.post(f"{stack.control}/schedules/{name}/fire", timeout=60)
        assert r.status_code == 200 and r.json()["ok"], r.text
    assert httpx.post(f"{stack.control}/schedules/Nope.Nothing/fire", timeout=10).status_code == 404


def test_given_objects_under_and_outside_the_prefix_then_only_uploads_notify(stack: RunningStack) -> None:
    s3: Any = stack.aws_client("s3")
    bucket = stack.describe()["resources"]["DataBucket"]
    before = stack.stats().get("s3.IngestFunction.delivered", 0)
    s3.put_object(Bucket=bucket, Key="exports/not-an-upload.csv", Body=b"x")
    s3.put_object(Bucket=bucket, Key="uploads/c-none/u-none", Body=b"sku,date,quantity\n")
    wait(lambda: stack.stats().get("s3.IngestFunction.delivered", 0) >= before + 1, 60, "the S3 event")
    time.sleep(2)
    assert stack.stats().get("s3.IngestFunction.delivered", 0) == before + 1


def test_given_a_poison_message_when_retried_then_it_reaches_the_dlq_and_the_messages_beside_it_succeed(
    stack: RunningStack,
) -> None:
    sqs: Any = stack.aws_client("sqs")
    resources = stack.describe()["resources"]
    queue, parked = resources["ForecastQueue"], resources["ForecastParkedQueue"]
    good = [json.dumps({"client_id": "c-ghost", "run_id": f"r-{i}", "batch_id": "b-1"}) for i in range(2)]
    before = stack.stats()
    sqs.send_message_batch(
        QueueUrl=queue,
        Entries=[
            {"Id": "g0", "MessageBody": good[0]},
            {"Id": "p", "MessageBody": "{poison"},
            {"Id": "g1", "MessageBody": good[1]},
        ],
    )

    def parked_messages() -> list[dict[str, Any]]:
        return sqs.receive_message(QueueUrl=parked, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])

    # ForecastQueue -> (maxReceiveCount) -> ForecastDLQ, whose DeadLetterFunction cannot read it
    # either and parks it in ForecastParkedQueue, kept for a person.
    found = wait(parked_messages, 120, "the parked message")
    assert [m["Body"] for m in found] == ["{poison"]
    after = stack.stats()

    def delta(key: str) -> int:
        return after.get(key, 0) - before.get(key, 0)

    max_receive = 3  # the RedrivePolicy of ForecastQueue in template.yaml
    assert delta("sqs.ForecastQueue.failed") == max_receive
    assert delta("sqs.ForecastQueue.delivered") == max_receive + len(good)  # good ones once, poison 3x
    assert delta("sqs.ForecastDLQ.delivered") == 1  # it reached the DLQ once, and was parked from there
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
