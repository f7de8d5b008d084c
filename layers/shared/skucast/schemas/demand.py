"""Request and response models of /api/v1/forecast uploads, demand records and SKUs."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from skucast.records import CatalogEntry, UploadStatus

AggregateMode = Literal["reject", "sum"]
Granularity = Literal["D", "W", "M"]
Missing = Literal["zero", "unknown"]
MISSING_HELP = (
    "what a period without a row means: zero (default: sales-only exports, a day without a row sold "
    "nothing) or unknown (not observed: interpolated inside the history, and a SKU's periods after its "
    "last row are not read as zero demand)"
)
GRANULARITY_HELP = (
    "the grain the rows are recorded at: D (days), W (weeks, each row dated the week's first day) or "
    "M (months, each row dated the 1st); omitted: inferred from the upload's dates"
)
# How an uploaded file is written (skucast.ingestion.ReadOptions); null on an upload means detected.
Delimiter = Literal[",", ";", "\t", "|"]
DecimalSeparator = Literal[".", ","]
DateFormatName = Literal["YYYY-MM-DD", "DD/MM/YYYY", "MM/DD/YYYY", "DD.MM.YYYY", "YYYY/MM/DD"]
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


UploadKind = Literal["demand", "drivers", "attributes"]
KIND_HELP = (
    "what the file holds: demand (sku, date, quantity), drivers (sku, date and one column per declared "
    "driver) or attributes (sku and one column per item attribute: strings)"
)


class CreateUploadRequest(_Request):
    filename: Filename
    kind: UploadKind = Field(default="demand", description=KIND_HELP)
    aggregate: AggregateMode = "reject"
    granularity: Granularity | None = Field(default=None, description=GRANULARITY_HELP)
    missing: Missing = Field(default="zero", description=MISSING_HELP)
    delimiter: Delimiter | None = Field(
        None, description="the CSV delimiter; null: detected from the header line (, ; TAB |)"
    )
    decimal: DecimalSeparator | None = Field(
        None,
        description="the decimal separator of quantities; null: '.' in comma-separated files, "
        "else the first quantity written with a separator decides",
    )
    date_format: DateFormatName | None = Field(
        None,
        description="the dates' format; null: detected from the date column (ambiguous slash dates: "
        "MM/DD/YYYY in comma-separated files, DD/MM/YYYY otherwise, with a warning)",
    )


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


class ErrorCountOut(BaseModel):
    code: str
    count: int = Field(description="every occurrence in the file, not only those in `errors`")
    first_rows: list[int] = Field(description="up to 5, ascending")


class UploadWarning(BaseModel):
    code: str = Field(description="extra_columns_ignored, date_format_assumed")
    message: str


class Upload(BaseModel):
    upload_id: str
    status: UploadStatus
    kind: Literal["demand", "drivers", "attributes"] = Field(default="demand", description="what the upload holds")
    filename: str | None = None
    aggregate: AggregateMode = "reject"
    granularity: Granularity | None = Field(
        default=None, description="the upload's grain: as declared, else as inferred once ingested"
    )
    missing: Missing = Field(default="zero", description=MISSING_HELP)
    delimiter: Delimiter | None = Field(None, description="as declared on the upload; null: detected")
    decimal: DecimalSeparator | None = Field(None, description="as declared on the upload; null: detected")
    date_format: DateFormatName | None = Field(None, description="as declared on the upload; null: detected")
    rows_total: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    skus_touched: int = 0
    errors: list[RowErrorOut] = Field(
        default_factory=list,
        description="the first 100 in row order, always including the first of every code",
    )
    error_summary: list[ErrorCountOut] = Field(
        default_factory=list, description="every error code with its exact count"
    )
    warnings: list[UploadWarning] = Field(default_factory=list, description="what was ignored or assumed")
    created_at: str
    finished_at: str | None = None


class UploadList(BaseModel):
    items: list[Upload]
    next_cursor: str | None


class DemandRecordsRequest(_Request):
    # Each record is checked by the ingestion validator (row errors, like a file's), not here.
    records: list[Any] = Field(description=f"at most {MAX_RECORDS} objects {{sku, date, quantity}}")
    aggregate: AggregateMode = "reject"
    granularity: Granularity | None = Field(default=None, description=GRANULARITY_HELP)
    missing: Missing = Field(default="zero", description=MISSING_HELP)


class Sku(CatalogEntry):
    """The catalog entry as GET /skus shows it (skucast/records.py), with the SKU's attributes."""

    attributes: dict[str, str] = Field(default_factory=dict, description="the SKU's item attributes now")


class SkuList(BaseModel):
    items: list[Sku]
    next_cursor: str | None


class DemandPoint(BaseModel):
    date: str = Field(description="the period's first day")
    quantity: float
    recorded: bool = Field(
        default=True, description="false for a period no upload had a row for: counted as zero demand"
    )
    anomaly: bool = Field(
        default=False,
        description="true where ingestion flagged the point as an outlier for this SKU (daily series; "
        "the quantity is as sent - a run with history_cleaning: flagged replaces it before fitting)",
    )


class SkuDemand(BaseModel):
    sku: str
    granularity: Granularity = "D"
    missing: Missing = Field(default="zero", description=MISSING_HELP)
    points: list[DemandPoint]
