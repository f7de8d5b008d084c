"""Demand uploads: the upload record (DynamoDB) and the uploaded object (S3).

Item (keys.py): CLIENT#<c> / UPLOAD#<upload_id>: status AWAITING_FILE|PROCESSING|SUCCEEDED|
PARTIAL|REJECTED, filename, aggregate, created_at, finished_at, the report (rows_*, skus_touched,
errors) and, while PROCESSING, the claim: `claim` (a token naming the invocation that holds it)
and `lease_until` (epoch seconds; the holder renews it while it works). `merge_started_at` is set
(once, by the claim holder) before the first demand write, so a failed upload can tell the tenant
whether part of it may be stored, with `merge_skus` (how many SKUs the merge will store) and
`merge_progress` (per claim token, {"through": sku, "skus": n}: the merge has stored the first n
SKUs in SKU order, through sku), which every series transaction of the merge updates in the same
all-or-nothing write. Until it finishes the item is on the gsi1 work list
PROCESSING_UPLOADS / <deadline>#<client>#<upload> (the sweeper's): AWAITING_FILE until its form
has expired, then PROCESSING until its stall deadline; finishing leaves it.

Lock item: CLIENT#<c> / INGEST_LOCK: `holder` (a token new with every acquisition), `upload_id`
(whose merge holds it) and `lease_until`. One upload at a time merges into the tenant's demand
store (read, merge, write is not atomic across items otherwise). The holder's token is also a
fencing token: every demand write checks it in the same transaction (`fence`), so a holder that
stalled past its lease cannot write once another has taken the lock.

Upload ids sort by creation time, so the newest-first list is one reverse query.
"""

from __future__ import annotations

from typing import Any, BinaryIO, cast

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from skucast.aws import client, table
from skucast.records import FINISHED_UPLOAD, UploadRecord, UploadStatus
from skucast.repositories import dynamo
from skucast.repositories.keys import (
    PROCESSING_UPLOADS,
    UPLOAD_PREFIX,
    ingest_lock_sk,
    processing_upload_gsi1sk,
    tenant_pk,
    upload_id_of,
    upload_sk,
)

TERMINAL = FINISHED_UPLOAD


def _key(client_id: str, upload_id: str) -> dict[str, str]:
    return {"pk": tenant_pk(client_id), "sk": upload_sk(upload_id)}


def work_list_entry(client_id: str, upload_id: str, stall_deadline: str) -> dict[str, str]:
    """The attributes that put an upload on the sweeper's work list until `stall_deadline` (its
    form's expiry while AWAITING_FILE, its claim's stall deadline while PROCESSING)."""
    return {"gsi1pk": PROCESSING_UPLOADS, "gsi1sk": processing_upload_gsi1sk(stall_deadline, client_id, upload_id)}


def create_upload(table_name: str, client_id: str, upload: dict[str, Any]) -> None:
    table(table_name).put_item(
        Item={**_key(client_id, upload["upload_id"]), "schema_version": 1, **upload},
        ConditionExpression="attribute_not_exists(pk)",
    )


def upload_record(item: dict[str, Any]) -> UploadRecord:
    """An upload item as an UploadRecord: numbers converted here, once; a field an older item
    lacks (a report before warnings, an upload before declared formats) reads as its default."""
    plain = dynamo.plain(item)

    return UploadRecord(
        upload_id=str(plain["upload_id"]),
        status=UploadStatus(plain["status"]),
        created_at=str(plain["created_at"]),
        kind=str(plain.get("kind") or "demand"),
        source=str(plain.get("source") or "file"),
        filename=plain.get("filename"),
        aggregate=str(plain.get("aggregate") or "reject"),
        granularity=plain.get("granularity"),
        missing=str(plain.get("missing") or "zero"),
        delimiter=plain.get("delimiter"),
        decimal=plain.get("decimal"),
        date_format=plain.get("date_format"),
        started_at=plain.get("started_at"),
        finished_at=plain.get("finished_at"),
        claim=plain.get("claim"),
        lease_until=dynamo.count(plain, "lease_until"),
        merge_started_at=plain.get("merge_started_at"),
        merge_skus=dynamo.count(plain, "merge_skus"),
        merge_progress=plain.get("merge_progress") if isinstance(plain.get("merge_progress"), dict) else None,
        attempts=dynamo.count(plain, "attempts"),
        rows_total=dynamo.count(plain, "rows_total"),
        rows_accepted=dynamo.count(plain, "rows_accepted"),
        rows_rejected=dynamo.count(plain, "rows_rejected"),
        skus_touched=dynamo.count(plain, "skus_touched"),
        errors=list(plain.get("errors") or []),
        error_summary=list(plain.get("error_summary") or []),
        warnings=list(plain.get("warnings") or []),
    )


def get_upload(table_name: str, client_id: str, upload_id: str) -> UploadRecord | None:
    item = dynamo.get(table_name, tenant_pk(client_id), upload_sk(upload_id))
    return upload_record(item) if item else None


def page_uploads(
    table_name: str, client_id: str, limit: int, after_upload_id: str | None
) -> tuple[list[UploadRecord], str | None]:
    """Newest first (upload ids sort by creation time)."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(tenant_pk(client_id)) & Key("sk").begins_with(UPLOAD_PREFIX),
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if after_upload_id:
        kwargs["ExclusiveStartKey"] = _key(client_id, after_upload_id)
    page = table(table_name).query(**kwargs)
    items = [upload_record(dict(i)) for i in page.get("Items", [])]
    last = page.get("LastEvaluatedKey")
    return items, (upload_id_of(str(last["sk"])) if last else None)


def claim(
    table_name: str,
    client_id: str,
    upload_id: str,
    token: str,
    now: int,
    lease_until: int,
    started_at: str,
    stall_deadline: str,
) -> bool:
    """AWAITING_FILE -> PROCESSING, or take over a PROCESSING whose holder stopped renewing (a
    crashed invocation). False when the upload is finished or someone else holds a live lease.
    Each claim puts the upload on the sweeper's work list until `stall_deadline`."""
    entry = work_list_entry(client_id, upload_id, stall_deadline)
    return dynamo.conditional(
        table(table_name).update_item,
        Key=_key(client_id, upload_id),
        UpdateExpression="SET #s = :processing, #c = :token, lease_until = :lease, gsi1pk = :wl, gsi1sk = :due, "
        "started_at = if_not_exists(started_at, :started) ADD attempts :one",
        ConditionExpression="attribute_exists(pk) AND (#s = :awaiting OR (#s = :processing AND lease_until < :now))",
        ExpressionAttributeNames={"#s": "status", "#c": "claim"},
        ExpressionAttributeValues={
            ":processing": "PROCESSING",
            ":awaiting": "AWAITING_FILE",
            ":token": token,
            ":lease": lease_until,
            ":now": now,
            ":started": started_at,
            ":one": 1,
            ":wl": entry["gsi1pk"],
            ":due": entry["gsi1sk"],
        },
    )


def renew(table_name: str, client_id: str, upload_id: str, token: str, lease_until: int) -> bool:
    """Extend the holder's lease; False when the claim was lost (another invocation took over)."""
    return _update_held(table_name, client_id, upload_id, token, "SET lease_until = :lease", {":lease": lease_until})


def release(table_name: str, client_id: str, upload_id: str, token: str) -> bool:
    """Give the claim up after a failure, so the retry need not wait for the lease to lapse."""
    return _update_held(table_name, client_id, upload_id, token, "SET lease_until = :zero", {":zero": 0})


def mark_merging(table_name: str, client_id: str, upload_id: str, token: str, at: str, skus: int) -> bool:
    """Note, before the first demand write, that this upload may now be stored in part, and of how
    many SKUs (the merge's progress is kept beside it: merge_progress)."""
    update = (
        "SET merge_started_at = if_not_exists(merge_started_at, :at), merge_skus = :skus, "
        "merge_progress = if_not_exists(merge_progress, :none)"
    )
    return _update_held(table_name, client_id, upload_id, token, update, {":at": at, ":skus": skus, ":none": {}})


def merge_progress(client_id: str, upload_id: str, token: str, through: str, skus: int) -> dict[str, Any]:
    """The transaction action recording that the merge under claim `token` has stored the upload's
    first `skus` SKUs in SKU order, through `through`. Each claim (attempt) keeps its own entry, so
    a retry that starts again from the first SKU never hides how far an earlier attempt got."""
    return {
        "Update": {
            "Key": _key(client_id, upload_id),
            "UpdateExpression": "SET merge_progress.#claim = :progress",
            "ExpressionAttributeNames": {"#claim": token},
            "ExpressionAttributeValues": {":progress": {"through": through, "skus": skus}},
        }
    }


def stored_progress(record: UploadRecord) -> tuple[int, str | None] | None:
    """How far the upload's merges got: (SKUs stored, the last of them in SKU order), the furthest
    of its attempts; (0, None) when none wrote a series; None when unknown (an upload whose merge
    began before progress was recorded)."""
    progress = record.merge_progress
    if progress is None:
        return None
    furthest = max(progress.values(), key=lambda p: int(p["skus"]), default=None)
    return (int(furthest["skus"]), str(furthest["through"])) if furthest else (0, None)


def _sets(fields: dict[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
    names = {f"#f{i}": k for i, k in enumerate(fields)}
    values: dict[str, Any] = {f":v{i}": v for i, v in enumerate(fields.values())}
    return ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))), names, values


def finish(table_name: str, client_id: str, upload_id: str, token: str | None, fields: dict[str, Any]) -> bool:
    """PROCESSING -> the outcome with its report, only by the claim holder (`token`)."""
    sets, names, values = _sets(fields)
    update = f"SET {sets} REMOVE lease_until, gsi1pk, gsi1sk"
    return _update_held(table_name, client_id, upload_id, token, update, values, names)


def fail(table_name: str, client_id: str, seen: UploadRecord, now: int, fields: dict[str, Any]) -> bool:
    """An upload nobody is working on -> the outcome in `fields`, only if it is still as `seen`:
    AWAITING_FILE, or PROCESSING under the same claim, lapsed, and with the same merge marker (a
    holder that comes back to life cannot start merging, or renew, in between unnoticed). It stays
    on the work list until the caller has released its merge lock (leave_work_list)."""
    sets, names, values = _sets(fields)
    if seen.status is UploadStatus.AWAITING_FILE:
        condition = "#status = :awaiting"
        values[":awaiting"] = UploadStatus.AWAITING_FILE.value
    else:
        marker = "attribute_exists" if seen.merge_started_at is not None else "attribute_not_exists"
        condition = f"#status = :processing AND #claim = :claim AND lease_until < :now AND {marker}(merge_started_at)"
        values.update({":processing": UploadStatus.PROCESSING.value, ":claim": seen.claim, ":now": now})
        names["#claim"] = "claim"
    return dynamo.conditional(
        table(table_name).update_item,
        Key=_key(client_id, seen.upload_id),
        UpdateExpression=f"SET {sets} REMOVE lease_until",
        ConditionExpression=condition,
        ExpressionAttributeNames={**names, "#status": "status"},
        ExpressionAttributeValues=values,
    )


def leave_work_list(table_name: str, client_id: str, upload_id: str) -> bool:
    return dynamo.conditional(
        table(table_name).update_item,
        Key=_key(client_id, upload_id),
        UpdateExpression="REMOVE gsi1pk, gsi1sk",
        ConditionExpression="attribute_exists(pk)",
    )


def _update_held(
    table_name: str,
    client_id: str,
    upload_id: str,
    token: str | None,
    update: str,
    values: dict[str, Any],
    names: dict[str, str] | None = None,
) -> bool:
    return dynamo.conditional(
        table(table_name).update_item,
        Key=_key(client_id, upload_id),
        UpdateExpression=update,
        ConditionExpression="#status = :processing AND #claim = :token",
        ExpressionAttributeNames={**(names or {}), "#status": "status", "#claim": "claim"},
        ExpressionAttributeValues={**values, ":processing": "PROCESSING", ":token": token},
    )


# ---------------------------------------------------------------- the tenant's merge lock
def _lock_key(client_id: str) -> dict[str, str]:
    return {"pk": tenant_pk(client_id), "sk": ingest_lock_sk()}


def acquire_lock(table_name: str, client_id: str, token: str, upload_id: str, now: int, lease_until: int) -> bool:
    """Take the tenant's merge lock if it is free or its holder stopped renewing."""
    try:
        return dynamo.conditional(
            table(table_name).put_item,
            Item={**_lock_key(client_id), "holder": token, "upload_id": upload_id, "lease_until": lease_until},
            ConditionExpression="attribute_not_exists(pk) OR lease_until < :now OR holder = :token",
            ExpressionAttributeValues={":now": now, ":token": token},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "TransactionConflictException":
            return False  # the holder's merge transaction is checking the lock right now: it is busy
        raise


def renew_lock(table_name: str, client_id: str, token: str, lease_until: int) -> bool:
    return dynamo.conditional(
        table(table_name).update_item,
        Key=_lock_key(client_id),
        UpdateExpression="SET lease_until = :lease",
        ConditionExpression="holder = :token",
        ExpressionAttributeValues={":lease": lease_until, ":token": token},
    )


def release_lock(table_name: str, client_id: str, token: str) -> bool:
    return dynamo.conditional(
        table(table_name).delete_item,
        Key=_lock_key(client_id),
        ConditionExpression="holder = :token",
        ExpressionAttributeValues={":token": token},
    )


def release_lock_of(table_name: str, client_id: str, upload_id: str) -> bool:
    """Release the tenant's merge lock if a (stuck) invocation of this upload holds it; its holder's
    further demand writes are then refused by the fence."""
    return dynamo.conditional(
        table(table_name).delete_item,
        Key=_lock_key(client_id),
        ConditionExpression="upload_id = :upload",
        ExpressionAttributeValues={":upload": upload_id},
    )


def fence(client_id: str, token: str) -> dict[str, Any]:
    """The transaction action that holds only while `token` still holds the tenant's merge lock."""
    return {
        "ConditionCheck": {
            "Key": _lock_key(client_id),
            "ConditionExpression": "holder = :token",
            "ExpressionAttributeValues": {":token": token},
        }
    }


# ---------------------------------------------------------------- the uploaded object
def presign_post(bucket: str, key: str, max_bytes: int, expires_in: int) -> dict[str, Any]:
    """A browser-style POST form for exactly `key`, at most `max_bytes` (S3 enforces both)."""
    return dict(
        client("s3").generate_presigned_post(
            Bucket=bucket,
            Key=key,
            Conditions=[["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_in,
        )
    )


def object_size(bucket: str, key: str) -> int | None:
    """The object's size in bytes, or None when it does not exist (any more)."""
    try:
        return int(client("s3").head_object(Bucket=bucket, Key=key)["ContentLength"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def open_object(bucket: str, key: str) -> BinaryIO:
    """The object's body as a stream (read in blocks; never loaded whole)."""
    return cast(BinaryIO, client("s3").get_object(Bucket=bucket, Key=key)["Body"])
