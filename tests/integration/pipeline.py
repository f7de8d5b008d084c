"""Drive the whole run pipeline in-process: API events in, SQS messages pumped to the real
handlers with the event shapes the local stack (and AWS) deliver."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import numpy as np
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from skucast.ingestion.series import DemandSeries
from skucast.repositories import catalog, demand
from skucast.repositories import demand as demand_repo
from skucast.repositories.keys import CLIENT_PROFILE_SK, tenant_pk
from skucast_local.emulator import REGION, Provisioned
from skucast_local.gateway import match_route
from skucast_local.pumps import sqs_record
from skucast_local.template import Route, load
from tests.conftest import ROOT, load_event


@functools.cache
def _routes() -> list[Route]:
    return list(load(ROOT / "template.yaml").routes)


class Pipeline:
    def __init__(self, provisioned: Provisioned, context: Any) -> None:
        self.p = provisioned
        self.context = context
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.table = provisioned.resources["Table"].ref

    # ------------------------------------------------------------------ tenants and data
    def tenant(self, client_id: str, tier: str = "standard") -> str:
        boto3.resource("dynamodb", region_name=REGION).Table(self.table).put_item(
            Item={"pk": tenant_pk(client_id), "sk": CLIENT_PROFILE_SK, "client_id": client_id, "tier": tier}
        )
        return client_id

    def store(self, client_id: str, series: dict[str, np.ndarray], start: dt.date = dt.date(2024, 1, 1)) -> None:
        stored = {sku: DemandSeries(start=start, values=v) for sku, v in series.items()}
        demand.put_series(self.table, client_id, stored, "upl_test")
        catalog.merge_entries(self.table, client_id, [{"sku": sku, "demand_class": "unknown"} for sku in series], None)

    # ------------------------------------------------------------------ the API
    def api(
        self,
        method: str,
        path: str,
        client_id: str,
        role: str = "admin",
        body: Any = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, Any]]:
        from forecast_api.app import handler

        event = load_event("api_health.json")
        # The route and its pathParameters as API Gateway (and the local gateway) find them:
        # `path` as sent, percent-encoded; the parameters decoded.
        found = match_route(_routes(), method, path.split("?")[0])
        resource, params = (found[0].path, found[1]) if found else (path, {})
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        event.update(
            httpMethod=method,
            path=path,
            resource=resource,
            pathParameters=params or None,
            body=json.dumps(body) if body is not None else None,
            headers=all_headers,
            multiValueHeaders={k: [v] for k, v in all_headers.items()},
            queryStringParameters=query,
            multiValueQueryStringParameters={k: [v] for k, v in (query or {}).items()} or None,
        )
        event["requestContext"]["authorizer"] = {
            "principalId": "u",
            "client_id": client_id,
            "role": role,
            "subject": "usr_test",
            "kind": "user",
        }
        response = handler(event, self.context)
        payload = json.loads(response["body"]) if response.get("body") else None
        return response["statusCode"], payload, response

    # ------------------------------------------------------------------ the file door
    def put_file(self, client_id: str, content: bytes, **body: Any) -> dict[str, Any]:
        """The upload created with `body` (analyst) and its object put in the bucket: the ticket."""
        status, ticket, _ = self.api("POST", "/api/v1/forecast/uploads", client_id, role="analyst", body=body)
        assert status == 201, ticket
        bucket = self.p.resources["DataBucket"].ref
        boto3.client("s3", region_name=REGION).put_object(Bucket=bucket, Key=ticket["fields"]["key"], Body=content)
        return dict(ticket)

    def ingest(self, key: str) -> int:
        """The ingest function handling the object's S3 event: how many uploads it ingested."""
        from ingest.app import handler

        event = load_event("s3_upload_created.json")
        record = event["Records"][0]["s3"]
        record["bucket"]["name"], record["object"]["key"] = self.p.resources["DataBucket"].ref, key
        return int(handler(event, self.context)["ingested"])

    def upload_file(self, client_id: str, content: bytes, **body: Any) -> dict[str, Any]:
        """A file through the file door as the ingest function meets it; the upload read back."""
        ticket = self.put_file(client_id, content, **body)
        assert self.ingest(ticket["fields"]["key"]) == 1
        status, upload, _ = self.api("GET", f"/api/v1/forecast/uploads/{ticket['upload_id']}", client_id, role="viewer")
        assert status == 200
        return dict(upload)

    # ------------------------------------------------------------------ the queues
    def queue(self, logical: str) -> str:
        return self.p.resources[logical].ref

    def receive(self, logical: str, max_messages: int = 10) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.queue(logical),
            MaxNumberOfMessages=max_messages,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=0,
        ).get("Messages", [])

    def deliver(self, logical: str, handler: Callable[..., Any], messages: list[dict[str, Any]]) -> set[str]:
        """Invoke `handler` with these messages as one SQS batch; delete the ones that succeeded."""
        arn = self.p.resources[logical].attrs["Arn"]
        result = handler({"Records": [sqs_record(m, arn) for m in messages]}, self.context)
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        for m in messages:
            if m["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue(logical), ReceiptHandle=m["ReceiptHandle"])
        return failed

    def drain(self, duplicate: bool = False, max_rounds: int = 500) -> int:
        """Pump the plan, training (and its dead letters) and forecast queues until all are empty;
        returns deliveries made."""
        from forecast_worker.app import handler as worker
        from forecast_worker.planner import handler as planner
        from forecast_worker.train_dead_letters import handler as train_dead_letters
        from forecast_worker.trainer import handler as trainer

        deliveries = 0
        for _ in range(max_rounds):
            plans = self.receive("PlanQueue", 1)
            if plans:
                self.deliver("PlanQueue", planner, plans)
                deliveries += 1
                continue
            for queue, handler in (("TrainQueue", trainer), ("TrainDLQ", train_dead_letters)):
                shards = self.receive(queue, 1)
                if shards:
                    try:
                        if duplicate:
                            self.deliver(queue, handler, shards)
                        self.deliver(queue, handler, shards)
                    except BatchProcessingError:
                        pass  # the invocation failed: the message stays, SQS redrives it after 3 receives
                    deliveries += 1
                    break
            else:
                shards = []
            if shards:
                continue
            batch = self.receive("ForecastQueue", 4)
            if not batch:
                return deliveries
            if duplicate:
                self.deliver("ForecastQueue", worker, batch)  # the same messages, twice
            self.deliver("ForecastQueue", worker, batch)
            deliveries += 1
        raise AssertionError("queues did not drain")


# ---------------------------------------------------------------- runs over the API, for tests
RUN = {"horizon": 14, "frequency": "D", "levels": [80, 95], "backtest_windows": 1}


def demand_mix(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        kind = i % 3
        if kind == 0:  # smooth with weekly season
            v = 20 + 5 * np.sin(np.arange(200) * 2 * np.pi / 7) + rng.normal(0, 2, 200)
        elif kind == 1:  # intermittent
            v = rng.poisson(3, 200) * (rng.random(200) < 0.3)
        else:  # short history
            v = rng.poisson(5, 200).astype(float)
            v[:180] = 0
        out[f"SKU-{i:04d}"] = np.clip(v, 0, None).astype(float)
    return out


def start_run(pipe: Pipeline, client: str, body: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    status, run, _ = pipe.api("POST", "/api/v1/forecast/runs", client, body=body or RUN, **kw)
    assert status == 202, run
    return run


def read_run(pipe: Pipeline, client: str, run_id: str) -> dict[str, Any]:
    status, run, _ = pipe.api("GET", f"/api/v1/forecast/runs/{run_id}", client, role="viewer")
    assert status == 200, run
    return run


def read_pages(pipe: Pipeline, client: str, path: str, **query: str) -> list[dict[str, Any]]:
    """Every item of a paged listing, as a viewer following next_cursor; small pages (`limit` 7
    unless `query` says) so that a test's few items still take several."""
    items, cursor = [], None
    while True:
        q = {"limit": "7", **query, **({"cursor": cursor} if cursor else {})}
        status, page, _ = pipe.api("GET", path, client, role="viewer", query=q)
        assert status == 200, page
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def read_results(pipe: Pipeline, client: str, run_id: str, **query: str) -> list[dict[str, Any]]:
    return read_pages(pipe, client, f"/api/v1/forecast/runs/{run_id}/results", **query)


# ---------------------------------------------------------------- faults
@contextmanager
def dies_on_write(monkeypatch: pytest.MonkeyPatch, n: int) -> Iterator[dict[str, int]]:
    """The invocation inside dies at its n-th demand-write transaction (the ones before went in)."""
    real = demand_repo.dynamo.transact
    calls = {"n": 0}

    def write(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == n:
            raise RuntimeError("the function died")
        real(*args, **kwargs)

    monkeypatch.setattr(demand_repo.dynamo, "transact", write)
    try:
        with pytest.raises(RuntimeError):
            yield calls
    finally:
        monkeypatch.setattr(demand_repo.dynamo, "transact", real)
