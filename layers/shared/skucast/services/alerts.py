"""Alerts: raise (deduplicated), publish on EventBridge (through an outbox), list, acknowledge, and
the tenant's alert settings. The kinds and the detection rules: skucast/alerts.py.

Raising: `raise_alert` writes the alert and its condition in one conditional transaction
(repositories/alerts.py), so concurrent raises of one condition make one alert; then it publishes
the alert's event. Each new alert is published exactly once in the normal course, and at least
once whatever fails:
- the alert is written on the outbox list (gsi1 UNPUBLISHED_ALERTS) in the same transaction, and
  leaves it only once PutEvents took its event;
- a publish that fails (EventBridge down, throttled, a refused entry, the function dying between
  the write and the publish) leaves it there, and the sweeper (SchedulerFunction's `sweep`, every
  10 minutes) publishes every alert older than OUTBOX_GRACE still on the list;
- only when PutEvents took the event but the removal from the list failed is it sent twice: the
  event carries `alert_id`, which consumers use to deduplicate (EventBridge itself delivers to
  targets at least once).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from skucast import alerts as rules
from skucast import clock, ids
from skucast.alerts import AlertKind, AlertSettings, Condition
from skucast.errors import NotFound
from skucast.observability import logger, metrics
from skucast.pagination import decode_after, encode_after
from skucast.records import AlertRecord, AlertStatus
from skucast.repositories import alerts as repo
from skucast.repositories import events, worklists
from skucast.repositories.keys import client_id_of
from skucast.schemas.alerts import Alert, AlertList
from skucast.settings import Settings

# An alert still on the outbox this long after it was created is published by the sweeper: its
# raiser normally publishes it within a second, so the sweeper does not race a raiser mid-publish.
OUTBOX_GRACE = timedelta(minutes=1)


# ---------------------------------------------------------------- raising
def new_alert(
    kind: AlertKind,
    *,
    sku: str | None = None,
    run_id: str | None = None,
    slot: str | None = None,
    detail: dict[str, Any],
) -> tuple[AlertRecord, Condition]:
    """A new open alert and the condition it raises (not stored yet)."""
    condition = rules.condition_of(kind, sku=sku, run_id=run_id, slot=slot)
    record = AlertRecord(
        alert_id=ids.new_sortable_id("alert"),
        kind=kind,
        created_at=clock.now_iso(),
        sku=sku,
        run_id=run_id,
        detail=detail,
    )
    return record, condition


def raise_alert(
    settings: Settings,
    client_id: str,
    kind: AlertKind,
    *,
    sku: str | None = None,
    run_id: str | None = None,
    slot: str | None = None,
    detail: dict[str, Any],
    since: str | None = None,
    until: str | None = None,
) -> AlertRecord | None:
    """Raise an alert unless its condition already has one (skucast/alerts.py, Deduplication);
    the new alert, published, or None when nothing new was raised.

    `since` / `until`: the first and last date of the evidence (e.g. a demand shift's streak).
    After its alert is acknowledged, a re-arming condition alerts again only for evidence whose
    `since` is after the acknowledged alert's `until`."""
    record, condition = new_alert(kind, sku=sku, run_id=run_id, slot=slot, detail=detail)
    if not repo.create(settings.table_name, client_id, record, condition, since, until):
        return None
    raised(settings, client_id, record)
    return record


def raised(settings: Settings, client_id: str, record: AlertRecord) -> None:
    """After the transaction that stored a new alert: count it and publish it."""
    metrics.add_metric(name="AlertsRaised", unit="Count", value=1)
    logger.info("alert raised", extra={"alert_id": record.alert_id, "kind": record.kind})
    publish(settings, client_id, record)


def event_detail(client_id: str, record: AlertRecord) -> dict[str, Any]:
    """The event's detail: the alert as GET /alerts answers it, and the tenant it belongs to."""
    return {"client_id": client_id, **to_alert(record).model_dump(mode="json")}


def publish(settings: Settings, client_id: str, record: AlertRecord) -> bool:
    """Send the alert's event; False when it stays on the outbox for the sweeper."""
    try:
        events.publish_checked(
            settings.alert_bus_name, rules.EVENT_SOURCE, rules.EVENT_DETAIL_TYPE, event_detail(client_id, record)
        )
    except (ClientError, BotoCoreError, events.NotPublished):
        logger.exception("alert event not published: the sweeper sends it", extra={"alert_id": record.alert_id})
        metrics.add_metric(name="AlertsNotPublished", unit="Count", value=1)
        return False
    try:
        repo.mark_published(settings.table_name, client_id, record.alert_id)
    except (ClientError, BotoCoreError):
        logger.exception("alert published but still on the outbox", extra={"alert_id": record.alert_id})
    return True


def publish_pending(settings: Settings, now: datetime | None = None) -> int:
    """The outbox sweep: publish the alerts whose event was not sent; how many were sent now."""
    before = (now or clock.now()) - OUTBOX_GRACE
    sent = 0
    for item in worklists.unpublished_alerts(settings.table_name, before):
        sent += publish(settings, client_id_of(str(item["pk"])), repo.alert_record(item))
    return sent


# ---------------------------------------------------------------- the API
def to_alert(record: AlertRecord) -> Alert:
    return Alert(
        alert_id=record.alert_id,
        kind=record.kind,  # type: ignore[arg-type]  # one of KINDS: only raise_alert writes alerts
        sku=record.sku,
        run_id=record.run_id,
        created_at=record.created_at,
        status=record.status.value,
        detail=record.detail,
        acknowledged_at=record.acknowledged_at,
        acknowledged_by=record.acknowledged_by,
    )


def list_alerts(settings: Settings, client_id: str, limit: int, cursor: str | None, status: str | None) -> AlertList:
    """Newest first; `status` open | acknowledged (the route validates it)."""
    after = decode_after(cursor, "alerts", lambda v: ids.is_id(v, "alert"))
    items, last = repo.page(settings.table_name, client_id, limit, after, AlertStatus(status) if status else None)
    return AlertList(items=[to_alert(i) for i in items], next_cursor=encode_after("alerts", last))


def load_alert(settings: Settings, client_id: str, alert_id: str) -> AlertRecord:
    record = repo.get(settings.table_name, client_id, alert_id) if ids.is_id(alert_id, "alert") else None
    if record is None:
        raise NotFound("No such alert.")
    return record


def acknowledge(settings: Settings, client_id: str, alert_id: str, *, by: str) -> Alert:
    """Acknowledge an open alert. Idempotent: an acknowledged alert is answered as it is (who
    acknowledged it first, and when), so a retried request is not an error."""
    record = load_alert(settings, client_id, alert_id)
    if record.open:
        expires_at = clock.epoch_seconds() + repo.ACK_RETENTION_DAYS * 86_400
        if repo.acknowledge(settings.table_name, client_id, alert_id, by=by, at=clock.now_iso(), expires_at=expires_at):
            metrics.add_metric(name="AlertsAcknowledged", unit="Count", value=1)
        record = load_alert(settings, client_id, alert_id)  # ours, or a concurrent acknowledgement
    return to_alert(record)


def get_settings(settings: Settings, client_id: str) -> AlertSettings:
    stored = repo.get_settings(settings.table_name, client_id) or {}
    known = {k: v for k, v in stored.items() if k in AlertSettings.model_fields}
    return AlertSettings.model_validate({**rules.DEFAULT_SETTINGS.model_dump(), **known})


def put_settings(settings: Settings, client_id: str, body: AlertSettings) -> AlertSettings:
    """Replace the tenant's alert settings (a field left out takes its default)."""
    repo.put_settings(settings.table_name, client_id, body.model_dump())
    return body
