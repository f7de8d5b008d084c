"""Demand uploads: two doors, one code path.

- File door: `create_upload` records AWAITING_FILE and hands out a presigned POST pinned to
  uploads/<client_id>/<upload_id>; S3's object-created event runs `ingest_object`.
- Records door: `ingest_records` (POST /demand) validates JSON records synchronously.
Both end in `_settle`: the ingestion domain's result merged by services.demand.apply_points, and
the report written on the upload record.

Exactly one ingest per upload, recoverable after a crash: the ingester moves the record
AWAITING_FILE -> PROCESSING with a conditional write that also stores a claim token and a lease
(LEASE_SECONDS, renewed while it reads and writes). A duplicate event finds the upload finished
and stops, or finds a live lease and waits for the holder to finish. A holder that crashed stops
renewing; the retry of its event finds the lease lapsed and takes the upload over. Redoing the
merge is safe: applying the same points again changes nothing (services/demand.py).

One merge at a time per tenant: after validation, an ingest takes the tenant's merge lock (a
leased item, renewed while it writes) so that two uploads touching one SKU cannot both read the
old series and lose each other's points. A lease alone cannot stop a holder that stalls past it
(a long pause, throttled retries) from writing after another took the lock, so every demand write
also checks, in its transaction, that the lock's token is still this holder's (a fencing token):
the stalled holder's write is refused (Fenced) and its upload retried. Waiting uploads keep their
own claim alive. POST /demand waits a few seconds for the lock, then answers 409 without recording
anything.

One file per upload: the first event to claim the upload reads the object as it is then; another
POST to the same form later is ignored (make a new upload for a new file).

An upload that can no longer finish (its event failed every retry, or its holder died with no
retry to come) is ended REJECTED by services/upload_failures.py.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping
from typing import IO, Any, Protocol, TypeVar, cast

from skucast import ids
from skucast.attributes import AttributeIngestResult
from skucast.clock import epoch_seconds, now_iso, today
from skucast.drivers import DriverIngestResult
from skucast.errors import Conflict, FieldError, NotFound, PayloadTooLarge, Unprocessable
from skucast.ingestion import (
    ZERO_MISSING,
    IngestLimits,
    IngestResult,
    IngestStatus,
    ReadOptions,
    RowError,
    SeriesPolicy,
    ingest_file,
    ingest_records,
)
from skucast.ingestion.csv_door import FileIngestResult, FileLimits, refusal
from skucast.observability import logger, metrics
from skucast.pagination import decode_after, encode_after
from skucast.records import UploadRecord
from skucast.repositories import uploads as repo
from skucast.repositories.keys import upload_object_key
from skucast.schemas.attributes import MAX_ATTRIBUTE_RECORDS, AttributeRecordsRequest
from skucast.schemas.demand import (
    MAX_RECORDS,
    CreateUploadRequest,
    DemandRecordsRequest,
    Upload,
    UploadList,
    UploadTicket,
)
from skucast.schemas.drivers import MAX_VALUE_RECORDS, DriverValuesRequest
from skucast.services import attributes as item_attributes
from skucast.services import demand, scoring, upload_failures
from skucast.services import drivers as driver_values
from skucast.settings import Settings

R = TypeVar("R", bound=FileIngestResult)

UPLOAD_LINK_SECONDS = 900
# After the form's expiry S3 refuses the POST; the margin covers clocks and a POST begun just in time.
EXPIRY_GRACE_SECONDS = 300
# A crashed holder's lease lapses within this; the retry of its event (about a minute later)
# waits for that, then takes over. A live holder renews every RENEW_SECONDS.
LEASE_SECONDS = 120
RENEW_SECONDS = 30
WAIT_POLL_SECONDS = 5
WAIT_MARGIN_SECONDS = 60  # stop waiting for a busy holder while there is time left to say so
RECORDS_LOCK_WAIT_SECONDS = 10  # POST /demand answers within API Gateway's 29 s
# No live invocation holds one claim this long (IngestFunction times out at 900 s): an upload still
# PROCESSING this long after its last claim, with that claim lapsed, is failed by the sweeper.
STALL_SECONDS = 1800
LIST_BYTES = 4_000_000  # a page of uploads stays well under Lambda's 6 MB response


class UploadBusy(Exception):
    """Another invocation holds a live claim on this upload: retry the event later."""


class LeaseLost(Exception):
    """Another invocation took this upload over (this one stalled past its lease)."""


class LockLost(Exception):
    """Another ingest took the tenant's merge lock (this one stalled past its lease): retry."""


def limits_for(settings: Settings) -> IngestLimits:
    return IngestLimits(
        max_raw_bytes=settings.max_upload_bytes,
        max_records=MAX_RECORDS,
        max_rejected_share=settings.max_rejected_share,
        max_skus=settings.max_skus_per_upload,
    )


# ---------------------------------------------------------------- the API side
def _check_kind(request: CreateUploadRequest) -> None:
    if request.kind in ("drivers", "attributes") and (request.aggregate != "reject" or request.granularity is not None):
        raise Unprocessable(
            f"A {request.kind} upload takes neither `aggregate: sum` nor `granularity`: a "
            f"{'(sku, date)' if request.kind == 'drivers' else 'SKU'} sent twice is rejected.",
            errors=[FieldError("kind", "not_applicable", "aggregate and granularity apply to demand uploads")],
        )


def create_upload(settings: Settings, client_id: str, request: CreateUploadRequest) -> UploadTicket:
    _check_kind(request)
    upload_id = ids.new_sortable_id("upl")
    repo.create_upload(
        settings.table_name,
        client_id,
        {
            "upload_id": upload_id,
            "status": "AWAITING_FILE",
            "kind": request.kind,
            "source": "file",
            "filename": request.filename,
            "aggregate": request.aggregate,
            "granularity": request.granularity,
            "missing": request.missing,
            # How the file is written, as declared (None: the ingester detects it).
            "delimiter": request.delimiter,
            "decimal": request.decimal,
            "date_format": request.date_format,
            "created_at": now_iso(),
            # On the sweeper's work list until its form has expired: if no file came, it ends.
            **repo.work_list_entry(client_id, upload_id, now_iso(UPLOAD_LINK_SECONDS + EXPIRY_GRACE_SECONDS)),
        },
    )
    form = repo.presign_post(
        settings.data_bucket,
        upload_object_key(client_id, upload_id),
        settings.max_upload_bytes,
        UPLOAD_LINK_SECONDS,
    )
    return UploadTicket(
        upload_id=upload_id,
        url=form["url"],
        fields={str(k): str(v) for k, v in form["fields"].items()},
        expires_in=UPLOAD_LINK_SECONDS,
        max_bytes=settings.max_upload_bytes,
    )


def to_upload(upload: UploadRecord) -> Upload:
    """The API's view of an upload: the record's fields the schema names, validated as the API's."""
    return Upload.model_validate({name: getattr(upload, name) for name in Upload.model_fields})


def get_upload(settings: Settings, client_id: str, upload_id: str) -> Upload:
    item = repo.get_upload(settings.table_name, client_id, upload_id) if ids.is_id(upload_id, "upl") else None
    if item is None:
        raise NotFound("No such upload.")
    return to_upload(item)


def list_uploads(settings: Settings, client_id: str, limit: int, cursor: str | None) -> UploadList:
    after = decode_after(cursor, "uploads", lambda v: ids.is_id(v, "upl"))
    items, last = repo.page_uploads(settings.table_name, client_id, limit, after)
    # Each upload carries up to 100 errors: end the page early rather than pass 6 MB.
    size = 0
    uploads = [to_upload(i) for i in items]
    for n, upload in enumerate(uploads):
        size += len(upload.model_dump_json())
        if size > LIST_BYTES and n:
            uploads, last = uploads[:n], uploads[n - 1].upload_id
            break
    return UploadList(items=uploads, next_cursor=encode_after("uploads", last))


def ingest_demand_records(settings: Settings, client_id: str, request: DemandRecordsRequest) -> Upload:
    """POST /demand: the records door, synchronous, recorded as an upload like a file."""
    if len(request.records) > MAX_RECORDS:
        raise PayloadTooLarge(f"At most {MAX_RECORDS} records per request: upload a file for more.")
    result = ingest_records(request.records, aggregate=request.aggregate, limits=limits_for(settings), today=today())
    upload_id, token = ids.new_sortable_id("upl"), ids.new_id("clm")
    lock = MergeLock(settings.table_name, client_id, upload_id) if _mergeable(result) else None
    if lock and not lock.acquire(RECORDS_LOCK_WAIT_SECONDS, lambda: None):
        raise Conflict("Another upload of this client is being merged; retry in a few seconds.")
    try:
        repo.create_upload(
            settings.table_name,
            client_id,
            _records_upload_item(
                client_id,
                upload_id,
                token,
                aggregate=request.aggregate,
                granularity=request.granularity,
                missing=request.missing,
            ),
        )
        lease = _Lease(settings, client_id, upload_id, token)
        policy = SeriesPolicy(request.granularity, request.missing)
        _settle(settings, client_id, upload_id, result, lease, lock, policy)
    finally:
        if lock:
            lock.release()
    return get_upload(settings, client_id, upload_id)


def _records_upload_item(client_id: str, upload_id: str, token: str, **fields: Any) -> dict[str, Any]:
    """A records door's upload: claimed by this request from the start (`fields`: what its kind adds)."""
    return {
        "upload_id": upload_id,
        "status": "PROCESSING",
        "source": "records",
        "filename": None,
        **fields,
        "created_at": now_iso(),
        "started_at": now_iso(),
        "claim": token,
        "lease_until": epoch_seconds() + LEASE_SECONDS,
        **repo.work_list_entry(client_id, upload_id, now_iso(STALL_SECONDS)),
    }


def _start_records_upload(settings: Settings, client_id: str, kind: str) -> tuple[str, _Lease]:
    """A side kind's records upload (drivers, attributes), recorded as claimed by this request."""
    upload_id, token = ids.new_sortable_id("upl"), ids.new_id("clm")
    repo.create_upload(settings.table_name, client_id, _records_upload_item(client_id, upload_id, token, kind=kind))
    return upload_id, _Lease(settings, client_id, upload_id, token)


# ---------------------------------------------------------------- the S3 side
def ingest_object(object_key: str, settings: Settings, time_left: Callable[[], float] = lambda: 900.0) -> int:
    """Ingest one uploaded object; returns 1 when this call processed the upload, 0 when not.

    The tenant and upload come from the key (the presigned POST pinned it); nothing else in the
    event is trusted. `time_left` is the invocation's remaining seconds (for waiting on a holder).
    """
    located = upload_failures.locate(settings, object_key)
    if located is None:
        return 0
    client_id, upload_id, record = located
    key = upload_object_key(client_id, upload_id)
    size = repo.object_size(settings.data_bucket, key)
    if size is None:
        logger.warning("uploaded object is gone", extra={"upload_id": upload_id})
        return 0
    lease = _claim(settings, client_id, upload_id, time_left)
    if lease is None:
        logger.info("upload already ingested: duplicate event ignored", extra={"upload_id": upload_id})
        return 0
    if record.kind == "drivers":
        return _ingest_drivers_object(settings, client_id, upload_id, key, size, lease)
    if record.kind == "attributes":
        return _ingest_attributes_object(settings, client_id, upload_id, key, size, lease)

    def ingest_demand() -> None:
        result = _read(settings, key, size, record.aggregate, read_options(record), lease)
        lock = MergeLock(settings.table_name, client_id, upload_id) if _mergeable(result) else None
        if lock and not lock.acquire(max(0.0, time_left() - WAIT_MARGIN_SECONDS), lease.renew):
            raise UploadBusy(upload_id)  # retried later; the claim is released below
        try:
            _settle(settings, client_id, upload_id, result, lease, lock, series_policy(record))
        finally:
            if lock:
                lock.release()

    return _under_lease(upload_id, lease, ingest_demand)


def _under_lease(upload_id: str, lease: _Lease, ingest: Callable[[], None]) -> int:
    """Runs one upload's ingest while this invocation holds its claim: 1 when done, 0 when another
    invocation took the upload over. Any other failure releases the claim and propagates."""
    try:
        ingest()
    except LeaseLost:
        logger.warning("upload taken over by another invocation", extra={"upload_id": upload_id})
        return 0
    except BaseException:
        lease.release()  # the retry may start at once instead of waiting for the lease to lapse
        raise
    return 1


def _read_side_file(
    settings: Settings,
    key: str,
    size: int,
    lease: _Lease,
    limits: FileLimits,
    result_type: type[R],
    a_file: str,
    validate: Callable[[IO[bytes]], R],
) -> R:
    """A side file (drivers, attributes) validated whole; `a_file` names it in the size refusal."""
    if size > limits.max_raw_bytes:
        return refusal(result_type, "file_too_large", f"{a_file} is at most {limits.max_raw_bytes} bytes")
    body = repo.open_object(settings.data_bucket, key)
    try:
        return validate(cast(IO[bytes], _Renewing(body, lease)))
    finally:
        body.close()


class _SideResult(Protocol):
    @property
    def status(self) -> IngestStatus: ...
    @property
    def skus_touched(self) -> int: ...
    @property
    def values(self) -> Mapping[str, object]: ...
    def report(self) -> dict[str, object]: ...


def _settle_side(
    settings: Settings,
    client_id: str,
    upload_id: str,
    result: _SideResult,
    lease: _Lease,
    merge: Callable[[], dict[str, Any] | None],
    rows_metric: str,
) -> None:
    """Merge a side upload's accepted values (nothing when REJECTED), then write its report;
    `merge` returns the report when merging changes it."""
    report: dict[str, Any] = result.report()
    if result.status is not IngestStatus.REJECTED and result.values:
        if not repo.mark_merging(
            settings.table_name, client_id, upload_id, lease.token, now_iso(), result.skus_touched
        ):
            raise LeaseLost(upload_id)
        merged = merge()
        if merged is not None:
            report = merged
    report["finished_at"] = now_iso()
    if not repo.finish(settings.table_name, client_id, upload_id, lease.token, report):
        raise LeaseLost(upload_id)
    metrics.add_metric(name=f"Uploads{str(report['status']).title()}", unit="Count", value=1)
    metrics.add_metric(name=rows_metric, unit="Count", value=report["rows_accepted"])


def _ingest_drivers_object(
    settings: Settings, client_id: str, upload_id: str, key: str, size: int, lease: _Lease
) -> int:
    """A drivers file: validated whole against the tenant's declarations, then merged. No merge
    lock: each (driver, SKU) item is written with optimistic concurrency (services/drivers.py)."""

    def ingest() -> None:
        drivers = driver_values.declared(settings, client_id)
        result = _read_side_file(
            settings,
            key,
            size,
            lease,
            driver_values.limits_for(settings),
            DriverIngestResult,
            "a drivers file",
            lambda stream: driver_values.validate_file(settings, drivers, stream, today()),
        )
        _settle_drivers(settings, client_id, upload_id, result, drivers, lease)

    return _under_lease(upload_id, lease, ingest)


def _settle_drivers(
    settings: Settings,
    client_id: str,
    upload_id: str,
    result: DriverIngestResult,
    drivers: dict[str, Any],
    lease: _Lease,
) -> None:
    def merge() -> dict[str, Any]:
        outcome = driver_values.apply_values(settings, client_id, upload_id, result, drivers, lease.renew)
        return driver_values.report_with(result, outcome)

    _settle_side(settings, client_id, upload_id, result, lease, merge, "DriverRowsAccepted")


def ingest_driver_records(settings: Settings, client_id: str, request: DriverValuesRequest) -> Upload:
    """POST /drivers/values: the records door for drivers, synchronous, recorded as an upload."""
    if len(request.records) > MAX_VALUE_RECORDS:
        raise PayloadTooLarge(f"At most {MAX_VALUE_RECORDS} records per request: upload a file for more.")
    drivers = driver_values.declared(settings, client_id)
    result = driver_values.validate_records(settings, drivers, request.records, today())
    upload_id, lease = _start_records_upload(settings, client_id, "drivers")
    _settle_drivers(settings, client_id, upload_id, result, drivers, lease)
    return get_upload(settings, client_id, upload_id)


def _ingest_attributes_object(
    settings: Settings, client_id: str, upload_id: str, key: str, size: int, lease: _Lease
) -> int:
    """An attributes file: validated whole, then merged in versioned rounds (services/attributes.py;
    no merge lock: each round is conditioned on the tenant's attribute version)."""

    def ingest() -> None:
        result = _read_side_file(
            settings,
            key,
            size,
            lease,
            item_attributes.limits_for(settings),
            AttributeIngestResult,
            "an attributes file",
            lambda stream: item_attributes.validate_file(settings, client_id, stream),
        )
        _settle_attributes(settings, client_id, upload_id, result, lease)

    return _under_lease(upload_id, lease, ingest)


def _settle_attributes(
    settings: Settings, client_id: str, upload_id: str, result: AttributeIngestResult, lease: _Lease
) -> None:
    def merge() -> None:
        item_attributes.apply(settings, client_id, upload_id, result, lease.renew)

    _settle_side(settings, client_id, upload_id, result, lease, merge, "AttributeRowsAccepted")


def ingest_attribute_records(settings: Settings, client_id: str, request: AttributeRecordsRequest) -> Upload:
    """POST /attributes: the records door for item attributes, synchronous, recorded as an upload."""
    if len(request.records) > MAX_ATTRIBUTE_RECORDS:
        raise PayloadTooLarge(f"At most {MAX_ATTRIBUTE_RECORDS} records per request: upload a file for more.")
    result = item_attributes.validate_records(settings, client_id, request.records)
    upload_id, lease = _start_records_upload(settings, client_id, "attributes")
    _settle_attributes(settings, client_id, upload_id, result, lease)
    return get_upload(settings, client_id, upload_id)


def _claim(settings: Settings, client_id: str, upload_id: str, time_left: Callable[[], float]) -> _Lease | None:
    """The claim on the upload, or None when it is already finished. Waits while another
    invocation holds a live lease; raises UploadBusy if that outlasts this invocation."""
    while True:
        token = ids.new_id("clm")
        now = epoch_seconds()
        deadline = now_iso(STALL_SECONDS)
        if repo.claim(settings.table_name, client_id, upload_id, token, now, now + LEASE_SECONDS, now_iso(), deadline):
            return _Lease(settings, client_id, upload_id, token)
        record = repo.get_upload(settings.table_name, client_id, upload_id)
        if record is None or record.finished:
            return None
        if time_left() < WAIT_POLL_SECONDS + WAIT_MARGIN_SECONDS:
            raise UploadBusy(upload_id)
        time.sleep(WAIT_POLL_SECONDS)


def series_policy(record: UploadRecord) -> SeriesPolicy:
    """What the upload said of its rows' grain and missing periods (records before: inferred, zero)."""
    return SeriesPolicy(record.granularity, record.missing)


def read_options(record: UploadRecord) -> ReadOptions:
    """The file format the upload declared (each None: detect it)."""
    return ReadOptions(delimiter=record.delimiter, decimal=record.decimal, date_format=record.date_format)


def _read(settings: Settings, key: str, size: int, aggregate: str, options: ReadOptions, lease: _Lease) -> IngestResult:
    limits = limits_for(settings)
    if size > limits.max_raw_bytes:
        # S3 enforces the form's content-length-range; emulators and old forms may not.
        return IngestResult(
            IngestStatus.REJECTED,
            errors=[RowError(None, None, "file_too_large", f"the file is larger than {limits.max_raw_bytes} bytes")],
        )
    body = repo.open_object(settings.data_bucket, key)
    try:
        stream = cast(IO[bytes], _Renewing(body, lease))
        return ingest_file(stream, aggregate=aggregate, limits=limits, today=today(), options=options)
    finally:
        body.close()


def _mergeable(result: IngestResult) -> bool:
    return result.status is not IngestStatus.REJECTED and len(result.points) > 0


def _settle(
    settings: Settings,
    client_id: str,
    upload_id: str,
    result: IngestResult,
    lease: _Lease,
    lock: MergeLock | None,
    policy: SeriesPolicy = ZERO_MISSING,
) -> None:
    """Merge what was accepted (nothing when REJECTED), then write the report; both doors."""
    report: dict[str, Any] = result.report()
    if lock is not None:

        def heartbeat() -> None:
            lease.renew()
            lock.renew()

        if not repo.mark_merging(settings.table_name, client_id, upload_id, lease.token, now_iso(), len(result.points)):
            raise LeaseLost(upload_id)

        def progress(through: str, skus: int) -> dict[str, Any]:
            return repo.merge_progress(client_id, upload_id, lease.token, through, skus)

        # Finished runs that forecast these dates are scored against them (services/scoring.py),
        # from the series as this merge stores them.
        arrivals = scoring.Arrivals(settings, client_id, result.points)
        merged = demand.apply_points(
            settings, client_id, upload_id, result.points, heartbeat, lock.fence(), policy, progress, arrivals.keep
        )
        arrivals.score(heartbeat)
        report = _with_grain_mismatches(report, merged, settings)
    report["finished_at"] = now_iso()
    if not repo.finish(settings.table_name, client_id, upload_id, lease.token, report):
        raise LeaseLost(upload_id)
    metrics.add_metric(name=f"Uploads{str(report['status']).title()}", unit="Count", value=1)
    metrics.add_metric(name="DemandRowsAccepted", unit="Count", value=report["rows_accepted"])


def _with_grain_mismatches(report: dict[str, Any], merged: demand.MergeOutcome, settings: Settings) -> dict[str, Any]:
    """The report after the merge: the upload's grain, and the rows of SKUs whose stored grain
    they did not fit (not stored: one error per SKU, ahead of the row errors)."""
    report = {**report, "granularity": merged.granularity}
    if not merged.mismatches:
        return report
    refused = sum(m.rows for m in merged.mismatches)
    accepted = int(report["rows_accepted"]) - refused
    errors = [RowError(None, "date", "granularity_mismatch", m.message).as_dict() for m in merged.mismatches]
    report.update(
        status=(IngestStatus.PARTIAL if accepted else IngestStatus.REJECTED).value,
        rows_accepted=accepted,
        rows_rejected=int(report["rows_rejected"]) + refused,
        skus_touched=int(report["skus_touched"]) - len(merged.mismatches),
        errors=(errors + list(report["errors"]))[: limits_for(settings).max_errors],
    )
    return report


class MergeLock:
    """The tenant's merge lock: leased like an upload claim, renewed between write rounds; its
    token (new for each lock) fences the demand writes made under it. `holder` is the upload
    merging (the sweeper frees the lock of an upload it ends), or an operator command's name."""

    def __init__(self, table_name: str, client_id: str, holder: str) -> None:
        self.table, self.client_id, self.token = table_name, client_id, ids.new_id("lck")
        self.holder = holder
        self.renewed = time.monotonic()

    def acquire(self, patience: float, while_waiting: Callable[[], None]) -> bool:
        deadline = time.monotonic() + patience
        while True:
            now = epoch_seconds()
            if repo.acquire_lock(self.table, self.client_id, self.token, self.holder, now, now + LEASE_SECONDS):
                self.renewed = time.monotonic()
                return True
            if time.monotonic() + WAIT_POLL_SECONDS > deadline:
                return False
            while_waiting()
            time.sleep(WAIT_POLL_SECONDS)

    def renew(self) -> None:
        if time.monotonic() - self.renewed < RENEW_SECONDS:
            return
        if not repo.renew_lock(self.table, self.client_id, self.token, epoch_seconds() + LEASE_SECONDS):
            raise LockLost(self.client_id)
        self.renewed = time.monotonic()

    def fence(self) -> dict[str, Any]:
        return repo.fence(self.client_id, self.token)

    def release(self) -> None:
        try:
            repo.release_lock(self.table, self.client_id, self.token)
        except Exception:  # best effort: the lease lapses on its own
            logger.exception("could not release the merge lock")


class _Lease:
    """The claim this invocation holds; `renew` is cheap to call often (writes every 30 s)."""

    def __init__(self, settings: Settings, client_id: str, upload_id: str, token: str) -> None:
        self.table, self.client_id, self.upload_id, self.token = (
            settings.table_name,
            client_id,
            upload_id,
            token,
        )
        self.renewed = time.monotonic()

    def renew(self) -> None:
        if time.monotonic() - self.renewed < RENEW_SECONDS:
            return
        if not repo.renew(self.table, self.client_id, self.upload_id, self.token, epoch_seconds() + LEASE_SECONDS):
            raise LeaseLost(self.upload_id)
        self.renewed = time.monotonic()

    def release(self) -> None:
        try:
            repo.release(self.table, self.client_id, self.upload_id, self.token)
        except Exception:  # best effort: the lease lapses on its own
            logger.exception("could not release the upload claim")


class _Renewing(io.RawIOBase):
    """The object's body, read block by block by the ingester, renewing the lease as it goes."""

    def __init__(self, body: IO[bytes], lease: _Lease) -> None:
        self._body, self._lease = body, lease

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._lease.renew()
        return n
