"""Typed records at the repository boundary: what repositories return and take, and the statuses.

A repository builds these from its items in one place (its `_record` readers): DynamoDB's
Decimals become int or float there, once, and an old item without a newer field reads with that
field's default (items carry `schema_version`; readers upgrade old shapes). Services read
`run.status` and `run.batches_done`, never `item["status"]` or `int(item.get(...))`.

No AWS imports: schemas use the statuses too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RunStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ACTIVE_RUN: frozenset[RunStatus] = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})
FINISHED_RUN: frozenset[RunStatus] = frozenset(set(RunStatus) - ACTIVE_RUN)


Trigger = Literal["api", "schedule"]  # what started a run
Role = Literal["admin", "analyst", "viewer"]
ApiKeyRole = Literal["analyst", "viewer"]  # an integration key is never an admin


class BatchStatus(StrEnum):
    PENDING = "PENDING"
    DONE = "DONE"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"  # its run stopped before the batch was forecast


@dataclass(frozen=True)
class RunRecord:
    """A forecast run as stored (repositories/runs.py). Counters are 0 until the planner sets them."""

    run_id: str
    status: RunStatus
    created_at: str
    name: str | None = None
    trigger: Trigger = "api"
    params: dict[str, Any] = field(default_factory=dict)
    started_at: str | None = None
    finished_at: str | None = None
    skus_total: int = 0
    skus_done: int = 0
    skus_failed: int = 0
    batches_total: int = 0
    batches_done: int = 0
    batches_sent: int = 0
    result_shards: int = 0
    as_of: str | None = None  # the origin the planner settled on
    summary: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    repairs: int = 0
    # Adjustments made to its results after it finished: the revision its exports are keyed by.
    adjustments_made: int = 0
    # A hierarchy run's reconciliation once done ({method, nodes} or {error}); None before.
    reconciliation: dict[str, Any] | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_RUN

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_RUN

    @property
    def all_sent(self) -> bool:
        """Every batch of the run has been sent (claimed)."""
        return self.batches_sent >= self.batches_total

    @property
    def all_settled(self) -> bool:
        return self.batches_done >= self.batches_total


@dataclass(frozen=True)
class BatchRecord:
    """One batch of a run's SKUs: PENDING until settled DONE or FAILED (or SKIPPED)."""

    batch_id: str
    status: BatchStatus
    skus: tuple[str, ...] = ()
    record: dict[str, Any] | None = None  # the batch's counts and metric sums, once settled
    claim: str | None = None  # the token of the sender that claimed it
    carried: bool = False  # some of its SKUs carry sticky adjustments (repositories/adjustments.py)
    # "skus", or "nodes": a hierarchy run's batch of aggregate nodes (`skus` holds node ids).
    kind: str = "skus"

    @property
    def pending(self) -> bool:
        return self.status is BatchStatus.PENDING


class UploadStatus(StrEnum):
    AWAITING_FILE = "AWAITING_FILE"  # a file upload whose form has not been used yet
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"
    REJECTED = "REJECTED"


FINISHED_UPLOAD: frozenset[UploadStatus] = frozenset(
    {UploadStatus.SUCCEEDED, UploadStatus.PARTIAL, UploadStatus.REJECTED}
)


@dataclass(frozen=True)
class UploadRecord:
    """A demand upload as stored (repositories/uploads.py): what it declared, its claim while
    PROCESSING, and its report once finished. Uploads stored before a field existed read its default."""

    upload_id: str
    status: UploadStatus
    created_at: str
    kind: str = "demand"  # what the file holds: "demand", "drivers" or "attributes"
    source: str = "file"  # "file" (presigned POST) or "records" (POST /demand)
    filename: str | None = None
    aggregate: str = "reject"
    granularity: str | None = None
    missing: str = "zero"
    delimiter: str | None = None
    decimal: str | None = None
    date_format: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    claim: str | None = None
    lease_until: int = 0
    merge_started_at: str | None = None  # set before the first demand write: part may be stored
    merge_skus: int = 0  # SKUs the merge will store
    # Per claim token, how far that attempt's merge got: {"through": sku, "skus": n}; None for a
    # merge begun before progress was recorded (repositories/uploads.py).
    merge_progress: dict[str, dict[str, Any]] | None = None
    attempts: int = 0
    rows_total: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    skus_touched: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_summary: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_UPLOAD


class ExportStatus(StrEnum):
    PREPARING = "PREPARING"
    READY = "READY"
    FAILED = "FAILED"


@dataclass(frozen=True)
class ExportRecord:
    """A run's export being prepared off the request path (repositories/exports.py)."""

    run_id: str
    format: str
    status: ExportStatus
    started_at: int = 0  # epoch seconds
    reason: str | None = None  # why it FAILED, for a user to read


@dataclass(frozen=True)
class UserRecord:
    """A user of a tenant (repositories/users.py)."""

    user_id: str
    email: str
    role: Role
    password_hash: str = field(repr=False)
    created_at: str


@dataclass(frozen=True)
class ApiKeyRecord:
    """A tenant's integration key as the tenant's item holds it: never the secret, only its name."""

    key_id: str
    name: str
    role: ApiKeyRole
    created_at: str


@dataclass(frozen=True)
class ApiKeyGrant:
    """What an API key's secret grants, from the lookup by the secret's digest."""

    client_id: str
    key_id: str
    role: ApiKeyRole


class CatalogEntry(BaseModel):
    """One SKU of a tenant's catalog (repositories/catalog.py): its class, statistics and grain.
    Entries written before a field existed read it as None, and their grain as "D". The API's
    `Sku` (schemas/demand.py) is this record as GET /skus shows it."""

    model_config = ConfigDict(frozen=True)

    sku: str
    demand_class: str | None = None
    adi: float | None = None
    cv2: float | None = None
    n_periods: int | None = None
    first_date: str | None = None
    last_date: str | None = None
    total_quantity: float | None = None
    granularity: Literal["D", "W", "M"] = Field(default="D", description="the grain the SKU's demand is recorded at")


# ---------------------------------------------------------------- adjustments (issue #20, item 3)
Operation = Literal["set", "add", "multiply"]
AdjustmentReason = Literal["promotion", "event", "supply", "customer_info", "correction", "other"]
PrincipalKind = Literal["user", "api_key"]


@dataclass(frozen=True)
class PointChange:
    """What one forecast period's `final` was before an adjustment, and after it."""

    date: str
    before: float | None
    after: float | None


@dataclass(frozen=True)
class AdjustmentRecord:
    """A planner's change to one SKU's forecast over [start, end] (repositories/adjustments.py).

    `by` is the user id or API key id that made it (`by_kind` says which). `frequency` is the
    frequency of the run it was made on: a sticky adjustment carries only into runs of that
    frequency. `carried_from` is the run it was made on when it is shown in a later run;
    `changes` holds each period's `final` before and after it (empty in the sticky registry and
    in a result's carried list, where they are recomputed from the means: skucast/adjustments.py).
    """

    adjustment_id: str
    by: str
    by_kind: PrincipalKind
    at: str
    start: str
    end: str
    operation: Operation
    value: float
    reason: AdjustmentReason
    frequency: str = "D"
    comment: str | None = None
    sticky: bool = False
    expires: str | None = None  # a sticky adjustment's last day of carrying (default: its `end`)
    carried_from: str | None = None
    changes: tuple[PointChange, ...] = ()


@dataclass(frozen=True)
class StoredResult:
    """One SKU's result in a run as stored (repositories/runs.py).

    `document` is what the worker wrote - the statistical forecast, never changed afterwards.
    `version` counts the adjustments made to it since (the ETag is built from it); `final` is
    the forecast after every adjustment, one value per forecast point (None: no adjustment, the
    final forecast is the mean); `carried` are the sticky adjustments it took from earlier runs
    when it was written, in the order they were applied.
    """

    document: dict[str, Any]
    version: int = 0
    final: tuple[float | None, ...] | None = None
    carried: tuple[AdjustmentRecord, ...] = ()

    @property
    def sku(self) -> str:
        return str(self.document["sku"])

    @property
    def forecast(self) -> list[dict[str, Any]]:
        return list(self.document.get("forecast") or [])

    def finals(self) -> list[float | None]:
        """The final forecast, one value per point: the adjusted values, else the means."""
        if self.final is not None:
            return list(self.final)
        return [p.get("mean") for p in self.forecast]


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True)
class AlertRecord:
    """One alert as stored (repositories/alerts.py); `kind` is one of skucast.alerts.KINDS."""

    alert_id: str
    kind: str
    created_at: str
    status: AlertStatus = AlertStatus.OPEN
    sku: str | None = None
    run_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    acknowledged_at: str | None = None
    acknowledged_by: str | None = None  # the user id or API key id
    published: bool = False  # its EventBridge event was sent (else it waits in the outbox)

    @property
    def open(self) -> bool:
        return self.status is AlertStatus.OPEN


@dataclass(frozen=True)
class DriverRecord:
    """A declared driver as stored (repositories/drivers.py). `generation` names the partitions
    its values are under (new each time the name is declared afresh, so a deleted driver's values
    never come back under a new declaration); the counts and dates cover every value stored."""

    name: str
    kind: str
    aggregate: str
    known_in_advance: bool
    generation: str
    description: str | None = None
    created_at: str = ""
    updated_at: str = ""
    skus_with_values: int = 0
    first_date: str | None = None
    last_date: str | None = None


# ---------------------------------------------------------------- scoring against actuals (issue #20, items 1-2)
@dataclass(frozen=True)
class ScoringEntry:
    """A finished run in the tenant's scoring index (repositories/scores.py): what an ingest needs
    to know to score it without reading the run. Actuals dated `window_from`..`window_to` can
    meet its forecast (W/M: later ones can complete its last periods)."""

    run_id: str
    frequency: str
    result_shards: int
    window_from: str
    window_to: str


@dataclass(frozen=True)
class ScoreRecord:
    """One SKU's scored points in one run (skucast/scoring.py's ScoredPoint lists), as stored.
    `version` counts the writes of the item (scoring, and each adjustment of the result, which
    bumps it so that a scorer that read the result before the adjustment cannot write)."""

    sku: str
    version: int = 0
    points: tuple[Any, ...] = ()  # ScoredPoint lists: [date, actual, mean, final, naive, bounds]
    demand_class: str | None = None
    method: str | None = None
    scale: float | None = None


@dataclass(frozen=True)
class HierarchyRecord:
    """A declared hierarchy as stored (repositories/attributes.py): attribute levels top to bottom
    (the SKU is always the level below the last)."""

    name: str
    levels: tuple[str, ...]
    created_at: str = ""
    updated_at: str = ""
