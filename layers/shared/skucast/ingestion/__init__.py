"""Pure ingestion domain: read, validate, merge and encode demand series (no AWS, no env).

Names are imported on first use (PEP 562): the series model and its encoding need numpy only,
reading and validating files pulls in pyarrow (171 MB). The scheduler and the upload-failure
recorder store and read series without it, so they fit a zip function.
"""

from __future__ import annotations

from skucast import lazy

_EXPORTS = {
    "AcceptedPoints": "model",
    "Aggregate": "model",
    "DateFormat": "model",
    "ErrorCount": "model",
    "IngestWarning": "model",
    "ReadOptions": "model",
    "IngestLimits": "model",
    "IngestResult": "model",
    "IngestStatus": "model",
    "RowError": "model",
    "SkuPoints": "model",
    "DemandSeries": "series",
    "GRANULARITIES": "series",
    "SeriesPolicy": "series",
    "ZERO_MISSING": "series",
    "fits_grain": "series",
    "infer_granularity": "series",
    "decode": "series",
    "encode": "series",
    "merge": "series",
    "ingest_file": "validate",
    "ingest_records": "validate",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy.exports(__name__, _EXPORTS)
