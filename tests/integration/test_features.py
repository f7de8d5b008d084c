"""A run's features from stored drivers and the tenant's calendar (services/features.py), over moto:
declared through the API, values through the JSON door, rolled up to the run's weeks by each
driver's rule, holidays counted per week, a scenario's changes on the future only, isolation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from skucast.forecasting.engine import SeriesInput
from skucast.services.features import features_for
from skucast.settings import get_settings
from skucast_local.emulator import Provisioned
from tests.integration.pipeline import Pipeline

F = "/api/v1/forecast"
SKU = 'Crème "brûlée", 500 g'
START = dt.date(2025, 11, 3)  # weekly demand dated Mondays
AS_OF = "2025-12-28"  # a Sunday: the first forecast week starts 2025-12-29
WEEKLY = SeriesInput(SKU, START, np.ones(8), "W")


@pytest.fixture
def pipe(provisioned: Provisioned, lambda_context: Any) -> Pipeline:
    return Pipeline(provisioned, lambda_context)


def _tenant(pipe: Pipeline, name: str) -> str:
    client = pipe.tenant(name)
    for driver, body in {"price": {"kind": "numeric"}, "promo": {"kind": "flag", "aggregate": "max"}}.items():
        assert pipe.api("PUT", f"{F}/drivers/{driver}", client, body=body)[0] == 201
    records = [
        {"sku": SKU, "date": "2025-12-15", "values": {"price": 10.0, "promo": 0}},
        {"sku": SKU, "date": "2025-12-17", "values": {"price": 8.0, "promo": 1}},
        {"sku": SKU, "date": "2025-12-29", "values": {"price": 10.0}},
        {"sku": SKU, "date": "2026-01-05", "values": {"price": 12.0, "promo": 1}},
    ]
    status, report, _ = pipe.api("POST", f"{F}/drivers/values", client, role="analyst", body={"records": records})
    assert status == 200, report
    body = {"holidays": ["US"], "events": [{"name": "launch", "dates": ["2026-01-06"], "skus": [SKU]}]}
    assert pipe.api("PUT", f"{F}/calendar", client, body=body)[0] == 200
    return client


def _params(**extra: Any) -> dict[str, Any]:
    return {"horizon": 2, "frequency": "W", **extra}


def test_drivers_roll_up_to_the_runs_weeks_and_the_calendar_counts_days(pipe: Pipeline) -> None:
    client = _tenant(pipe, "acme")
    features = features_for(get_settings(), client, _params(), [WEEKLY], AS_OF)[SKU]
    assert features.values["price"] == {"2025-12-15": 9.0, "2025-12-29": 10.0, "2026-01-05": 12.0}
    assert features.values["promo"] == {"2025-12-15": 1.0, "2026-01-05": 1.0}
    holidays = features.values["holiday"]
    # Veterans Day, Thanksgiving, Christmas, New Year; every week from the first through the horizon.
    assert [week for week, days in holidays.items() if days] == ["2025-11-10", "2025-11-24", "2025-12-22", "2025-12-29"]
    assert sum(holidays.values()) == 4 and min(holidays) == "2025-11-03" and max(holidays) == "2026-01-05"
    assert features.values["event:launch"]["2026-01-05"] == 1
    assert features.kinds == {"price": "numeric", "promo": "flag", "holiday": "holiday", "event:launch": "event"}
    assert features.known_in_advance == {"price", "promo", "holiday", "event:launch"}


def test_a_scenario_changes_the_future_only_and_none_means_history_only(pipe: Pipeline) -> None:
    client = _tenant(pipe, "acme")
    cut = {"driver": "price", "start": "2025-12-01", "end": "2026-01-31", "multiply": 0.9}
    sale = {"name": "sale", "dates": ["2025-12-16", "2026-01-07"]}
    scenario = {"base_run_id": "run_x", "changes": [cut], "events": [sale]}
    features = features_for(get_settings(), client, _params(scenario=scenario), [WEEKLY], AS_OF)[SKU]
    assert features.values["price"] == {"2025-12-15": 9.0, "2025-12-29": 9.0, "2026-01-05": pytest.approx(10.8)}
    assert features.values["event:sale"]["2026-01-05"] == 1 and features.values["event:sale"]["2025-12-15"] == 0
    assert features_for(get_settings(), client, _params(drivers="none"), [WEEKLY], AS_OF) == {}
    only = features_for(get_settings(), client, _params(drivers=["promo"]), [WEEKLY], AS_OF)[SKU]
    assert "price" not in only.values and "promo" in only.values


def test_another_tenants_drivers_are_never_read(pipe: Pipeline) -> None:
    _tenant(pipe, "acme")
    other = pipe.tenant("other")
    assert features_for(get_settings(), other, _params(), [WEEKLY], AS_OF) == {}
