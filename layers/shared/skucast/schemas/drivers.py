"""Request and response models of /api/v1/forecast drivers, driver values and the calendar."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from skucast.drivers import MAX_DRIVERS

MAX_VALUE_RECORDS = 10_000
DriverKindName = Literal["numeric", "flag"]
AggregateRuleName = Literal["mean", "sum", "max", "last"]


class _Request(BaseModel):
    # Unknown fields are refused: a tenant id can never come from a body.
    model_config = ConfigDict(extra="forbid", frozen=True)


class DriverRequest(_Request):
    kind: DriverKindName = Field(description="numeric (a price, a discount) or flag (0/1: a promotion, a display)")
    known_in_advance: bool = Field(
        True, description="its future values are known (planned prices, promotions) and the forecast may use them"
    )
    aggregate: AggregateRuleName = Field("mean", description="how days roll up to weeks and months")
    description: str | None = Field(None, max_length=500)


class Driver(BaseModel):
    name: str
    kind: DriverKindName
    known_in_advance: bool
    aggregate: AggregateRuleName
    description: str | None = None
    skus_with_values: int = Field(description="SKUs with at least one value stored")
    first_date: str | None = Field(description="the earliest date with a value, any SKU")
    last_date: str | None = Field(description="the latest date with a value, any SKU")
    created_at: str
    updated_at: str


class DriverList(BaseModel):
    items: list[Driver] = Field(description=f"every declared driver, by name (at most {MAX_DRIVERS})")


class DriverValuesRequest(_Request):
    # Each record is checked by the drivers validator (row errors, like a file's), not here.
    records: list[Any] = Field(
        description=f"at most {MAX_VALUE_RECORDS} objects {{sku, date, values: {{<driver>: number|null}}}}"
    )


class DriverPoint(BaseModel):
    date: str
    value: float


class SkuDrivers(BaseModel):
    sku: str
    drivers: dict[str, list[DriverPoint]] = Field(description="per declared driver with values for this SKU")


class CalendarEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)
    dates: list[str] = Field(description="YYYY-MM-DD", max_length=5000)
    skus: list[str] | None = Field(None, description="the SKUs it concerns; omitted: every SKU", max_length=1000)


class CalendarBody(_Request):
    holidays: list[str] = Field(
        default_factory=list,
        description='ISO 3166 country ("US") or country-subdivision ("DE-BY") codes of public holidays',
        max_length=100,
    )
    events: list[CalendarEvent] = Field(default_factory=list, max_length=1000)


class CalendarOut(BaseModel):
    holidays: list[str]
    events: list[CalendarEvent]
    updated_at: str | None = None
