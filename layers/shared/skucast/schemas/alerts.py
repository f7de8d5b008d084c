"""Request and response models of /api/v1/forecast/alerts."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from skucast.alerts import AlertKind, AlertSettings, AlertStatusName

__all__ = ["Alert", "AlertList", "AlertSettings"]


class Alert(BaseModel):
    alert_id: str
    kind: AlertKind
    sku: str | None = None
    run_id: str | None = None
    created_at: str
    status: AlertStatusName
    detail: dict[str, Any] = Field(description="what raised it; its fields depend on `kind` (README, Alerts)")
    acknowledged_at: str | None = None
    acknowledged_by: str | None = Field(
        default=None, description="the user id, or the API key id, that acknowledged it"
    )


class AlertList(BaseModel):
    items: list[Alert]
    next_cursor: str | None
