"""Anomalies in history over the local stack's real HTTP: a CSV with an injected spike and a dip
goes through the presigned POST; GET .../demand marks exactly those points (quantities as sent);
a run with `history_cleaning: "flagged"` records it, cleans them and succeeds; a bad value is a 422.

Data (seeded, numpy default_rng(20)): 120 days from 2025-01-06 of a weekly season (weekday
multipliers 0.7-1.5 on a level of 60) with bounded noise (+-15 %), so nothing but the injected
points is an outlier; the spike is 15x the day's level, the dip a zero.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest

from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant, results, run_to_end, upload

pytestmark = pytest.mark.e2e
F = "/api/v1/forecast"
FIRST, DAYS = dt.date(2025, 1, 6), 120
SPIKY = "Crème brûlée 200 g"  # spaces and unicode, as an ERP names it
DIPPY = "Tee, size XL / 日本"  # a comma (quoted in the CSV), a slash, CJK
CALM = "calm item"
SPIKE_DAY, DIP_DAY = 70, 95
WEEKLY = np.array([0.7, 1.0, 1.1, 1.0, 1.2, 1.5, 0.5])


def _day(i: int) -> str:
    return (FIRST + dt.timedelta(days=i)).isoformat()


def _demand() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20)
    season = 60 * WEEKLY[np.arange(DAYS) % 7]
    series = {sku: np.round(season * rng.uniform(0.85, 1.15, DAYS)) for sku in (SPIKY, DIPPY, CALM)}
    series[SPIKY][SPIKE_DAY] = 15 * 60
    series[DIPPY][DIP_DAY] = 0.0
    return series


def _csv(series: dict[str, np.ndarray]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["sku", "date", "quantity"])
    writer.writerows((sku, _day(i), f"{q:g}") for sku, values in series.items() for i, q in enumerate(values))
    return buf.getvalue().encode()


def _points(tenant: Tenant, sku: str) -> list[dict[str, Any]]:
    r = tenant.http.get(f"{F}/skus/{quote(sku, safe='')}/demand", headers=tenant.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["points"])


@pytest.fixture(scope="module")
def tenant(stack: RunningStack) -> Tenant:
    tenant = Tenant.sign_up(stack, tier="standard", http=stack.http())
    report = upload(tenant, _csv(_demand()))
    assert report["status"] == "SUCCEEDED" and report["rows_accepted"] == 3 * DAYS, report
    return tenant


def test_given_a_file_with_a_spike_and_a_dip_then_get_demand_marks_exactly_them_with_quantities_as_sent(
    tenant: Tenant,
) -> None:
    sent = _demand()
    for sku, day in ((SPIKY, SPIKE_DAY), (DIPPY, DIP_DAY)):
        points = _points(tenant, sku)
        assert [p["quantity"] for p in points] == sent[sku].tolist()
        assert [p["date"] for p in points if p["anomaly"]] == [_day(day)], sku
    assert not any(p["anomaly"] for p in _points(tenant, CALM))


def test_given_history_cleaning_flagged_then_the_run_records_it_cleans_the_flags_and_succeeds(tenant: Tenant) -> None:
    body = {"horizon": 14, "backtest_windows": 1, "history_cleaning": "flagged"}
    run = run_to_end(tenant, body, timeout=600)
    assert run["status"] == "SUCCEEDED", run
    assert run["params"]["history_cleaning"] == "flagged"
    assert run["summary"]["points_cleaned"] == 2
    cleaned = {r["sku"]: r["history_cleaned"] for r in results(tenant, run["run_id"])}
    assert cleaned == {SPIKY: 1, DIPPY: 1, CALM: 0}
    again = tenant.http.get(f"{F}/runs/{run['run_id']}", headers=tenant.headers).json()
    assert again["params"]["history_cleaning"] == "flagged"
    # The stored demand is as sent, whatever a run cleaned.
    assert _points(tenant, SPIKY)[SPIKE_DAY]["quantity"] == 15 * 60


def test_given_no_history_cleaning_then_none_is_recorded(tenant: Tenant) -> None:
    r = tenant.http.post(f"{F}/runs", json={"horizon": 7, "backtest_windows": 0}, headers=tenant.headers)
    assert r.status_code == 202, r.text
    assert r.json()["params"]["history_cleaning"] == "none"


@pytest.mark.parametrize("value", ["always", "Flagged", 1, None])
def test_given_an_unknown_history_cleaning_then_a_422_problem_naming_it(tenant: Tenant, value: Any) -> None:
    r = tenant.http.post(f"{F}/runs", json={"horizon": 7, "history_cleaning": value}, headers=tenant.headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == 422
    assert any("history_cleaning" in str(e["field"]) for e in problem["errors"]), problem
