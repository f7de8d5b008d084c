"""Request and response models of /api/v1/forecast uploads, demand records and SKUs."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

UploadStatus = Literal["AWAITING_FILE", "PROCESSING", "SUCCEEDED", "PARTIAL", "REJECTED"]
AggregateMode = Literal["reject", "sum"]
DemandClassName = Literal["smooth", "erratic", "intermittent", "lumpy", "new", "inactive"]
MAX_RECORDS = 10_000


def _filename(value: str) -> str:
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"} for ch in value):
        raise ValueError("contains control or invisible characters")
    return unicodedata.normalize("NFC", value)


Filename = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), AfterValidator(_filename)
]


class _Request(BaseModel):
    # Unknown fields are refused: a tenant id can never come from a body.
    model_config = ConfigDict(extra="forbid", frozen=True)


class CreateUploadRequest(_Request):
    filename: Filename
    aggregate: AggregateMode = "reject"


class UploadTicket(BaseModel):
    upload_id: str
    url: str = Field(description="POST the file here as multipart/form-data, with `fields` first")
    fields: dict[str, str]
    expires_in: int = Field(description="seconds the form stays valid")
    max_bytes: int


class RowErrorOut(BaseModel):
    row: int | None
    column: str | None
    code: str
    message: str


class Upload(BaseModel):
    upload_id: str
    status: UploadStatus
    filename: str | None = None
    aggregate: AggregateMode = "reject"
    rows_total: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    skus_touched: int = 0
    errors: list[RowErrorOut] = Field(default_factory=list, description="the first 100")
    created_at: str
    finished_at: str | None = None


class UploadList(BaseModel):
    items: list[Upload]
    next_cursor: str | None


class DemandRecordsRequest(_Request):
    # Each record is checked by the ingestion validator (row errors, like a file's), not here.
    records: list[Any] = Field(description=f"at most {MAX_RECORDS} objects {{sku, date, quantity}}")
    aggregate: AggregateMode = "reject"


class Sku(BaseModel):
    sku: str
    demand_class: str | None = None
    adi: float | None = None
    cv2: float | None = None
    n_periods: int | None = None
    first_date: str | None = None
    last_date: str | None = None
    total_quantity: float | None = None


class SkuList(BaseModel):
    items: list[Sku]
    next_cursor: str | None


class DemandPoint(BaseModel):
    date: str
    quantity: float


class SkuDemand(BaseModel):
    sku: str
    points: list[DemandPoint]
