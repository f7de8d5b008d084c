"""Scheduled reforecasts (PUT /schedule + the EventBridge rule) and the sweeper of stalled runs and uploads.

Exactly one run per period: the run started for a schedule slot uses the slot as its
Idempotency-Key, so a rule firing twice (or two schedulers at once) starts one run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from skucast import clock, cron
from skucast.errors import Conflict, FieldError, Unprocessable
from skucast.observability import logger
from skucast.repositories import schedules as repo
from skucast.repositories import worklists
from skucast.repositories.keys import client_id_of
from skucast.schemas.forecast import CreateRunRequest, Schedule, ScheduleBody
from skucast.services import alerts, batches, runs, upload_failures
from skucast.settings import Settings

# Skipped slots counted for a schedule_missed alert at most (a schedule stopped for a year at every
# 15 minutes would otherwise count 35,000); `last_missed` is null past it.
MAX_COUNTED_SLOTS = 1000


def next_slot(expression: str, after: datetime) -> datetime:
    return cron.next_slot(expression, after)


# What GET /schedule answers before the tenant set one: off, with the defaults PUT would take.
UNSET = Schedule(enabled=False, cron="0 3 * * *", horizon=28, frequency="D", method="auto", levels=[80, 95])


def get_schedule(settings: Settings, client_id: str) -> Schedule:
    item = repo.get_schedule(settings.table_name, client_id)
    return UNSET if item is None else Schedule.model_validate(item)


def put_schedule(settings: Settings, client_id: str, body: ScheduleBody, now: datetime | None = None) -> Schedule:
    now = now or clock.now()
    limits = runs.tier_of(settings, client_id)
    try:
        slot = next_slot(body.cron, now)
        interval = cron.min_interval(body.cron, now)
    except cron.CronError as exc:
        errors = [FieldError("cron", "invalid_cron", str(exc))]
        raise Unprocessable("The schedule is not valid.", errors=errors) from None
    least = timedelta(seconds=limits.min_schedule_seconds)
    if interval < least:
        message = f"Your tier reforecasts at most every {_span(least)}; this schedule fires every {_span(interval)}."
        raise Unprocessable("The schedule is not valid.", errors=[FieldError("cron", "too_frequent", message)])
    runs.check_params(
        CreateRunRequest(horizon=body.horizon, frequency=body.frequency, method=body.method, levels=body.levels),
        limits,
    )
    schedule = {**body.model_dump(), "next_run_at": clock.iso(slot) if body.enabled else None}
    repo.put_schedule(settings.table_name, client_id, schedule)
    return Schedule.model_validate(schedule)


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}" + ("s" if n != 1 else "")
    return f"{seconds} seconds"


def start_due_reforecasts(settings: Settings, now: datetime | None = None) -> int:
    """Start one run for each schedule whose slot has come; returns how many started."""
    now = now or clock.now()
    started = 0
    for item in worklists.due_schedules(settings.table_name, now):
        client_id = client_id_of(str(item["pk"]))
        started += _fire(settings, client_id, item, now)
    return started


def _fire(settings: Settings, client_id: str, item: dict[str, Any], now: datetime) -> int:
    slot = str(item["next_run_at"])
    request = CreateRunRequest(
        horizon=int(item["horizon"]),
        frequency=item["frequency"],
        method=item["method"],
        levels=[int(v) for v in item["levels"]],
        name=f"scheduled {slot}",
    )
    started = 0
    try:
        runs.create_run(settings, client_id, request, idempotency_key=f"schedule:{slot}", trigger="schedule")
        started = 1
    except (Conflict, Unprocessable) as exc:
        logger.warning("scheduled run not started", extra={"client_id": client_id, "reason": exc.detail})
        detail = {"slot": slot, "reason": "refused", "message": exc.detail}
        alerts.raise_alert(settings, client_id, "schedule_missed", slot=slot, detail=detail)
    _skipped(settings, client_id, str(item["cron"]), slot, now)
    following = clock.iso(next_slot(str(item["cron"]), max(now, clock.parse_iso(slot))))
    repo.advance(settings.table_name, client_id, slot, following)
    return started


def _skipped(settings: Settings, client_id: str, expression: str, slot: str, now: datetime) -> None:
    """Slots that came and went while `slot` waited (the scheduler did not fire for longer than the
    schedule's interval): the schedule moves past them, so they never run - one `schedule_missed`
    alert for all of them, keyed by the first. Costs nothing when none was skipped (one cron step)."""
    try:
        missed = cron.slots_between(expression, clock.parse_iso(slot), now, most=MAX_COUNTED_SLOTS)
    except (cron.CronError, ValueError):  # a schedule stored before today's rules: its run was tried anyway
        return
    if not missed:
        return
    first = clock.iso(missed[0])
    detail = {
        "slot": first,
        "reason": "not_fired",
        "message": "The scheduler did not fire in time: these scheduled runs were skipped.",
        "slots_missed": len(missed),
        "last_missed": clock.iso(missed[-1]) if len(missed) < MAX_COUNTED_SLOTS else None,
    }
    alerts.raise_alert(settings, client_id, "schedule_missed", slot=first, detail=detail)


def sweep_stalled_runs(settings: Settings, now: datetime | None = None) -> dict[str, int]:
    now = now or clock.now()
    return batches.sweep_stalled(settings, worklists.stalled_runs(settings.table_name, now), now)


def sweep(settings: Settings, now: datetime | None = None) -> dict[str, int]:
    """The rate(10 minutes) sweep: uploads stuck PROCESSING are failed, uploads whose form expired
    with no file are ended, stalled runs are repaired or failed, alerts whose event was not sent
    are published (services/alerts.py: the outbox)."""
    now = now or clock.now()
    swept = {**upload_failures.sweep_stalled(settings, now), **sweep_stalled_runs(settings, now)}
    return {**swept, "alerts_published": alerts.publish_pending(settings, now)}
