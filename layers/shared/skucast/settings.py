"""Settings: read once from the environment (template.yaml's Globals set them on every function).

Domain code never reads os.environ; handlers and services take a `Settings`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from skucast.forecasting.thresholds import ClassificationConfig

ENV_PREFIX = "SKUCAST_"


class ConfigurationError(RuntimeError):
    """The environment does not describe a usable deployment (one line, names the variable)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    stage: str
    table_name: str
    data_bucket: str
    plan_queue_url: str
    forecast_queue_url: str
    train_queue_url: str
    export_queue_url: str
    parked_queue_url: str
    signing_keys_secret_id: str
    service_key_secret_id: str
    usage_plan_prefix: str
    token_issuer: str
    token_audience: str = "skucast-api"  # noqa: S105 (an audience name, not a secret)
    event_bus_name: str = "default"
    # Where every new alert is published (template AlertBus; services/alerts.py).
    alert_bus_name: str = "default"

    access_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=3600)
    secret_cache_seconds: int = Field(default=300, ge=0)
    max_request_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    # The forecast workers' pool (template parameter WorkerConcurrency; one message per invocation).
    worker_concurrency: int = Field(default=500, ge=1)
    # A run with more SKUs is exported by ExportFunction, off the request path (services/exports.py).
    # Chosen from `python -m bench.export` so that an export written within the request stays well
    # inside the API's 29 s, locally and on AWS (the figures and the AWS extrapolation: README, Exports).
    export_sync_max_skus: int = Field(default=5000, ge=0)
    # A run with no progress for this long is repaired, then failed, by the sweeper (a batch takes
    # seconds; services/batches.py sweep_stalled). Tests shorten it to fail a run in seconds.
    run_progress_timeout_seconds: int = Field(default=900, ge=1)
    # SKUs per training shard of the global model: one TrainFunction invocation trains one shard
    # (its memory and time measured in `make bench`, bench/README.md "Training").
    training_shard_skus: int = Field(default=5000, ge=1, le=100_000)
    # TEST-ONLY fault hook: training a shard that holds this SKU raises, so tests can exercise
    # the retry -> dead-letter -> training_failed path on the local stack. Never set in a deployment.
    test_fail_training_sku: str = ""
    # Ingestion: an upload rejecting a larger share of its rows is REJECTED whole, nothing written.
    max_rejected_share: float = Field(default=0.10, ge=0.0, le=1.0)
    # Distinct SKUs one upload may store (more: REJECTED `too_many_skus`, nothing stored): its merge
    # must finish within one IngestFunction invocation. Why this value: README "An upload" and
    # bench/ingest_skus.py (measured and modelled against the 900 s timeout).
    max_skus_per_upload: int = Field(default=500_000, ge=1)
    # Demand classification thresholds replacing ClassificationConfig's defaults (forecasting/
    # thresholds.py), as JSON, e.g. {"min_periods_d": 28, "inactive_periods_d": 60}: the catalog
    # and the forecast runs classify alike with them.
    classification_thresholds: str = "{}"  # JSON text: pydantic-settings' own JSON errors name no variable

    @field_validator("classification_thresholds")
    @classmethod
    def _check_thresholds(cls, value: str) -> str:
        classification_thresholds(value)  # at load, not at the first classification
        return value

    @property
    def classification(self) -> ClassificationConfig:
        return classification_thresholds(self.classification_thresholds)


def classification_thresholds(text: str) -> ClassificationConfig:
    """ClassificationThresholds' JSON as a config; ValueError says what is wrong with it."""
    try:
        overrides = json.loads(text or "{}")
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(overrides, dict):
        raise ValueError("must be a JSON object of threshold names to numbers")
    return ClassificationConfig.with_overrides(overrides)


def required_variables() -> list[str]:
    """The environment variables a deployment must set (the fields without a default)."""
    return sorted(f"{ENV_PREFIX}{name.upper()}" for name, field in Settings.model_fields.items() if field.is_required())


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    missing = [name for name in required_variables() if not env.get(name)]
    if missing:
        raise ConfigurationError(f"missing environment variable(s): {', '.join(missing)}")
    values: dict[str, Any] = {
        key[len(ENV_PREFIX) :].lower(): value for key, value in env.items() if key.startswith(ENV_PREFIX)
    }
    try:
        return Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = f"{ENV_PREFIX}{str(first['loc'][0]).upper()}" if first["loc"] else "environment"
        raise ConfigurationError(f"invalid environment variable {name}: {first['msg']}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
