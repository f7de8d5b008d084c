"""Pure ingestion domain: read, validate, merge and encode demand series (no AWS, no env)."""

from skucast.ingestion.model import (
    AcceptedPoints,
    Aggregate,
    IngestLimits,
    IngestResult,
    IngestStatus,
    RowError,
    SkuPoints,
)
from skucast.ingestion.series import DemandSeries, decode, encode, merge
from skucast.ingestion.validate import ingest_file, ingest_records

__all__ = [
    "AcceptedPoints",
    "Aggregate",
    "DemandSeries",
    "IngestLimits",
    "IngestResult",
    "IngestStatus",
    "RowError",
    "SkuPoints",
    "decode",
    "encode",
    "ingest_file",
    "ingest_records",
    "merge",
]
