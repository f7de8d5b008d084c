"""Typed records at the repository boundary (skucast/records.py): items as stored, Decimals and all,
come back as records whose numbers are int or float; an older item reads with defaults."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, get_args

import pytest

from skucast.records import (
    FINISHED_RUN,
    ApiKeyGrant,
    ApiKeyRecord,
    BatchRecord,
    BatchStatus,
    CatalogEntry,
    RunRecord,
    RunStatus,
    UploadRecord,
    UploadStatus,
    UserRecord,
)
from skucast.repositories.api_keys import api_key_grant, api_key_record
from skucast.repositories.catalog import entry_record
from skucast.repositories.runs import batch_record, run_record
from skucast.repositories.uploads import upload_record
from skucast.repositories.users import user_record
from skucast.schemas.forecast import Run, RunProgress, RunStatusQuery


def _numbers(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list | tuple):
        return [n for v in value for n in _numbers(v)]
    return [value] if isinstance(value, int | float | Decimal) and not isinstance(value, bool) else []


def test_given_a_queued_run_item_without_counters_then_it_reads_with_defaults() -> None:
    item = {
        "pk": "CLIENT#cl_1",
        "sk": "RUN#run_1",
        "schema_version": Decimal(1),
        "run_id": "run_1",
        "name": None,
        "status": "QUEUED",
        "params": {"horizon": Decimal(28), "levels": [Decimal(80), Decimal(95)], "skus": "all"},
        "created_at": "2026-01-01T00:00:00Z",
        "expires_at": Decimal(1767312000),
    }  # no trigger: runs stored before scheduled runs existed

    run = run_record(item)

    assert run == RunRecord(
        run_id="run_1",
        status=RunStatus.QUEUED,
        created_at="2026-01-01T00:00:00Z",
        params={"horizon": 28, "levels": [80, 95], "skus": "all"},
    )
    assert run.trigger == "api" and run.skus_total == run.batches_sent == run.result_shards == 0
    assert run.active and not run.finished and run.all_sent and run.as_of is None


def test_given_a_finished_run_item_then_every_number_is_an_int_or_float_never_a_decimal() -> None:
    item = {
        "run_id": "run_2",
        "status": "PARTIAL",
        "trigger": "schedule",
        "params": {"horizon": Decimal(7)},
        "created_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T00:05:00Z",
        "skus_total": Decimal(41),
        "skus_done": Decimal(40),
        "skus_failed": Decimal(1),
        "batches_total": Decimal(2),
        "batches_done": Decimal(2),
        "batches_sent": Decimal(2),
        "result_shards": Decimal(1),
        "as_of": "2025-12-31",
        "summary": {"by_class": {"smooth": Decimal(40)}, "metrics": {"mase": Decimal("0.8125"), "smape": None}},
    }

    run = run_record(item)

    assert (run.status, run.trigger, run.skus_done, run.skus_failed, run.as_of) == (
        RunStatus.PARTIAL,
        "schedule",
        40,
        1,
        "2025-12-31",
    )
    assert run.summary == {"by_class": {"smooth": 40}, "metrics": {"mase": 0.8125, "smape": None}}
    numbers = _numbers(run.__dict__)
    assert numbers and all(type(n) in (int, float) for n in numbers)
    assert run.finished and run.all_settled and not run.active


def test_given_a_batch_item_then_it_reads_as_a_batch_record() -> None:
    pending = batch_record({"pk": "x", "sk": "BATCH#b0000003", "skus": ["A", "NaN"], "status": "PENDING"})
    assert pending == BatchRecord(batch_id="b0000003", status=BatchStatus.PENDING, skus=("A", "NaN"))
    assert pending.pending and pending.claim is None and pending.record is None

    done = batch_record(
        {
            "sk": "BATCH#b0000000",
            "skus": ["A"],
            "status": "DONE",
            "claim": "t0k",
            "record": {"by_class": {"smooth": Decimal(1)}, "metric_sums": {"n": Decimal(1), "s": Decimal("0.5")}},
        }
    )
    assert (done.status, done.claim, done.pending) == (BatchStatus.DONE, "t0k", False)
    assert done.record == {"by_class": {"smooth": 1}, "metric_sums": {"n": 1, "s": 0.5}}
    assert all(type(n) in (int, float) for n in _numbers(done.record))


def test_given_an_unknown_status_then_the_item_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError):
        run_record({"run_id": "r", "status": "DONE", "created_at": "t"})


def test_the_api_statuses_are_the_record_statuses() -> None:
    assert get_args(RunStatusQuery) == tuple(s.value for s in RunStatus)
    assert {RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.CANCELLED} == FINISHED_RUN
    run = RunRecord(run_id="run_1", status=RunStatus.RUNNING, created_at="t")
    as_served = Run(
        run_id=run.run_id,
        status=run.status,
        trigger=run.trigger,
        params={},
        created_at=run.created_at,
        progress=RunProgress(),
    )
    assert '"status":"RUNNING"' in as_served.model_dump_json()


def test_given_an_old_upload_item_without_newer_fields_then_it_reads_with_defaults() -> None:
    item = {
        "pk": "CLIENT#cl_1",
        "sk": "UPLOAD#upl_1",
        "upload_id": "upl_1",
        "status": "SUCCEEDED",
        "filename": "demand.csv",
        "aggregate": "sum",
        "created_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T00:01:00Z",
        "rows_total": Decimal(210),
        "rows_accepted": Decimal(210),
        "rows_rejected": Decimal(0),
        "skus_touched": Decimal(7),
        "errors": [],
    }  # before sources, grains, declared formats, error summaries and warnings

    upload = upload_record(item)

    assert upload == UploadRecord(
        upload_id="upl_1",
        status=UploadStatus.SUCCEEDED,
        created_at="2026-01-01T00:00:00Z",
        filename="demand.csv",
        aggregate="sum",
        finished_at="2026-01-01T00:01:00Z",
        rows_total=210,
        rows_accepted=210,
        skus_touched=7,
    )
    assert (upload.source, upload.missing, upload.granularity, upload.warnings) == ("file", "zero", None, [])
    assert upload.finished and upload.merge_started_at is None
    assert all(type(n) is int for n in _numbers(upload.__dict__))


def test_given_a_processing_upload_item_then_its_claim_reads_typed() -> None:
    upload = upload_record(
        {
            "upload_id": "upl_2",
            "status": "PROCESSING",
            "source": "records",
            "created_at": "t",
            "claim": "clm_1",
            "lease_until": Decimal(1767312000),
            "attempts": Decimal(2),
            "merge_started_at": "t2",
            "errors": [{"row": Decimal(3), "column": "quantity", "code": "not_a_number", "message": "m"}],
        }
    )
    assert (upload.status, upload.claim, upload.lease_until, upload.attempts) == (
        UploadStatus.PROCESSING,
        "clm_1",
        1767312000,
        2,
    )
    assert not upload.finished and upload.merge_started_at == "t2"
    assert upload.errors[0]["row"] == 3 and type(upload.errors[0]["row"]) is int


def test_given_user_and_api_key_items_then_they_read_as_records_without_their_secrets_shown() -> None:
    user = user_record(
        {
            "pk": "CLIENT#cl_1",
            "sk": "USER#usr_1",
            "schema_version": Decimal(1),
            "user_id": "usr_1",
            "email": "a@example.com",
            "role": "analyst",
            "password_hash": "$argon2id$secret",
            "created_at": "t",
        }
    )
    assert user == UserRecord("usr_1", "a@example.com", "analyst", "$argon2id$secret", "t")
    assert "argon2" not in repr(user)

    item = {"pk": "p", "sk": "s", "key_id": "key_1", "name": "ci", "role": "viewer", "created_at": "t"}
    key = api_key_record({**item, "secret_digest": "d"})
    assert key == ApiKeyRecord("key_1", "ci", "viewer", "t")
    grant = api_key_grant({"kind": "api_key", "client_id": "cl_1", "key_id": "key_1", "role": "viewer"})
    assert grant == ApiKeyGrant("cl_1", "key_1", "viewer")


def test_given_a_catalog_row_written_before_grains_then_it_reads_daily_with_float_statistics() -> None:
    old = {"sku": "A", "demand_class": "smooth", "adi": 1, "cv2": 0, "n_periods": 30, "total_quantity": 12}
    entry = entry_record(old)
    assert entry == CatalogEntry(
        sku="A", demand_class="smooth", adi=1.0, cv2=0.0, n_periods=30, total_quantity=12.0, granularity="D"
    )
    assert (type(entry.adi), type(entry.cv2), type(entry.total_quantity), type(entry.n_periods)) == (
        float,
        float,
        float,
        int,
    )
