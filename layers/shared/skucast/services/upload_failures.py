"""Uploads that can no longer finish on their own end with a problem the tenant can read.

An upload gets stuck in two ways. Its S3 event failed every retry: Lambda sends the invocation
record to IngestDLQ and `record_dead_letter` fails the upload (AWAITING_FILE when it never got as
far as its claim). Or the invocation holding it died with no retry to come (a POST /demand that
crashed, a retry that never arrived): its claim stops being renewed, and `sweep_stalled`, run by
the scheduler every 10 minutes, fails every upload still PROCESSING past its stall deadline. A
file upload whose form expired with no file in S3 can never start (S3 refuses the POST after the
form's expiry): the sweeper ends it too, `upload_expired`.

The contract's upload statuses have no FAILED: a stuck upload becomes REJECTED (terminal, as the
client and CLI already treat it) with one file-level error whose code says why: `ingest_failed`
(every retry failed), `ingest_stalled` (no progress) or `upload_expired` (no file came). Its
message says exactly how much of the data is stored: nothing (no merge began, or none of its
series transactions went in), or the first n of its SKUs in SKU order, through the SKU it names
(the merge records its progress in the same transaction as each write of series: see
repositories/uploads.merge_progress); `skus_touched` is that n. No path touches demand.

Failing is conditional on the upload being exactly as read, with no live claim, so a holder that
comes back wins or loses cleanly; a live claim is waited for (the dead letter is retried later,
the sweeper looks again next time). After failing, the tenant's merge lock is released if this
upload holds it (its fence then refuses any late write), and only then does the upload leave the
sweeper's work list: a crash in between is finished by the next sweep. Idempotent throughout.

This module imports no ingestion code (pyarrow, numpy): it runs in the scheduler's small package.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event

from skucast import clock, ids
from skucast.observability import logger, metrics
from skucast.records import UploadRecord, UploadStatus
from skucast.repositories import uploads as repo
from skucast.repositories import worklists
from skucast.repositories.keys import client_id_of, parse_upload_object_key, upload_object_key
from skucast.settings import Settings

Outcome = Literal["failed", "finished", "busy"]
MAX_ATTEMPTS = 5  # reads and conditional writes of one upload that keeps changing under us

_AGAIN = {"file": "Upload the file again", "records": "Send the records again"}
_WHY = {
    "ingest_failed": "Processing this upload failed on every retry",
    "ingest_stalled": "Processing this upload stopped making progress and was abandoned",
    "upload_expired": "No file arrived before this upload's form expired (POST /uploads gives a new one)",
}


class Unreadable(Exception):
    """A dead letter that is not an S3 event (nor an invocation record carrying one)."""


class UploadBusy(Exception):
    """A live claim holds the upload: it may still finish; look again later."""


def locate(settings: Settings, object_key: str) -> tuple[str, str, UploadRecord] | None:
    """(client_id, upload_id, record) of the file upload an S3 object key names, or None.

    The tenant and upload come from the key alone (the presigned POST pinned it under the
    tenant's prefix), then the record is loaded by that key: nothing else in an event is trusted.
    """
    parsed = parse_upload_object_key(unquote_plus(object_key))
    if parsed is None or not ids.is_id(parsed[1], "upl"):
        logger.warning("object outside the upload layout ignored")
        return None
    client_id, upload_id = parsed
    try:
        record = repo.get_upload(settings.table_name, client_id, upload_id)
    except ValueError:  # a client id no key can hold
        record = None
    if record is None or record.source != "file":
        logger.warning("object without an upload record ignored", extra={"upload_id": upload_id})
        return None
    return client_id, upload_id, record


def _problem(code: str, record: UploadRecord) -> tuple[dict[str, Any], int]:
    """The file-level error for `code`, saying what is stored, and how many SKUs are."""
    again = _AGAIN.get(record.source, _AGAIN["file"])
    progress = repo.stored_progress(record) if record.merge_started_at is not None else (0, None)
    if progress is None:  # a merge begun before its progress was recorded
        stored, skus = (
            f"part of it may already be stored. {again} to store all of it (stored rows are written again).",
            0,
        )
    elif progress[0] == 0:
        stored, skus = f"nothing from it was stored. {again}.", 0
    else:
        skus, through = progress
        total = record.merge_skus or skus
        rest = (
            f"the other {total - skus:,} (after {through!r}) were not"
            if total > skus
            else "that is all of them, but the upload did not finish"
        )
        stored = (
            f"its rows for the first {skus:,} of its {total:,} SKUs in SKU order, through {through!r}, are stored "
            f"(apart from any whose grain did not fit) and {rest}. {again} to store all of it and bring the SKU "
            "list up to date (stored rows are written again)."
        )
    return {"row": None, "column": None, "code": code, "message": f"{_WHY[code]}; {stored}"}, skus


def fail_upload(settings: Settings, client_id: str, upload_id: str, code: str) -> Outcome:
    """REJECTED with the `code` problem, unless it has finished or a live claim holds it; then its
    merge lock is released and it leaves the sweeper's work list (both also when it had finished)."""
    outcome = _mark_failed(settings, client_id, upload_id, code)
    if outcome != "busy":
        repo.release_lock_of(settings.table_name, client_id, upload_id)
        repo.leave_work_list(settings.table_name, client_id, upload_id)
    return outcome


def _mark_failed(settings: Settings, client_id: str, upload_id: str, code: str) -> Outcome:
    for _ in range(MAX_ATTEMPTS):
        record = repo.get_upload(settings.table_name, client_id, upload_id)
        if record is None or record.finished:
            return "finished"
        now = clock.epoch_seconds()
        if record.status is UploadStatus.PROCESSING and record.lease_until >= now:
            return "busy"
        problem, stored = _problem(code, record)
        fields = {
            "status": "REJECTED",
            "skus_touched": stored,
            "errors": [problem],
            "error_summary": [{"code": code, "count": 1, "first_rows": []}],
            "finished_at": clock.now_iso(),
        }
        if repo.fail(settings.table_name, client_id, record, now, fields):
            logger.warning("stuck upload failed", extra={"client_id": client_id, "upload_id": upload_id, "code": code})
            metrics.add_metric(name="UploadsFailed", unit="Count", value=1)
            return "failed"
        # It changed between the read and the write (its holder came back to life): read it again.
    return "busy"


def record_dead_letter(settings: Settings, body: str) -> list[Outcome]:
    """An IngestDLQ message: fail the upload of every S3 record in the event that failed.

    The message is Lambda's invocation record of an on-failure destination ({requestContext,
    requestPayload: the S3 event, responseContext, responsePayload}), or the S3 event itself as a
    Lambda DLQ sends it (kept readable for messages queued before the switch to a destination).
    Raises UploadBusy while a live claim holds one of them (the message is retried later).
    """
    objects, context = _failed_objects(body)
    outcomes: list[Outcome] = []
    for bucket, key in objects:
        if bucket != settings.data_bucket:
            logger.warning("dead letter for an object of an unexpected bucket ignored")
            continue
        located = locate(settings, key)
        if located is None:
            continue
        client_id, upload_id, _ = located
        logger.error(
            "upload's S3 event failed every retry",
            extra={"client_id": client_id, "upload_id": upload_id, **context},
        )
        outcome = fail_upload(settings, client_id, upload_id, "ingest_failed")
        if outcome == "busy":
            raise UploadBusy(upload_id)
        outcomes.append(outcome)
    return outcomes


def _failed_objects(body: str) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """(bucket, key) of each record of the failed S3 event, and what Lambda said of the failure."""
    try:
        message = json.loads(body)
        event = S3Event(message.get("requestPayload", message))
        objects = [(str(r.s3.bucket.name), str(r.s3.get_object.key)) for r in event.records]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise Unreadable(f"{type(exc).__name__}: {exc}") from None
    request, response = message.get("requestContext"), message.get("responsePayload")
    context = {
        "condition": request.get("condition") if isinstance(request, dict) else None,
        "error": response.get("errorMessage") if isinstance(response, dict) else None,
    }
    return objects, context


def sweep_stalled(settings: Settings, now: datetime | None = None) -> dict[str, int]:
    """Fail the uploads still PROCESSING past their stall deadline whose claim has lapsed, and end
    those still AWAITING_FILE past their form's expiry with no file in S3."""
    outcome = {"uploads_failed": 0, "uploads_expired": 0, "uploads_busy": 0}
    for item in worklists.stalled_uploads(settings.table_name, now or clock.now()):
        client_id = client_id_of(str(item["pk"]))
        upload_id = str(item["upload_id"])
        code = "ingest_stalled"
        if item.get("status") == "AWAITING_FILE":
            if repo.object_size(settings.data_bucket, upload_object_key(client_id, upload_id)) is not None:
                # The file came in time: its S3 event is still on its way (retries), or its dead letter.
                outcome["uploads_busy"] += 1
                continue
            code = "upload_expired"
        result = fail_upload(settings, client_id, upload_id, code)
        if result == "busy":
            outcome["uploads_busy"] += 1
        elif result == "failed":
            outcome["uploads_expired" if code == "upload_expired" else "uploads_failed"] += 1
    return outcome
