"""Forecasting domain: classification, method registry, backtests, metrics and the batch engine."""

from skucast.forecasting.classification import Classification, ClassificationConfig, classify_daily
from skucast.forecasting.engine import EngineConfig, ForecastSpec, SeriesInput, SkuForecast, forecast_batch
from skucast.forecasting.methods import MethodInfo, list_methods
from skucast.forecasting.metrics import MetricSums

__all__ = [
    "Classification",
    "ClassificationConfig",
    "EngineConfig",
    "ForecastSpec",
    "MethodInfo",
    "MetricSums",
    "SeriesInput",
    "SkuForecast",
    "classify_daily",
    "forecast_batch",
    "list_methods",
]
