"""Forecasting domain: classification, method registry, backtests, metrics and the batch engine.

Names are imported on first use (PEP 562): classification, metrics and the method catalogue are
light, the engine pulls in statsforecast (seconds to import, tens of MB). The API and ingest
functions classify and list methods without ever loading it; only the worker forecasts.
"""

from __future__ import annotations

from skucast import lazy

_EXPORTS = {
    "Classification": "classification",
    "ClassificationConfig": "classification",
    "classify_daily": "classification",
    "EngineConfig": "engine",
    "ForecastSpec": "engine",
    "SeriesInput": "engine",
    "SkuForecast": "engine",
    "forecast_batch": "engine",
    "MethodInfo": "methods",
    "list_methods": "methods",
    "MetricSums": "metrics",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy.exports(__name__, _EXPORTS)
