"""Deployment settings of ingestion and classification (template parameters RejectedRowsShare and
ClassificationThresholds): uploads, the SKU catalog and forecast runs all follow them."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from skucast.settings import get_settings
from skucast_local.emulator import Provisioned
from tests.integration.pipeline import Pipeline

F = "/api/v1/forecast"


def _records(n_good: int, n_bad: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(5)
    days = np.datetime_as_string(np.datetime64("2024-01-01") + np.arange(n_good)).tolist()
    good = [{"sku": "S", "date": d, "quantity": int(q)} for d, q in zip(days, rng.poisson(20, n_good), strict=True)]
    return good + [{"sku": "S", "date": "2024-01-01", "quantity": -1}] * n_bad  # quantity_negative


def _ingest_and_classify(pipe: Pipeline, client: str) -> tuple[str, str | None, str | None]:
    """(upload status, the catalog's class of S, a run's class of S) for 120 days + 40 bad rows."""
    status, report, _ = pipe.api("POST", f"{F}/demand", client, role="analyst", body={"records": _records(120, 40)})
    assert status == 200, report
    if report["status"] == "REJECTED":
        return report["status"], None, None
    status, sku, _ = pipe.api("GET", f"{F}/skus/S", client, role="viewer")
    assert status == 200, sku
    status, run, _ = pipe.api("POST", f"{F}/runs", client, body={"horizon": 7, "backtest_windows": 1})
    assert status == 202, run
    pipe.drain()
    status, page, _ = pipe.api("GET", f"{F}/runs/{run['run_id']}/results", client, role="viewer")
    assert status == 200 and len(page["items"]) == 1, page
    return report["status"], sku["demand_class"], page["items"][0]["demand_class"]


def test_given_the_defaults_then_a_quarter_of_bad_rows_rejects_the_upload(
    provisioned: Provisioned, lambda_context: Any
) -> None:
    pipe = Pipeline(provisioned, lambda_context)
    assert _ingest_and_classify(pipe, pipe.tenant("cli_defaults")) == ("REJECTED", None, None)


def test_given_deployment_thresholds_then_uploads_the_catalog_and_runs_follow_them(
    provisioned: Provisioned, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipe = Pipeline(provisioned, lambda_context)
    monkeypatch.setenv("SKUCAST_MAX_REJECTED_SHARE", "0.3")
    get_settings.cache_clear()
    # 120 days of steady demand is `smooth` by default...
    assert _ingest_and_classify(pipe, pipe.tenant("cli_lenient")) == ("PARTIAL", "smooth", "smooth")
    # ...and `new` where a deployment asks for 200 days of history first.
    monkeypatch.setenv("SKUCAST_CLASSIFICATION_THRESHOLDS", json.dumps({"min_periods_d": 200}))
    get_settings.cache_clear()
    assert _ingest_and_classify(pipe, pipe.tenant("cli_patient")) == ("PARTIAL", "new", "new")
