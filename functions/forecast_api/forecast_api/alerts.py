"""Alerts: list, acknowledge, and the tenant's alert settings."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import Cursor, Limit, current_principal, current_tenant, requires
from skucast.schemas.alerts import Alert, AlertList, AlertSettings
from skucast.services import alerts
from skucast.settings import get_settings

router = APIGatewayRouter()


@router.get("/alerts", summary="List alerts, newest first", tags=["alerts"], middlewares=[requires("viewer")])
def list_alerts(
    limit: Limit = 100,
    cursor: Cursor = None,
    status: Annotated[Literal["open", "acknowledged"] | None, Query()] = None,
) -> AlertList:
    return alerts.list_alerts(get_settings(), current_tenant(router), limit, cursor, status)


@router.post(
    "/alerts/<alert_id>/acknowledge",
    summary="Acknowledge an alert (an acknowledged one is answered as it is)",
    tags=["alerts"],
    middlewares=[requires("analyst")],
)
def acknowledge(alert_id: str) -> Alert:
    caller = current_principal(router)
    return alerts.acknowledge(get_settings(), caller.client_id, alert_id, by=caller.subject)


@router.get(
    "/alerts/settings", summary="The tenant's alert thresholds", tags=["alerts"], middlewares=[requires("viewer")]
)
def get_alert_settings() -> AlertSettings:
    return alerts.get_settings(get_settings(), current_tenant(router))


@router.put(
    "/alerts/settings",
    summary="Set the tenant's alert thresholds (a field left out takes its default)",
    tags=["alerts"],
    middlewares=[requires("admin")],
)
def put_alert_settings(body: Annotated[AlertSettings, Body()]) -> AlertSettings:
    return alerts.put_settings(get_settings(), current_tenant(router), body)
