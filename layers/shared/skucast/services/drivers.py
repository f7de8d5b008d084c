"""Drivers and the calendar: declare, list, delete; merge validated values; read them back.

Uploads of drivers (file or JSON) are recorded like demand uploads (services/uploads.py owns the
upload record, claim and report); this module validates against the tenant's declarations and
merges the accepted values (skucast.drivers: idempotent, order-independent).

Deleting a driver removes its declaration and marks its generation for purging in one
transaction: from then on nothing reads or writes its values (writers check the generation in
every round). The values are then removed within a time budget; a purge left unfinished is
continued by the next declaration or deletion of any driver of the tenant.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any

from skucast import ids
from skucast.calendars import Calendar, CalendarProblems, Event, parse_calendar
from skucast.clock import now_iso
from skucast.drivers import (
    MAX_DATES_PER_SKU,
    MAX_DRIVERS,
    DriverIngestResult,
    DriverLimits,
    DriverSpec,
    ingest_driver_file,
    ingest_driver_records,
    merge_values,
    name_problem,
)
from skucast.errors import Conflict, FieldError, NotFound, Unprocessable
from skucast.ingestion import IngestStatus, RowError
from skucast.observability import logger
from skucast.records import DriverRecord
from skucast.repositories import catalog
from skucast.repositories import drivers as repo
from skucast.schemas.drivers import (
    CalendarBody,
    CalendarOut,
    Driver,
    DriverList,
    DriverPoint,
    DriverRequest,
    SkuDrivers,
)
from skucast.settings import Settings

PURGE_SECONDS = 10.0  # a DELETE answers within API Gateway's 29 s; the rest continues later
ROUND_ATTEMPTS = 5  # re-reads of a round that met a concurrent writer


def limits_for(settings: Settings) -> DriverLimits:
    return DriverLimits(
        max_raw_bytes=min(settings.max_upload_bytes, DriverLimits.max_raw_bytes),
        max_skus=settings.max_skus_per_upload,
        max_rejected_share=settings.max_rejected_share,
    )


def _to_driver(record: DriverRecord) -> Driver:
    return Driver.model_validate({name: getattr(record, name) for name in Driver.model_fields if hasattr(record, name)})


def _check_name(name: str) -> None:
    problem = name_problem(name)
    if problem:
        raise Unprocessable(problem, errors=[FieldError("name", "invalid_driver_name", problem)])


# ---------------------------------------------------------------- declarations
def declare(settings: Settings, client_id: str, name: str, request: DriverRequest) -> tuple[Driver, bool]:
    """(the driver, True when created / False when its settings were replaced)."""
    _check_name(name)
    continue_purges(settings, client_id, PURGE_SECONDS / 2)
    fields = {
        "kind": request.kind,
        "aggregate": request.aggregate,
        "known_in_advance": request.known_in_advance,
        "description": request.description,
        "updated_at": now_iso(),
    }
    existing = repo.get_driver(settings.table_name, client_id, name)
    if existing is not None and existing.kind != request.kind and existing.skus_with_values:
        raise Conflict(
            f"Driver {name!r} is {existing.kind} and has values: delete it and declare it again to change its kind."
        )
    for _ in range(3):  # a concurrent create or delete of the same name: settle on what is there
        if repo.replace_driver(settings.table_name, client_id, name, fields):
            created = False
            break
        if len(repo.list_drivers(settings.table_name, client_id)) >= MAX_DRIVERS:
            raise Conflict(f"At most {MAX_DRIVERS} drivers per client: delete one first.")
        new = {**fields, "name": name, "generation": ids.new_id("gen"), "created_at": fields["updated_at"]}
        if repo.create_driver(settings.table_name, client_id, new):
            created = True
            break
    else:
        raise Conflict("The driver is being changed by another request; retry.")
    record = repo.get_driver(settings.table_name, client_id, name)
    if record is None:
        raise Conflict("The driver was deleted meanwhile; retry.")
    return _to_driver(record), created


def list_drivers(settings: Settings, client_id: str) -> DriverList:
    return DriverList(items=[_to_driver(r) for r in repo.list_drivers(settings.table_name, client_id)])


def delete(settings: Settings, client_id: str, name: str) -> None:
    record = repo.get_driver(settings.table_name, client_id, name) if name_problem(name) is None else None
    if record is None or not repo.delete_driver(settings.table_name, client_id, record, now_iso()):
        raise NotFound("No such driver.")
    continue_purges(settings, client_id, PURGE_SECONDS)


def continue_purges(settings: Settings, client_id: str, budget: float) -> bool:
    """Remove deleted drivers' values for up to `budget` seconds; True when none is left."""
    deadline = time.monotonic() + budget
    for name, generation in repo.pending_purges(settings.table_name, client_id):
        if not repo.purge(settings.table_name, client_id, name, generation, deadline):
            logger.info("driver purge continues later", extra={"driver": name})
            return False
    return True


def declared(settings: Settings, client_id: str) -> dict[str, DriverRecord]:
    return {r.name: r for r in repo.list_drivers(settings.table_name, client_id)}


def _specs(drivers: Mapping[str, DriverRecord]) -> dict[str, DriverSpec]:
    return {
        n: DriverSpec(n, r.kind, r.aggregate, r.known_in_advance)  # type: ignore[arg-type]
        for n, r in drivers.items()
    }


# ---------------------------------------------------------------- values in
def validate_records(
    settings: Settings, drivers: Mapping[str, DriverRecord], records: list[Any], today: dt.date
) -> DriverIngestResult:
    return ingest_driver_records(records, _specs(drivers), today, limits_for(settings))


def validate_file(
    settings: Settings, drivers: Mapping[str, DriverRecord], stream: IO[bytes], today: dt.date
) -> DriverIngestResult:
    return ingest_driver_file(stream, _specs(drivers), today, limits_for(settings))


@dataclass(frozen=True)
class ValuesOutcome:
    errors: list[RowError]  # per (driver, SKU) refusals found while merging


def apply_values(
    settings: Settings,
    client_id: str,
    upload_id: str,
    result: DriverIngestResult,
    drivers: Mapping[str, DriverRecord],
    heartbeat: Callable[[], None] = lambda: None,
) -> ValuesOutcome:
    """Merge the accepted values, driver by driver, in rounds of SKUs (a round is one transaction;
    re-applying changes nothing, so a retried upload may run this again)."""
    errors: list[RowError] = []
    for name in sorted(result.values):
        per_sku = result.values[name]
        driver = drivers[name]
        skus = sorted(per_sku)
        for start in range(0, len(skus), repo.VALUES_PER_ROUND):
            try:
                errors += _apply_round(
                    settings, client_id, upload_id, driver, per_sku, skus[start : start + repo.VALUES_PER_ROUND]
                )
            except repo.DriverGone:
                errors.append(RowError(None, name, "driver_deleted", f"driver {name!r} was deleted during the upload"))
                break
            heartbeat()
        else:
            dates = [d for values in per_sku.values() for d in values]
            if dates:
                repo.widen_dates(settings.table_name, client_id, name, driver.generation, min(dates), max(dates))
    return ValuesOutcome(errors)


def _apply_round(
    settings: Settings,
    client_id: str,
    upload_id: str,
    driver: DriverRecord,
    per_sku: Mapping[str, Mapping[str, float]],
    skus: list[str],
) -> list[RowError]:
    for _ in range(ROUND_ATTEMPTS):
        errors: list[RowError] = []
        stored = repo.get_values(settings.table_name, client_id, driver.name, driver.generation, skus)
        writes = []
        for sku in skus:
            current = stored.get(sku)
            merged = merge_values(current[0] if current else None, per_sku[sku], upload_id)
            if merged is None:
                continue
            if len(merged.values) > MAX_DATES_PER_SKU:
                errors.append(
                    RowError(
                        None,
                        driver.name,
                        "too_many_dates",
                        f"SKU {sku!r}: {driver.name} would hold {len(merged.values)} dates, at most "
                        f"{MAX_DATES_PER_SKU}; none of this upload's values for it were stored",
                    )
                )
                continue
            writes.append((sku, merged, current[1] if current else None))
        if not writes:
            return errors
        try:
            repo.write_values(settings.table_name, client_id, driver.name, driver.generation, writes, upload_id)
            return errors
        except repo.ValuesConflict:
            continue
    raise Conflict(f"Driver {driver.name!r}: values kept changing under this upload; it will be retried.")


def report_with(result: DriverIngestResult, outcome: ValuesOutcome, max_errors: int = 100) -> dict[str, Any]:
    """The upload report after the merge: refusals found while merging make it PARTIAL."""
    report = result.report()
    if outcome.errors:
        report["status"] = IngestStatus.PARTIAL.value
        report["errors"] = ([e.as_dict() for e in outcome.errors] + list(report["errors"]))[:max_errors]  # type: ignore[call-overload]
    return report


# ---------------------------------------------------------------- values out
def get_sku_drivers(
    settings: Settings, client_id: str, sku: str, start: dt.date | None, end: dt.date | None
) -> SkuDrivers:
    if start is not None and end is not None and start > end:
        raise Unprocessable("`start` is after `end`.")
    lo, hi = (start.isoformat() if start else ""), (end.isoformat() if end else "9999-12-31")
    declared_drivers = repo.list_drivers(settings.table_name, client_id) if sku else []
    found = repo.get_sku_values(settings.table_name, client_id, declared_drivers, sku) if declared_drivers else {}
    out = {
        name: [DriverPoint(date=d, value=v) for d, v in values.as_points().items() if lo <= d <= hi]
        for name, values in sorted(found.items())
    }
    if not out and (not sku or catalog.get_entry(settings.table_name, client_id, sku) is None):
        raise NotFound("No such SKU.")
    return SkuDrivers(sku=sku, drivers=out)


# ---------------------------------------------------------------- calendar
def get_calendar(settings: Settings, client_id: str) -> CalendarOut:
    stored = repo.get_calendar(settings.table_name, client_id)
    if stored is None:
        return CalendarOut(holidays=[], events=[])
    return CalendarOut.model_validate(stored)


def put_calendar(settings: Settings, client_id: str, body: CalendarBody) -> CalendarOut:
    parsed = parse_calendar(body.holidays, [e.model_dump() for e in body.events])
    if isinstance(parsed, CalendarProblems):
        errors = [FieldError(f, c, m) for f, c, m in parsed.items]
        raise Unprocessable("; ".join(m for _, _, m in parsed.items[:5]), errors=errors)
    at = now_iso()
    stored = {**parsed.as_dict(), "updated_at": at}
    repo.put_calendar(settings.table_name, client_id, stored, at)
    return CalendarOut.model_validate(stored)


def calendar_of(settings: Settings, client_id: str) -> Calendar:
    """The tenant's calendar for the model work (skucast.calendars.calendar_features)."""
    stored = get_calendar(settings, client_id)
    return Calendar(
        tuple(stored.holidays),
        tuple(Event(e.name, tuple(e.dates), tuple(e.skus) if e.skus is not None else None) for e in stored.events),
    )
