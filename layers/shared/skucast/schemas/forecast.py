"""Request and response models of /api/v1/forecast (runs, results, methods, schedule)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from skucast.records import FINISHED_RUN, RunStatus, Trigger

Frequency = Literal["D", "W", "M"]
FINISHED: frozenset[str] = FINISHED_RUN
# `GET /runs?status=` validates the same values as a Literal, so its 422 keeps the field error
# code `literal_error` (an Enum would say `enum`); a unit test holds it equal to RunStatus.
RunStatusQuery = Literal["QUEUED", "RUNNING", "SUCCEEDED", "PARTIAL", "FAILED", "CANCELLED"]
SKU_PATTERN = r"^[^\x00-\x1f\x7f]{1,128}$"


# SKU names and run names are kept exactly as sent (" WS1 " is not "WS1"); other fields (method,
# cron...) are trimmed.
Exact = Annotated[str, StringConstraints(strip_whitespace=False)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _levels(levels: list[int]) -> list[int]:
    if len(set(levels)) != len(levels):
        raise ValueError("levels must be distinct")
    return sorted(levels)


class RunParams(_Request):
    horizon: int = Field(ge=1, le=366, description="periods at `frequency`")
    frequency: Frequency = "D"
    skus: list[Exact] | None = Field(default=None, min_length=1, max_length=100_000)
    levels: list[int] = Field(default=[80, 95], min_length=1, max_length=6)
    method: str = Field(default="auto", min_length=1, max_length=64)
    backtest_windows: int = Field(default=1, ge=0, le=5)
    as_of: dt.date | None = Field(
        default=None,
        ge=dt.date(1900, 1, 1),
        description="the forecast origin: history through the period holding this date, forecasts from the "
        "next period; default the end of the tenant's data (its latest date of any SKU)",
    )
    history_cleaning: Literal["none", "flagged"] = Field(
        default="none",
        description="flagged: the points ingestion flagged as outliers (GET /skus/{sku}/demand, anomaly: true) "
        "are replaced by their robust fitted value before fitting; each result says how many "
        "(history_cleaned) and the run's summary the total (points_cleaned). The stored demand is unchanged",
    )
    hierarchy: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="a declared hierarchy (PUT /hierarchies/{name}): every node is forecast too and the forecasts "
        "are reconciled so that children add up to their parent at every level and date (GET /runs/{id}/nodes)",
    )
    reconciliation: Literal["bottom_up", "min_trace"] | None = Field(
        default=None, description="with `hierarchy`: how the forecasts are reconciled (default min_trace)"
    )

    @field_validator("levels")
    @classmethod
    def _check_levels(cls, levels: list[int]) -> list[int]:
        for level in levels:
            if not 50 <= level <= 99:
                raise ValueError("each level is between 50 and 99")
        return _levels(levels)

    @field_validator("skus")
    @classmethod
    def _check_skus(cls, skus: list[str] | None) -> list[str] | None:
        if skus is None:
            return None
        for sku in skus:
            if not sku.strip() or len(sku) > 128 or any(ord(c) < 32 or ord(c) == 127 for c in sku):
                raise ValueError("each SKU is 1 to 128 printable characters")
        return list(dict.fromkeys(skus))


DriversChoice = Literal["auto", "none"] | list[Annotated[str, StringConstraints(min_length=1, max_length=40)]]
# A finite number: NaN and the infinities are refused where they are parsed (a 422 naming the field).
Finite = Annotated[float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)]


class ScenarioChange(_Request):
    """One change to a driver's future values (skucast/scenarios.py checks the rules)."""

    driver: str = Field(min_length=1, max_length=40, description="a declared driver")
    skus: list[Exact] | None = Field(default=None, min_length=1, description="the SKUs it changes; omitted: all")
    start: dt.date = Field(description="the first day changed")
    end: dt.date = Field(description="the last day changed")
    set: Finite | None = Field(default=None, description="the value becomes this (a flag: 0 or 1)")
    multiply: Finite | None = Field(default=None, description="the value is multiplied by this")
    add: Finite | None = Field(default=None, description="this is added to the value")


class ScenarioEvent(_Request):
    name: str = Field(min_length=1, max_length=100)
    # Dates stay strings here: skucast/calendars.py parses them and names the bad one.
    dates: list[str] = Field(min_length=1, max_length=1000, description="YYYY-MM-DD")
    skus: list[Exact] | None = Field(default=None, min_length=1, description="the SKUs it concerns; omitted: all")


class ScenarioRequest(_Request):
    base_run_id: str = Field(min_length=1, max_length=64, description="a finished run (SUCCEEDED or PARTIAL)")
    changes: list[ScenarioChange] = Field(default_factory=list, max_length=100)
    events: list[ScenarioEvent] = Field(default_factory=list, max_length=100)


class CreateRunRequest(RunParams):
    # Required unless the run is a scenario, which takes its base run's horizon.
    horizon: int | None = Field(default=None, ge=1, le=366, description="periods at `frequency`")  # type: ignore[assignment]
    name: Exact | None = Field(default=None, max_length=200)
    drivers: DriversChoice = Field(
        default="auto",
        description="auto: each SKU uses the declared drivers it has values for, and the calendar; none: history "
        "only; or the names of the declared drivers to use",
    )
    scenario: ScenarioRequest | None = Field(
        default=None,
        description="a what-if run: the base run's parameters (horizon, frequency, levels, method, SKUs, as_of, "
        "drivers, history_cleaning, backtest_windows) with these future driver values and events changed. "
        "A parameter sent with another value than the base run's is refused (422)",
    )


class NodeResult(BaseModel):
    node_id: str = Field(description="stable and URL-safe: a hash of the node's key")
    level: str = Field(description='"total" or the attribute of the node\'s level')
    key: dict[str, str | None] = Field(
        description="the node's attribute values, top to bottom; null: the SKUs missing that attribute (unassigned)"
    )
    skus: int = Field(description="SKUs under the node")
    forecast: list[dict[str, Any]] = Field(description="reconciled: `date`, `mean`, `lo_<level>`, `hi_<level>`")
    base_forecast: list[dict[str, Any]] | None = Field(
        default=None,
        description="the node's own forecast before reconciliation: `date`, `mean`, `lo_<level>`, `hi_<level>`",
    )
    base_method: str | None = Field(default=None, description="the engine's method for the node's own base forecast")
    reconciliation: str | None = Field(default=None, description='what reconciled it, e.g. "min_trace(mint_shrink)"')
    parent: str | None = None
    children: list[str] | None = Field(
        default=None,
        description="GET of one node: its children's node ids, or SKUs at the deepest level (at most 5,000: "
        "children_total counts them all; GET /skus?attr.<name>=<value> lists every SKU of a node)",
    )
    children_total: int | None = Field(default=None, description="GET of one node: how many children it has")


class NodeList(BaseModel):
    items: list[NodeResult]
    next_cursor: str | None


class RunProgress(BaseModel):
    skus_total: int = 0
    skus_done: int = 0
    skus_failed: int = 0


class Run(BaseModel):
    run_id: str
    name: str | None = None
    status: RunStatus
    trigger: Trigger
    params: dict[str, Any]
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    progress: RunProgress
    summary: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    scenario: dict[str, Any] | None = Field(
        default=None, description="a what-if run's changes (a scenario of a scenario: its base's changes first)"
    )
    base_run_id: str | None = Field(default=None, description="the run a what-if run changes")
    models_from: str | None = Field(
        default=None, description="the run whose trained global models a what-if run reuses (no retraining)"
    )


class RunList(BaseModel):
    items: list[Run]
    next_cursor: str | None


class AnalogSource(BaseModel):
    group: dict[str, str] = Field(description="the attribute values the SKU shares with its group's members")
    members: int = Field(description="established SKUs whose launches made the profile")
    level: float = Field(description="the SKU's level: units per period at the profile's early level (1.0)")


class SkuResult(BaseModel):
    sku: str
    demand_class: str | None
    method: str | None
    forecast: list[dict[str, Any]] = Field(
        description="one point per period: `date`, `mean` (the statistical forecast, never changed), "
        "`final` (after adjustments; equal to `mean` when there is none), `lo_<level>`, `hi_<level>`"
    )
    metrics: dict[str, Any]
    candidates: dict[str, float | None] = {}
    reason: str | None = None
    error: dict[str, str] | None = None
    adjustments: int = Field(default=0, description="adjustments that shaped `final`, carried ones included")
    history_cleaned: int | None = Field(
        default=None,
        description="flagged points of the SKU's stored history replaced before fitting (a run with "
        "history_cleaning: flagged); "
        "null when the run did not clean",
    )
    etag: str | None = Field(
        default=None, description="the result's ETag: send it as If-Match to adjust this version of it"
    )
    drivers_used: list[str] = Field(default_factory=list, description="the drivers and calendar features it used")
    effects: list[dict[str, Any]] = Field(
        default_factory=list,
        description="[{name, units, share}]: what each driver, holiday or event adds over the horizon, in units "
        "and as a share of the total; empty when none was used",
    )
    warnings: list[dict[str, str]] = Field(
        default_factory=list, description="[{code, message}], e.g. a known-in-advance driver without future values"
    )
    analog: AnalogSource | None = Field(
        default=None,
        description="a new SKU forecast by `method: analog`: the attribute group it borrowed its launch profile "
        "from; null otherwise",
    )
    base_forecast: list[dict[str, Any]] | None = Field(
        default=None,
        description="a run with a hierarchy: the SKU's own forecast before reconciliation (`date`, `mean`, "
        "`lo_<level>`, `hi_<level>`); `forecast` is the reconciled one. Null otherwise",
    )


class ResultList(BaseModel):
    items: list[SkuResult]
    next_cursor: str | None


class CompareTotals(BaseModel):
    run: float = Field(description="the run's forecast (sum of `mean`) over the SKUs both runs forecast")
    to: float
    delta: float = Field(description="run - to")
    delta_pct: float | None = Field(description="100 * delta / to; null when `to` is 0")


class CompareItem(BaseModel):
    sku: str
    run_total: float
    to_total: float
    delta: float
    delta_pct: float | None


class RunComparison(BaseModel):
    run_id: str
    to: str
    totals: CompareTotals
    items: list[CompareItem] = Field(description="biggest absolute delta first")
    next_cursor: str | None


class ExportRequest(_Request):
    format: Literal["csv", "parquet"] = "csv"
    level: str | None = Field(
        default=None,
        max_length=64,
        description='a hierarchy run\'s nodes of one level: "total" or an attribute of its hierarchy, one row per '
        "node and date (node_id, level, one column per key attribute, date, mean, bands); "
        '"sku" or none: the SKU results',
    )


class ExportLink(BaseModel):
    url: str
    expires_in: int


class Method(BaseModel):
    name: str
    description: str
    demand_classes: list[str]


class MethodList(BaseModel):
    items: list[Method]


class ScheduleBody(_Request):
    enabled: bool = True
    cron: str = Field(
        min_length=9,
        max_length=100,
        description="A cron in UTC: 5 fields (`0 3 * * *`) or AWS's 6 (`cron(0 6 ? * MON *)`); "
        "at most every 24 hours (free), 1 hour (standard) or 15 minutes (enterprise)",
    )
    horizon: int = Field(ge=1, le=366)
    frequency: Frequency = "D"
    method: str = Field(default="auto", min_length=1, max_length=64)
    levels: list[int] = Field(default=[80, 95], min_length=1, max_length=6)

    @field_validator("levels")
    @classmethod
    def _check_levels(cls, levels: list[int]) -> list[int]:
        return RunParams._check_levels(levels)


class Schedule(ScheduleBody):
    next_run_at: str | None = None


# ---------------------------------------------------------------- adjustments
AdjustmentReasonName = Literal["promotion", "event", "supply", "customer_info", "correction", "other"]


class AdjustmentRequest(_Request):
    """One planner adjustment (skucast/adjustments.py has the rules the service checks)."""

    start: dt.date = Field(description="the first forecast period adjusted (a period's first day)")
    end: dt.date = Field(description="the last forecast period adjusted (a period's first day)")
    set: float | None = Field(default=None, ge=0, le=1e15, description="final = set")
    add: float | None = Field(default=None, ge=-1e15, le=1e15, description="final = max(0, final + add)")
    multiply: float | None = Field(default=None, ge=0, le=1000, description="final = final * multiply")
    reason: AdjustmentReasonName
    comment: str | None = Field(default=None, max_length=1000)
    sticky: bool = Field(default=False, description="carried into later runs of this SKU over these dates")
    expires: dt.date | None = Field(
        default=None, description="a sticky adjustment's last day of carrying into new runs (default: `end`)"
    )


class AdjustmentChange(BaseModel):
    date: str
    before: float | None = Field(description="the period's final forecast before this adjustment")
    after: float | None = Field(description="the period's final forecast after it")


class Adjustment(BaseModel):
    adjustment_id: str
    by: str = Field(description="the user id, or the API key id, that made it")
    by_kind: Literal["user", "api_key"]
    at: str
    start: str
    end: str
    set: float | None = None
    add: float | None = None
    multiply: float | None = None
    reason: str
    comment: str | None = None
    sticky: bool
    expires: str | None = None
    carried_from: str | None = Field(default=None, description="the earlier run a sticky adjustment came from")
    changes: list[AdjustmentChange] = Field(description="every period it changed, in date order")


class AdjustmentList(BaseModel):
    items: list[Adjustment]
    next_cursor: str | None
