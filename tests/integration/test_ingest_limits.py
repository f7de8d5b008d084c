"""Ingestion at its limits (issue #17 item 8), in-process against moto through the real handlers:
a file with more SKUs than one upload may store is refused before anything is stored, and an
upload that ends REJECTED after part of its merge went in says exactly which SKUs are stored."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from skucast.repositories import demand as demand_repo
from skucast.repositories import uploads as uploads_repo
from skucast.repositories.keys import catalog_pk
from skucast.settings import get_settings
from skucast_local.emulator import REGION, Provisioned
from tests.conftest import load_event
from tests.integration.pipeline import Pipeline, dies_on_write

F = "/api/v1/forecast"


@pytest.fixture
def pipe(provisioned: Provisioned, lambda_context: Any) -> Pipeline:
    return Pipeline(provisioned, lambda_context)


def _csv(skus: list[str], date: str = "2024-06-03") -> bytes:
    return ("sku,date,quantity\n" + "".join(f"{s},{date},{i + 1}\n" for i, s in enumerate(skus))).encode()


def _create(pipe: Pipeline, client: str) -> dict[str, Any]:
    status, ticket, _ = pipe.api("POST", f"{F}/uploads", client, role="analyst", body={"filename": "demand.csv"})
    assert status == 201, ticket
    bucket = pipe.p.resources["DataBucket"].ref
    return dict(ticket, bucket=bucket)


def _send(pipe: Pipeline, ticket: dict[str, Any], content: bytes) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=ticket["bucket"], Key=ticket["fields"]["key"], Body=content)


def _event(ticket: dict[str, Any]) -> dict[str, Any]:
    event = load_event("s3_upload_created.json")
    record = event["Records"][0]["s3"]
    record["bucket"]["name"] = ticket["bucket"]
    record["bucket"]["arn"] = f"arn:aws:s3:::{ticket['bucket']}"
    record["object"]["key"] = ticket["fields"]["key"]
    return event


def _deliver(pipe: Pipeline, ticket: dict[str, Any]) -> int:
    from ingest.app import handler

    return int(handler(_event(ticket), pipe.context)["ingested"])


def _get(pipe: Pipeline, client: str, upload_id: str) -> dict[str, Any]:
    status, upload, _ = pipe.api("GET", f"{F}/uploads/{upload_id}", client, role="viewer")
    assert status == 200, upload
    return dict(upload)


def _stored_skus(pipe: Pipeline, client: str) -> list[str]:
    """The SKUs (of those these tests upload) whose series the tenant has stored, in SKU order."""
    return sorted(demand_repo.get_stored_series(pipe.table, client, [f"SKU-{i:03d}" for i in range(300)]))


def _catalog_items(pipe: Pipeline, client: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb", region_name=REGION).Table(pipe.table)
    return list(table.query(KeyConditionExpression=Key("pk").eq(catalog_pk(client)), ConsistentRead=True)["Items"])


def _dead_letter(pipe: Pipeline, ticket: dict[str, Any]) -> None:
    """IngestDLQ gets the event that failed every retry; IngestDeadLetterFunction records it."""
    from scheduler.failed_uploads import handler

    body = {"requestContext": {"condition": "RetriesExhausted"}, "requestPayload": _event(ticket)}
    pipe.sqs.send_message(QueueUrl=pipe.queue("IngestDLQ"), MessageBody=json.dumps(body))
    assert pipe.deliver("IngestDLQ", handler, pipe.receive("IngestDLQ")) == set()


def test_given_a_file_with_more_skus_than_an_upload_may_store_then_it_is_refused_up_front_and_nothing_is_stored(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKUCAST_MAX_SKUS_PER_UPLOAD", "40")
    get_settings.cache_clear()
    client = pipe.tenant("cli_many_skus")
    skus = [f"SKU-{i:03d}" for i in range(41)]
    ticket = _create(pipe, client)
    # One SKU's rows twice over (its 2nd date) count once: 41 distinct SKUs, 42 rows.
    _send(pipe, ticket, _csv(skus) + _csv(skus[:1], "2024-06-04").split(b"\n", 1)[1])
    assert _deliver(pipe, ticket) == 1
    refused = _get(pipe, client, ticket["upload_id"])
    assert refused["status"] == "REJECTED" and refused["skus_touched"] == 0
    assert [(e["row"], e["code"]) for e in refused["errors"]] == [(None, "too_many_skus")]
    message = refused["errors"][0]["message"]
    assert "41 distinct SKUs" in message and "at most 40" in message and "split the file by SKU" in message
    assert _stored_skus(pipe, client) == [] and _catalog_items(pipe, client) == []
    record = uploads_repo.get_upload(pipe.table, client, ticket["upload_id"])
    assert record is not None and record.merge_started_at is None  # refused before the merge began

    # At the limit the same file is stored whole.
    ticket = _create(pipe, client)
    _send(pipe, ticket, _csv(skus[:40]))
    assert _deliver(pipe, ticket) == 1
    assert _get(pipe, client, ticket["upload_id"])["status"] == "SUCCEEDED"
    assert _stored_skus(pipe, client) == skus[:40]


def test_given_an_ingest_that_died_mid_merge_on_every_retry_then_its_report_says_exactly_which_skus_are_stored(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = pipe.tenant("cli_partly")
    skus = [f"SKU-{i:03d}" for i in range(250)]
    ticket = _create(pipe, client)
    _send(pipe, ticket, _csv(skus))
    with dies_on_write(monkeypatch, 3):  # the first try stores two rounds of SKUs, then dies
        _deliver(pipe, ticket)
    stored = _stored_skus(pipe, client)
    assert stored and stored == skus[: len(stored)]  # SKU order, a round at a time
    for _ in range(2):  # Lambda's two retries die at their first write (the rounds before are unchanged)
        with dies_on_write(monkeypatch, 1):
            _deliver(pipe, ticket)
    assert _stored_skus(pipe, client) == stored

    _dead_letter(pipe, ticket)
    failed = _get(pipe, client, ticket["upload_id"])
    assert failed["status"] == "REJECTED" and failed["skus_touched"] == len(stored)
    assert [(e["row"], e["code"]) for e in failed["errors"]] == [(None, "ingest_failed")]
    message = failed["errors"][0]["message"]
    assert f"the first {len(stored)} of its 250 SKUs in SKU order, through {stored[-1]!r}, are stored" in message
    assert f"the other {250 - len(stored)} (after {stored[-1]!r}) were not" in message
    assert "Upload the file again" in message
    assert _stored_skus(pipe, client) == stored  # failing it touches no demand


def test_given_an_ingest_that_died_before_its_first_write_went_in_then_its_report_says_nothing_is_stored(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = pipe.tenant("cli_none_stored")
    ticket = _create(pipe, client)
    _send(pipe, ticket, _csv([f"SKU-{i:03d}" for i in range(150)]))
    for _ in range(3):  # every try dies at its first demand write: the merge had begun, nothing went in
        with dies_on_write(monkeypatch, 1):
            _deliver(pipe, ticket)
    record = uploads_repo.get_upload(pipe.table, client, ticket["upload_id"])
    assert record is not None and record.merge_started_at is not None

    _dead_letter(pipe, ticket)
    failed = _get(pipe, client, ticket["upload_id"])
    assert failed["status"] == "REJECTED" and failed["skus_touched"] == 0
    assert failed["errors"][0]["message"] == (
        "Processing this upload failed on every retry; nothing from it was stored. Upload the file again."
    )
    assert _stored_skus(pipe, client) == [] and _catalog_items(pipe, client) == []
