"""Demand ingestion in-process: API events and S3 events into the real handlers, against moto."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from typing import Any

import boto3
import numpy as np
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from boto3.dynamodb.conditions import Key

from skucast.ingestion import AcceptedPoints
from skucast.repositories import catalog as catalog_repo
from skucast.repositories import demand as demand_repo
from skucast.repositories import uploads as uploads_repo
from skucast.repositories.keys import SERIES_SHARDS, catalog_pk, ingest_lock_sk, series_shard_pk, tenant_pk, upload_sk
from skucast.schemas.demand import DemandRecordsRequest
from skucast.services import demand as demand_service
from skucast.services import scheduling
from skucast.services import uploads as uploads_service
from skucast.settings import get_settings
from skucast_local.containers import Invocation
from skucast_local.emulator import REGION, Provisioned
from skucast_local.pumps import failure_record
from skucast_local.template import load
from tests.conftest import ROOT, load_event
from tests.integration.pipeline import Pipeline, dies_on_write

F = "/api/v1/forecast"
REPORT_KEYS = {
    "upload_id", "status", "filename", "aggregate", "delimiter", "decimal", "date_format", "rows_total",
    "rows_accepted", "rows_rejected", "skus_touched", "errors", "error_summary", "warnings", "created_at",
    "finished_at", "granularity", "missing", "kind",
}  # fmt: skip


@pytest.fixture
def pipe(provisioned: Provisioned, lambda_context: Any) -> Pipeline:
    return Pipeline(provisioned, lambda_context)


def _csv(rows: list[tuple[str, str, Any]]) -> bytes:
    return ("sku,date,quantity\n" + "".join(f"{s},{d},{q}\n" for s, d, q in rows)).encode()


def _days(first: str, n: int) -> list[str]:
    start = dt.date.fromisoformat(first)
    return [(start + dt.timedelta(days=i)).isoformat() for i in range(n)]


def _create(pipe: Pipeline, client: str, filename: str = "demand.csv", **body: Any) -> dict[str, Any]:
    status, ticket, _ = pipe.api("POST", f"{F}/uploads", client, role="analyst", body={"filename": filename, **body})
    assert status == 201, ticket
    return dict(ticket)


def _put(pipe: Pipeline, ticket: dict[str, Any], content: bytes) -> None:
    bucket = pipe.p.resources["DataBucket"].ref
    boto3.client("s3", region_name=REGION).put_object(Bucket=bucket, Key=ticket["fields"]["key"], Body=content)


def _event(pipe: Pipeline, key: str) -> dict[str, Any]:
    event = load_event("s3_upload_created.json")
    record = event["Records"][0]["s3"]
    record["bucket"]["name"] = pipe.p.resources["DataBucket"].ref
    record["bucket"]["arn"] = f"arn:aws:s3:::{record['bucket']['name']}"
    record["object"]["key"] = key
    return event


def _deliver(pipe: Pipeline, ticket: dict[str, Any]) -> int:
    from ingest.app import handler

    return int(handler(_event(pipe, ticket["fields"]["key"]), pipe.context)["ingested"])


def _upload(pipe: Pipeline, client: str, content: bytes, **body: Any) -> dict[str, Any]:
    ticket = _create(pipe, client, **body)
    _put(pipe, ticket, content)
    assert _deliver(pipe, ticket) == 1
    return _get(pipe, client, ticket["upload_id"])


def _get(pipe: Pipeline, client: str, upload_id: str) -> dict[str, Any]:
    status, upload, _ = pipe.api("GET", f"{F}/uploads/{upload_id}", client, role="viewer")
    assert status == 200, upload
    return dict(upload)


def _store(pipe: Pipeline, client: str) -> dict[str, list[dict[str, Any]]]:
    """Every series and catalog item of the tenant, as stored (byte-for-byte comparisons)."""
    table = boto3.resource("dynamodb", region_name=REGION).Table(pipe.table)
    out: dict[str, list[dict[str, Any]]] = {}
    pks = [series_shard_pk(client, s) for s in range(SERIES_SHARDS)] + [catalog_pk(client)]
    for pk in pks:
        items = table.query(KeyConditionExpression=Key("pk").eq(pk), ConsistentRead=True)["Items"]
        if items:
            out[pk] = sorted(items, key=lambda i: str(i["sk"]))
    return out


def _points(pipe: Pipeline, client: str, sku: str, **query: str) -> list[dict[str, Any]]:
    from urllib.parse import quote

    status, body, _ = pipe.api(
        "GET", f"{F}/skus/{quote(sku, safe='')}/demand", client, role="viewer", query=query or None
    )
    assert status == 200, body
    return list(body["points"])


# ---------------------------------------------------------------- the S3 door
def test_given_an_upload_when_its_event_is_delivered_twice_then_it_is_ingested_once(pipe: Pipeline) -> None:
    client = pipe.tenant("cli_once")
    ticket = _create(pipe, client, aggregate="sum")
    assert set(ticket) == {"upload_id", "url", "fields", "expires_in", "max_bytes"}
    assert ticket["fields"]["key"] == f"uploads/{client}/{ticket['upload_id']}"
    assert ticket["max_bytes"] == get_settings().max_upload_bytes and ticket["expires_in"] == 900
    waiting = _get(pipe, client, ticket["upload_id"])
    assert waiting["status"] == "AWAITING_FILE" and waiting["filename"] == "demand.csv"
    assert waiting["aggregate"] == "sum" and waiting["finished_at"] is None

    rows = [(f"SKU-{i}", d, i + 1) for i in range(3) for d in _days("2024-03-01", 70)]
    _put(pipe, ticket, _csv(rows))
    assert _deliver(pipe, ticket) == 1
    first = _store(pipe, client)
    assert _deliver(pipe, ticket) == 0  # the same S3 event again
    assert _store(pipe, client) == first
    done = _get(pipe, client, ticket["upload_id"])
    assert set(done) == REPORT_KEYS
    assert done["status"] == "SUCCEEDED" and done["rows_total"] == done["rows_accepted"] == 210
    assert done["skus_touched"] == 3 and done["errors"] == [] and done["finished_at"]
    status, sku, _ = pipe.api("GET", f"{F}/skus/SKU-2", client, role="viewer")
    assert status == 200
    assert sku == {
        "sku": "SKU-2", "demand_class": "smooth", "adi": 1.0, "cv2": 0.0, "n_periods": 70,
        "first_date": "2024-03-01", "last_date": "2024-05-09", "total_quantity": 210.0, "granularity": "D",
        "attributes": {},
    }  # fmt: skip


def test_given_a_crash_mid_ingest_when_the_event_is_retried_then_the_retry_redoes_it(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = pipe.tenant("cli_crash")
    ticket = _create(pipe, client)
    _put(pipe, ticket, _csv([(f"SKU-{i}", d, 1) for i in range(150) for d in _days("2024-01-01", 5)]))
    # Rounds of 99 SKUs, a transaction each (99, then 51), then one catalog page: it dies with
    # every series in, the catalog not.
    with dies_on_write(monkeypatch, 3) as calls:
        _deliver(pipe, ticket)  # Lambda records the failure and retries the event
    assert calls["n"] == 3 and _get(pipe, client, ticket["upload_id"])["status"] == "PROCESSING"
    assert _deliver(pipe, ticket) == 1
    assert _get(pipe, client, ticket["upload_id"])["skus_touched"] == 150

    # A holder that died without releasing: its lease lapses, then the retry takes over.
    other = pipe.tenant("cli_crash_b")
    ticket_b = _create(pipe, other)
    _put(pipe, ticket_b, _csv([(f"SKU-{i}", d, 1) for i in range(150) for d in _days("2024-01-01", 5)]))
    table = boto3.resource("dynamodb", region_name=REGION).Table(pipe.table)
    table.update_item(
        Key={"pk": tenant_pk(other), "sk": upload_sk(ticket_b["upload_id"])},
        UpdateExpression="SET #s = :p, #c = :c, lease_until = :gone",
        ExpressionAttributeNames={"#s": "status", "#c": "claim"},
        ExpressionAttributeValues={":p": "PROCESSING", ":c": "clm_dead", ":gone": 1},
    )
    assert _deliver(pipe, ticket_b) == 1
    assert _get(pipe, other, ticket_b["upload_id"])["status"] == "SUCCEEDED"
    # Same points, same store: byte-for-byte what one clean ingest wrote (upload ids aside).
    strip = lambda store: [  # noqa: E731
        {k: v for k, v in i.items() if k not in ("pk", "owners", "last_upload_id")}
        for items in store.values()
        for i in items
    ]
    assert strip(_store(pipe, client)) == strip(_store(pipe, other))


def test_given_a_live_claim_when_a_duplicate_runs_out_of_time_then_it_asks_to_be_retried(
    pipe: Pipeline,
) -> None:
    client = pipe.tenant("cli_busy")
    ticket = _create(pipe, client)
    _put(pipe, ticket, _csv([("SKU-1", "2024-01-01", 1)]))
    assert uploads_repo.claim(pipe.table, client, ticket["upload_id"], "clm_live", 0, 2**40, "now", "9999")
    with pytest.raises(uploads_service.UploadBusy):
        uploads_service.ingest_object(ticket["fields"]["key"], get_settings(), time_left=lambda: 1.0)


def test_given_two_uploads_applied_out_of_order_then_the_store_equals_creation_order(pipe: Pipeline) -> None:
    older_rows = [(s, d, 1) for s in ("SKU-A", "SKU-B") for d in _days("2024-01-01", 10)]
    newer_rows = [(s, d, 2) for s in ("SKU-A", "SKU-C") for d in [*_days("2024-01-05", 3), "2024-01-12"]]
    client = pipe.tenant("cli_order")
    older, newer = _create(pipe, client), _create(pipe, client)
    assert older["upload_id"] < newer["upload_id"]
    _put(pipe, older, _csv(older_rows))
    _put(pipe, newer, _csv(newer_rows))
    assert _deliver(pipe, newer) == 1  # the newer upload's event arrives first
    assert _deliver(pipe, older) == 1

    # Applying the same two uploads in creation order, through the same merge, in another tenant.
    in_order = pipe.tenant("cli_in_order")
    for ticket, rows in ((older, older_rows), (newer, newer_rows)):
        result = _result(rows)
        demand_service.apply_points(get_settings(), in_order, ticket["upload_id"], result)
    assert _store(pipe, client) == _relabel(_store(pipe, in_order), in_order, client)
    assert [p["quantity"] for p in _points(pipe, client, "SKU-A")] == [1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 0, 2]


def _result(rows: list[tuple[str, str, Any]]) -> AcceptedPoints:
    from io import BytesIO

    from skucast.ingestion import IngestLimits, ingest_file

    return ingest_file(BytesIO(_csv(rows)), aggregate="reject", limits=IngestLimits(), today=dt.date.today()).points


def _relabel(store: dict[str, list[dict[str, Any]]], src: str, dst: str) -> dict[str, list[dict[str, Any]]]:
    return {
        pk.replace(src, dst): [{**i, "pk": str(i["pk"]).replace(src, dst)} for i in items]
        for pk, items in store.items()
    }


def test_given_two_uploads_of_one_sku_ingested_at_once_then_neither_loses_points(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads_service, "WAIT_POLL_SECONDS", 0.02)
    monkeypatch.setattr(uploads_service, "WAIT_MARGIN_SECONDS", 1)  # the test context has 30 s
    client = pipe.tenant("cli_race")
    real_read = demand_repo.get_stored_series

    def slow_read(*args: Any) -> Any:  # widens the read-merge-write window a lost update needs
        found = real_read(*args)
        time.sleep(0.1)
        return found

    monkeypatch.setattr(demand_repo, "get_stored_series", slow_read)
    tickets = [_create(pipe, client) for _ in range(4)]
    for n, ticket in enumerate(tickets):
        _put(pipe, ticket, _csv([("SKU-1", d, n + 1) for d in _days(f"2024-01-{1 + 3 * n:02d}", 2)]))
    answers: list[int] = []
    threads = [threading.Thread(target=lambda t=t: answers.append(_deliver(pipe, t))) for t in tickets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == [1, 1, 1, 1]
    quantities = [p["quantity"] for p in _points(pipe, client, "SKU-1")]
    assert quantities == [1, 1, 0, 2, 2, 0, 3, 3, 0, 4, 4]


def test_given_the_merge_lock_is_held_then_ingests_wait_and_post_demand_answers_409(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads_service, "WAIT_POLL_SECONDS", 0.02)
    monkeypatch.setattr(uploads_service, "WAIT_MARGIN_SECONDS", 1)  # the test context has 30 s
    monkeypatch.setattr(uploads_service, "RECORDS_LOCK_WAIT_SECONDS", 0.1)
    client = pipe.tenant("cli_locked")
    ticket = _create(pipe, client)
    _put(pipe, ticket, _csv([("SKU-1", "2024-01-01", 7)]))
    now = int(time.time())
    assert uploads_repo.acquire_lock(pipe.table, client, "lck_other", "upl_other", now, now + 120)
    answers: list[int] = []
    waiting = threading.Thread(target=lambda: answers.append(_deliver(pipe, ticket)))
    waiting.start()
    time.sleep(0.5)
    assert _get(pipe, client, ticket["upload_id"])["status"] == "PROCESSING" and _store(pipe, client) == {}
    body = {"records": [{"sku": "SKU-2", "date": "2024-01-01", "quantity": 1}]}
    status, problem, _ = pipe.api("POST", f"{F}/demand", client, role="analyst", body=body)
    assert status == 409, problem
    assert pipe.api("GET", f"{F}/uploads", client, role="viewer")[1]["items"] == [
        _get(pipe, client, ticket["upload_id"])
    ]
    assert uploads_repo.release_lock(pipe.table, client, "lck_other")
    waiting.join(30)
    assert answers == [1] and _get(pipe, client, ticket["upload_id"])["status"] == "SUCCEEDED"

    # A holder that died: its lease lapses and the next ingest takes the lock over.
    assert uploads_repo.acquire_lock(pipe.table, client, "lck_dead", "upl_dead", 0, 1)
    status, report, _ = pipe.api("POST", f"{F}/demand", client, role="analyst", body=body)
    assert status == 200 and report["status"] == "SUCCEEDED", report


def test_given_a_writer_stalled_past_its_lock_when_another_merged_meanwhile_then_its_stale_write_is_refused(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = pipe.tenant("cli_fenced")
    first, second = _create(pipe, client), _create(pipe, client)
    first_rows = [("SKU-1", d, 1) for d in _days("2024-01-01", 10)]
    second_rows = [("SKU-1", d, 2) for d in _days("2024-01-06", 10)]
    _put(pipe, first, _csv(first_rows))
    _put(pipe, second, _csv(second_rows))
    table = boto3.resource("dynamodb", region_name=REGION).Table(pipe.table)
    real_read = demand_repo.get_stored_series
    stalled: list[bool] = []

    def stall_after_reading(*args: Any) -> Any:
        found = real_read(*args)
        if not stalled:  # the first writer, between its read and its write, pauses past its lease:
            stalled.append(True)
            table.update_item(
                Key={"pk": tenant_pk(client), "sk": ingest_lock_sk()},
                UpdateExpression="SET lease_until = :gone",
                ExpressionAttributeValues={":gone": 0},
            )
            assert _deliver(pipe, second) == 1  # ...so the second upload takes the lock and merges
        return found

    monkeypatch.setattr(demand_repo, "get_stored_series", stall_after_reading)
    with pytest.raises(demand_repo.Fenced):
        _deliver(pipe, first)  # its write, merged from the series it read before, is refused
    assert stalled and [p["quantity"] for p in _points(pipe, client, "SKU-1")] == [2] * 10
    assert _get(pipe, client, first["upload_id"])["status"] == "PROCESSING"
    assert _get(pipe, client, second["upload_id"])["status"] == "SUCCEEDED"

    monkeypatch.setattr(demand_repo, "get_stored_series", real_read)
    assert _deliver(pipe, first) == 1  # Lambda's retry: the store is as if applied in creation order
    assert [p["quantity"] for p in _points(pipe, client, "SKU-1")] == [1] * 5 + [2] * 10
    in_order = pipe.tenant("cli_fenced_in_order")
    for ticket, rows in ((first, first_rows), (second, second_rows)):
        demand_service.apply_points(get_settings(), in_order, ticket["upload_id"], _result(rows))
    assert _store(pipe, client) == _relabel(_store(pipe, in_order), in_order, client)


def test_given_bad_rows_a_broken_file_and_an_oversize_file_then_partial_rejected_rejected(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = pipe.tenant("cli_bad")
    good = [("SKU-1", d, 3) for d in _days("2024-01-01", 40)]
    rows = [*good[:10], ("SKU-1", "2024-02-30", 1), *good[10:], ("SKU-2", "2024-01-01", -4)]
    partial = _upload(pipe, client, _csv(rows))
    assert partial["status"] == "PARTIAL" and partial["rows_rejected"] == 2 and partial["rows_accepted"] == 40
    assert [(e["row"], e["column"], e["code"]) for e in partial["errors"]] == [
        (12, "date", "date_invalid"),
        (43, "quantity", "quantity_negative"),
    ]
    before = _store(pipe, client)
    broken = _upload(pipe, client, b"sku date quantity\nSKU-1 2024-01-01 5\n")  # ';' is read since formats
    assert broken["status"] == "REJECTED" and broken["errors"][0]["code"] == "unsupported_delimiter"
    assert _store(pipe, client) == before

    monkeypatch.setenv("SKUCAST_MAX_UPLOAD_BYTES", "2048")
    get_settings.cache_clear()
    big = _upload(pipe, client, _csv([("SKU-1", d, 9) for d in _days("2024-01-01", 200)]))
    assert big["status"] == "REJECTED" and big["errors"][0]["code"] == "file_too_large"
    assert _store(pipe, client) == before


def test_given_declared_formats_when_uploaded_then_they_are_stored_shown_and_override_detection(
    pipe: Pipeline,
) -> None:
    client = pipe.tenant("cli_formats")
    content = b"sku;date;quantity\nSKU 1;01/02/2024;2,5\nSKU 1;03/04/2024;1\n"
    detected = _upload(pipe, client, content)
    assert (detected["delimiter"], detected["decimal"], detected["date_format"]) == (None, None, None)
    assert [w["code"] for w in detected["warnings"]] == ["date_format_assumed"]
    assert "DD/MM/YYYY" in detected["warnings"][0]["message"]
    points = _points(pipe, client, "SKU 1")
    assert [(p["date"], p["quantity"]) for p in points if p["quantity"]] == [("2024-02-01", 2.5), ("2024-04-03", 1)]

    other = pipe.tenant("cli_formats_declared")
    declared = _upload(pipe, other, content, delimiter=";", decimal=",", date_format="MM/DD/YYYY")
    assert (declared["delimiter"], declared["decimal"], declared["date_format"]) == (";", ",", "MM/DD/YYYY")
    assert declared["status"] == "SUCCEEDED" and declared["warnings"] == [] and declared["error_summary"] == []
    points = _points(pipe, other, "SKU 1")
    assert [(p["date"], p["quantity"]) for p in points if p["quantity"]] == [("2024-01-02", 2.5), ("2024-03-04", 1)]

    for bad in ({"delimiter": " "}, {"decimal": "'"}, {"date_format": "DD-MM-YYYY"}):
        status, problem, _ = pipe.api("POST", f"{F}/uploads", client, role="analyst", body={"filename": "d.csv", **bad})
        assert status == 422 and problem["status"] == 422, problem


# ---------------------------------------------------------------- the records door
def test_given_json_records_when_posted_then_the_same_report_and_the_same_store(pipe: Pipeline) -> None:
    by_file, by_records = pipe.tenant("cli_file"), pipe.tenant("cli_records")
    rows = [("SKU-1", d, 2) for d in _days("2024-01-01", 30)] + [("SKU-2", "2024-01-01", "x")]
    via_file = _upload(pipe, by_file, _csv(rows))
    records = [{"sku": s, "date": d, "quantity": q} for s, d, q in rows]
    status, report, _ = pipe.api("POST", f"{F}/demand", by_records, role="analyst", body={"records": records})
    assert status == 200, report
    assert set(report) == REPORT_KEYS and report["filename"] is None
    same = ("status", "rows_total", "rows_accepted", "rows_rejected", "skus_touched")
    assert {k: report[k] for k in same} == {k: via_file[k] for k in same}
    assert report["status"] == "PARTIAL"
    # Rows are numbered by position in `records` (the file's row 32 is record 31).
    assert [(e["row"], e["code"]) for e in report["errors"]] == [(31, "quantity_not_number")]
    assert [(e["row"], e["code"]) for e in via_file["errors"]] == [(32, "quantity_not_number")]
    assert _get(pipe, by_records, report["upload_id"]) == report
    status, listed, _ = pipe.api("GET", f"{F}/uploads", by_records, role="viewer")
    assert [u["upload_id"] for u in listed["items"]] == [report["upload_id"]]
    assert _points(pipe, by_file, "SKU-1") == _points(pipe, by_records, "SKU-1")

    too_many = [{"sku": "S", "date": "2024-01-01", "quantity": 1}] * 10_001
    status, problem, _ = pipe.api("POST", f"{F}/demand", by_records, role="analyst", body={"records": too_many})
    assert status == 413 and problem["status"] == 413
    status, listed, _ = pipe.api("GET", f"{F}/uploads", by_records, role="viewer")
    assert len(listed["items"]) == 1  # nothing recorded for the refused request
    status, _, _ = pipe.api("POST", f"{F}/demand", by_records, role="viewer", body={"records": []})
    assert status == 403


# ---------------------------------------------------------------- stuck uploads
NOTHING_SWEPT = {
    "uploads_failed": 0,
    "uploads_expired": 0,
    "uploads_busy": 0,
    "repaired": 0,
    "failed": 0,
    "alerts_published": 0,
}


def _lock(pipe: Pipeline, client: str) -> dict[str, Any] | None:
    table = boto3.resource("dynamodb", region_name=REGION).Table(pipe.table)
    key = {"pk": tenant_pk(client), "sk": ingest_lock_sk()}
    return table.get_item(Key=key, ConsistentRead=True).get("Item")


def test_given_a_post_demand_that_died_mid_merge_when_swept_past_its_deadline_then_rejected_and_its_lock_freed(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = pipe.tenant("cli_died")
    monkeypatch.setattr(uploads_service, "LEASE_SECONDS", -1)  # the claim and lock lapse at once
    monkeypatch.setattr(uploads_repo, "release_lock", lambda *args: True)  # a dead process releases nothing
    records = [{"sku": f"SKU-{i}", "date": "2024-01-01", "quantity": 1} for i in range(150)]
    with dies_on_write(monkeypatch, 2):
        uploads_service.ingest_demand_records(get_settings(), client, DemandRecordsRequest(records=records))
    (stuck,) = pipe.api("GET", f"{F}/uploads", client, role="viewer")[1]["items"]
    stale = _lock(pipe, client)
    assert stuck["status"] == "PROCESSING" and stale and stale["upload_id"] == stuck["upload_id"]
    stored = _store(pipe, client)
    assert stored  # the first 99 writes went in before it died

    now = dt.datetime.now(dt.UTC)
    assert scheduling.sweep(get_settings(), now)["uploads_failed"] == 0  # not past its deadline yet
    later = now + dt.timedelta(seconds=uploads_service.STALL_SECONDS + 60)
    assert scheduling.sweep(get_settings(), later)["uploads_failed"] == 1
    failed = _get(pipe, client, stuck["upload_id"])
    assert failed["status"] == "REJECTED" and failed["finished_at"]
    assert [(e["row"], e["code"]) for e in failed["errors"]] == [(None, "ingest_stalled")]
    # The first transaction (98 SKUs in SKU order) went in before it died, and the report says so.
    through = sorted(f"SKU-{i}" for i in range(150))[97]
    message = failed["errors"][0]["message"]
    assert f"the first 98 of its 150 SKUs in SKU order, through {through!r}, are stored" in message
    assert "Send the records again" in failed["errors"][0]["message"] and failed["skus_touched"] == 98
    assert _lock(pipe, client) is None and _store(pipe, client) == stored
    assert scheduling.sweep(get_settings(), later) == {**NOTHING_SWEPT, "uploads_failed": 0}
    # Had the dead holder been only paused, its next write is refused: the sweeper freed its lock.
    with pytest.raises(demand_repo.Fenced):
        catalog_repo.merge_entries(
            pipe.table, client, [{"sku": "SKU-0"}], uploads_repo.fence(client, str(stale["holder"]))
        )
    assert _store(pipe, client) == stored


def test_given_a_file_ingest_whose_claim_lapsed_or_lives_when_swept_then_only_the_lapsed_one_is_rejected(
    pipe: Pipeline,
) -> None:
    client = pipe.tenant("cli_sweep")
    lapsed, live = _create(pipe, client), _create(pipe, client)
    for ticket in (lapsed, live):
        _put(pipe, ticket, _csv([("SKU-1", "2024-01-01", 1)]))
    now = int(time.time())
    due = uploads_service.now_iso(uploads_service.STALL_SECONDS)
    assert uploads_repo.claim(pipe.table, client, lapsed["upload_id"], "clm_dead", now, now - 1, "x", due)
    assert uploads_repo.claim(pipe.table, client, live["upload_id"], "clm_live", now, now + 600, "x", due)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=uploads_service.STALL_SECONDS + 60)
    assert scheduling.sweep(get_settings(), later) == {**NOTHING_SWEPT, "uploads_failed": 1, "uploads_busy": 1}
    rejected = _get(pipe, client, lapsed["upload_id"])
    assert rejected["status"] == "REJECTED" and rejected["errors"][0]["code"] == "ingest_stalled"
    assert "nothing from it was stored. Upload the file again." in rejected["errors"][0]["message"]
    assert _get(pipe, client, live["upload_id"])["status"] == "PROCESSING"
    # The lapsed upload's late retry finds it finished; the live one's holder finishes normally.
    assert _deliver(pipe, lapsed) == 0 and _get(pipe, client, lapsed["upload_id"]) == rejected
    assert uploads_repo.release(pipe.table, client, live["upload_id"], "clm_live")
    assert _deliver(pipe, live) == 1 and _get(pipe, client, live["upload_id"])["status"] == "SUCCEEDED"
    assert scheduling.sweep(get_settings(), later)["uploads_busy"] == 0  # off the work list
    assert [p["quantity"] for p in _points(pipe, client, "SKU-1")] == [1]


def test_given_upload_forms_past_their_expiry_when_swept_then_only_the_one_without_a_file_is_rejected(
    pipe: Pipeline,
) -> None:
    client = pipe.tenant("cli_expiry")
    never_sent, sent = _create(pipe, client), _create(pipe, client)
    _put(pipe, sent, _csv([("SKU-1", "2024-01-01", 3)]))  # its S3 event is still on its way
    now = dt.datetime.now(dt.UTC)
    assert scheduling.sweep(get_settings(), now) == NOTHING_SWEPT  # the forms are still valid
    expired = uploads_service.UPLOAD_LINK_SECONDS + uploads_service.EXPIRY_GRACE_SECONDS
    later = now + dt.timedelta(seconds=expired + 60)
    assert scheduling.sweep(get_settings(), later) == {**NOTHING_SWEPT, "uploads_expired": 1, "uploads_busy": 1}
    rejected = _get(pipe, client, never_sent["upload_id"])
    assert rejected["status"] == "REJECTED" and rejected["finished_at"]
    assert [(e["row"], e["code"]) for e in rejected["errors"]] == [(None, "upload_expired")]
    assert "nothing from it was stored" in rejected["errors"][0]["message"]
    assert _get(pipe, client, sent["upload_id"])["status"] == "AWAITING_FILE"
    # The late event of the file that came in time is ingested as usual, and nothing is left to sweep.
    assert _deliver(pipe, sent) == 1 and _get(pipe, client, sent["upload_id"])["status"] == "SUCCEEDED"
    assert scheduling.sweep(get_settings(), later) == NOTHING_SWEPT
    assert _get(pipe, client, never_sent["upload_id"]) == rejected
    assert [p["quantity"] for p in _points(pipe, client, "SKU-1")] == [3]


def _failure_record(pipe: Pipeline, ticket: dict[str, Any]) -> dict[str, Any]:
    """What Lambda sends IngestDLQ (the on-failure destination) when an upload's event failed every
    retry: the local pump's record, checked against the shape AWS documents (events/)."""
    function = load(ROOT / "template.yaml").functions["IngestFunction"]
    crash = Invocation(ok=False, error_type="Runtime.ExitError", error_message="Process exited before completing")
    record = failure_record(function, _event(pipe, ticket["fields"]["key"]), crash, 3)
    sample = load_event("ingest_failure_record.json")
    assert {k: set(v) if isinstance(v, dict) else None for k, v in record.items() if k != "requestPayload"} == {
        k: set(v) if isinstance(v, dict) else None for k, v in sample.items() if k != "requestPayload"
    }
    return record


def _dead_letter(pipe: Pipeline, *bodies: Any) -> set[str]:
    """Queue these messages on IngestDLQ, then hand them to IngestDeadLetterFunction as one batch;
    the ids of those it asked to have retried (they stay queued)."""
    from scheduler.failed_uploads import handler

    for body in bodies:
        text = body if isinstance(body, str) else json.dumps(body)
        pipe.sqs.send_message(QueueUrl=pipe.queue("IngestDLQ"), MessageBody=text)
    return pipe.deliver("IngestDLQ", handler, pipe.receive("IngestDLQ"))


def test_given_s3_events_that_failed_every_retry_when_dead_lettered_then_their_uploads_are_rejected_once(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = pipe.tenant("cli_dead_letters")
    done = _upload(pipe, client, _csv([("SKU-1", d, 5) for d in _days("2024-01-01", 3)]))
    done_ticket = {"fields": {"key": f"uploads/{client}/{done['upload_id']}"}}
    waiting = _create(pipe, client)  # its event failed before the ingest claimed it
    _put(pipe, waiting, _csv([("SKU-2", "2024-01-01", 1)]))
    crashed = _create(pipe, client)  # each attempt died after its first demand write
    _put(pipe, crashed, _csv([(f"SKU-{i}", "2024-02-01", 7) for i in range(3, 153)]))
    with dies_on_write(monkeypatch, 2):
        _deliver(pipe, crashed)
    store = _store(pipe, client)

    records = [_failure_record(pipe, t) for t in (waiting, crashed, done_ticket)]
    assert _dead_letter(pipe, *records) == set()
    rejected = _get(pipe, client, waiting["upload_id"])
    assert rejected["status"] == "REJECTED" and rejected["finished_at"]
    assert rejected["errors"] == [
        {
            "row": None,
            "column": None,
            "code": "ingest_failed",
            "message": "Processing this upload failed on every retry; nothing from it was stored. "
            "Upload the file again.",
        }
    ]
    partly = _get(pipe, client, crashed["upload_id"])
    assert partly["status"] == "REJECTED" and partly["errors"][0]["code"] == "ingest_failed"
    assert "the first 98 of its 150 SKUs in SKU order" in partly["errors"][0]["message"]
    assert "Upload the file again" in partly["errors"][0]["message"] and partly["skus_touched"] == 98
    assert _get(pipe, client, done["upload_id"]) == done  # it had finished: left as it was
    assert _store(pipe, client) == store  # demand is never touched

    # Delivered again (SQS is at least once), and the event's own late retry: nothing changes.
    assert _dead_letter(pipe, *records) == set()
    assert [_get(pipe, client, t["upload_id"]) for t in (waiting, crashed)] == [rejected, partly]
    assert _deliver(pipe, waiting) == 0 and _get(pipe, client, waiting["upload_id"]) == rejected
    assert _store(pipe, client) == store


def test_given_odd_dead_letters_then_a_live_claim_waits_a_lambda_dlq_event_counts_and_nothing_else_moves(
    pipe: Pipeline,
) -> None:
    a, b = pipe.tenant("cli_dl_a"), pipe.tenant("cli_dl_b")
    live, legacy, untouched = _create(pipe, a), _create(pipe, a), _create(pipe, a)
    for ticket in (live, legacy, untouched):
        _put(pipe, ticket, _csv([("SKU-1", "2024-01-01", 1)]))
    now = int(time.time())
    assert uploads_repo.claim(pipe.table, a, live["upload_id"], "clm_live", now, now + 600, "x", "9999")

    # A live claim may still finish: the message fails (alone in its batch, the whole batch) and
    # stays queued, to be retried after the visibility timeout.
    with pytest.raises(BatchProcessingError):
        _dead_letter(pipe, _failure_record(pipe, live))
    assert _get(pipe, a, live["upload_id"])["status"] == "PROCESSING"
    assert uploads_repo.release(pipe.table, a, live["upload_id"], "clm_live")  # its holder died
    assert pipe.deliver("IngestDLQ", _handler(), pipe.receive("IngestDLQ")) == set()
    assert _get(pipe, a, live["upload_id"])["errors"][0]["code"] == "ingest_failed"

    # A Lambda DLQ's message is the event itself (queued before the switch to a destination).
    assert _dead_letter(pipe, _event(pipe, legacy["fields"]["key"])) == set()
    assert _get(pipe, a, legacy["upload_id"])["status"] == "REJECTED"

    # Only the key names the upload: B's prefix with A's upload id, or another bucket, moves nothing.
    foreign = _failure_record(pipe, {"fields": {"key": f"uploads/{b}/{untouched['upload_id']}"}})
    elsewhere = _failure_record(pipe, untouched)
    elsewhere["requestPayload"]["Records"][0]["s3"]["bucket"]["name"] = "someone-elses-bucket"
    assert _dead_letter(pipe, foreign, elsewhere, "{not json", {"Records": [{"s3": 1}]}) == set()
    assert _get(pipe, a, untouched["upload_id"])["status"] == "AWAITING_FILE"
    assert pipe.api("GET", f"{F}/uploads", b, role="viewer")[1]["items"] == []
    parked = [m["Body"] for m in pipe.receive("ForecastParkedQueue")]
    assert sorted(parked) == sorted(["{not json", json.dumps({"Records": [{"s3": 1}]})])
    assert pipe.receive("IngestDLQ") == []


def _handler() -> Any:
    from scheduler.failed_uploads import handler

    return handler


# ---------------------------------------------------------------- reading
def test_given_stored_demand_when_listed_and_read_then_classes_ranges_and_pages(pipe: Pipeline) -> None:
    client = pipe.tenant("cli_read")
    rng = np.random.default_rng(3)
    days = _days("2024-01-01", 120)
    rows = [("smooth/1 %", d, 10 + int(rng.integers(0, 3))) for d in days]
    rows += [("lumpy", d, (1 if i % 10 else 100) if i % 5 == 0 else 0) for i, d in enumerate(days)]
    rows += [(f"new-{i}", d, 1) for i in range(3) for d in days[-5:]]
    status, report, _ = pipe.api(
        "POST", f"{F}/demand", client, role="analyst",
        body={"records": [{"sku": s, "date": d, "quantity": q} for s, d, q in rows]},
    )  # fmt: skip
    assert status == 200 and report["status"] == "SUCCEEDED", report
    listed, cursor = [], None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page, _ = pipe.api("GET", f"{F}/skus", client, role="viewer", query=query)
        assert status == 200, page
        listed += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    classes = {i["sku"]: i["demand_class"] for i in listed}
    assert classes == {
        "lumpy": "lumpy",
        "new-0": "new",
        "new-1": "new",
        "new-2": "new",
        "smooth/1 %": "smooth",
    }
    status, page, _ = pipe.api("GET", f"{F}/skus", client, role="viewer", query={"demand_class": "new"})
    assert [i["sku"] for i in page["items"]] == ["new-0", "new-1", "new-2"]
    status, _, _ = pipe.api("GET", f"{F}/skus", client, role="viewer", query={"demand_class": "weird"})
    assert status == 422

    window = _points(pipe, client, "smooth/1 %", start="2024-01-03", end="2024-01-05")
    assert [p["date"] for p in window] == ["2024-01-03", "2024-01-04", "2024-01-05"]
    assert _points(pipe, client, "smooth/1 %", end="2023-12-31") == []
    for query in ({"start": "2024-13-01"}, {"start": "2024-02-01", "end": "2024-01-01"}):
        status, _, _ = pipe.api("GET", f"{F}/skus/lumpy/demand", client, role="viewer", query=query)
        assert status == 422, query
    assert pipe.api("GET", f"{F}/skus/absent", client, role="viewer")[0] == 404
    assert pipe.api("GET", f"{F}/skus/absent/demand", client, role="viewer")[0] == 404


def test_given_tenant_a_data_when_tenant_b_asks_then_404(pipe: Pipeline) -> None:
    a, b = pipe.tenant("cli_a"), pipe.tenant("cli_b")
    done = _upload(pipe, a, _csv([("SKU-A1", "2024-01-01", 1)]))
    pipe.tenant("cli_b")
    for path in (f"{F}/uploads/{done['upload_id']}", f"{F}/skus/SKU-A1", f"{F}/skus/SKU-A1/demand"):
        assert pipe.api("GET", path, a, role="viewer")[0] == 200, path
        status, problem, _ = pipe.api("GET", path, b, role="viewer")
        assert status == 404 and done["upload_id"] not in str(problem), path
    for path in (f"{F}/uploads", f"{F}/skus"):
        status, page, _ = pipe.api("GET", path, b, role="viewer")
        assert status == 200 and page["items"] == [], path
    # An object planted under B's prefix with A's upload id names no upload of B's: ignored.
    _put(pipe, {"fields": {"key": f"uploads/{b}/{done['upload_id']}"}}, _csv([("X", "2024-01-01", 1)]))
    assert _deliver(pipe, {"fields": {"key": f"uploads/{b}/{done['upload_id']}"}}) == 0
    assert pipe.api("GET", f"{F}/skus/X", b, role="viewer")[0] == 404


def test_given_series_when_catalogued_then_the_class_is_classify_dailys_at_d() -> None:
    from skucast.forecasting.classification import classify_daily
    from skucast.ingestion import DemandSeries

    rng = np.random.default_rng(11)
    for n in (1, 30, 60, 200, 800):
        for values in (rng.poisson(3, n), rng.poisson(0.2, n) * rng.integers(1, 50, n), np.zeros(n)):
            values = np.concatenate([np.zeros(rng.integers(0, 20)), values]).astype(float)
            series = DemandSeries(dt.date(2024, 1, 3), values)
            expected = classify_daily(series.start, series.values, "D")
            entry = demand_service.catalog_entry("S", series)
            assert (entry["demand_class"], entry["n_periods"]) == (expected.demand_class, expected.n_periods)
            for key in ("adi", "cv2"):
                got, want = entry[key], getattr(expected, key)
                assert (got is None and want is None) or float(got) == want
