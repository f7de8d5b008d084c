"""Demand as planners export it, through the real path (file -> presigned POST -> ingestion ->
catalog -> run -> results over HTTP): monthly rows dated the 1st, weekly rows dated Mondays, and a
sales-only daily export whose SKUs stop selling at different times.

Generators (seeded, numpy default_rng): monthly series are a level of 800-5,000 with a
multiplicative yearly season (+-30 %) and Poisson noise; weekly series a level of 60-140 with a
yearly sine (+-20 %) and Poisson noise.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import pytest

from skucast.forecasting.engine import ForecastSpec, SeriesInput, forecast_batch
from skucast.forecasting.periods import next_period
from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant, results, run_to_end, upload, wait

F = "/api/v1/forecast"
MONTHS, FIRST_MONTH = 60, dt.date(2020, 1, 1)
WEEKS, FIRST_MONDAY = 104, dt.date(2023, 1, 2)
# Names as ERPs carry them: spaces, unicode, quotes, a comma.
MONTHLY_SKUS = ["Café crème 250 g", 'Bolt M8 "zinc"', "Tee, size XL", "日本茶-500g", "PLAIN-1", "PLAIN-2"]
WEEKLY_SKUS = ["Weekly A", "Weekly Ä", "Weekly 'B'", "WEEKLY-3"]


def monthly_demand() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(16)
    season = 1 + 0.3 * np.sin(2 * np.pi * np.arange(MONTHS) / 12)
    return {sku: rng.poisson(rng.uniform(800, 5000) * season).astype(float) for sku in MONTHLY_SKUS}


def weekly_demand() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(17)
    season = 1 + 0.2 * np.sin(2 * np.pi * np.arange(WEEKS) / 52)
    return {sku: rng.poisson(rng.uniform(60, 140) * season).astype(float) for sku in WEEKLY_SKUS}


def rows_csv(rows: list[tuple[str, dt.date, float]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["sku", "date", "quantity"])
    writer.writerows((sku, day.isoformat(), f"{q:g}") for sku, day, q in rows)
    return buf.getvalue().encode()


def periods_csv(series: dict[str, np.ndarray], first: dt.date, frequency: str) -> bytes:
    return rows_csv(
        [(sku, next_period(first, frequency, i), q) for sku, values in series.items() for i, q in enumerate(values)]
    )


def upload_with(tenant: Tenant, data: bytes, **options: str) -> dict[str, Any]:
    """A file through the presigned POST with upload options (POST /uploads's body)."""
    r = tenant.http.post(f"{F}/uploads", json={"filename": "export.csv", **options}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    ticket = r.json()
    sent = httpx.post(ticket["url"], data=ticket["fields"], files={"file": ("export.csv", data)}, timeout=120)
    assert sent.status_code in (200, 201, 204), sent.text

    def finished() -> dict[str, Any] | None:
        report = tenant.http.get(f"{F}/uploads/{ticket['upload_id']}", headers=tenant.headers).json()
        return report if report["status"] not in ("AWAITING_FILE", "PROCESSING") else None

    return dict(wait(finished, 300, "the upload to be ingested"))


def sku_item(tenant: Tenant, sku: str) -> dict[str, Any]:
    r = tenant.http.get(f"{F}/skus/{quote(sku, safe='')}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def sku_demand(tenant: Tenant, sku: str) -> dict[str, Any]:
    r = tenant.http.get(f"{F}/skus/{quote(sku, safe='')}/demand", headers=tenant.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def assert_equals_engine(got: dict[str, dict[str, Any]], inputs: list[SeriesInput], spec: ForecastSpec) -> None:
    for e in forecast_batch(inputs, spec):
        r = got[e.sku]
        assert r["error"] is None and e.error is None, (e.sku, r["error"], e.error)
        assert (r["method"], r["demand_class"]) == (e.method, e.demand_class), e.sku
        assert [p["date"] for p in r["forecast"]] == [p["date"] for p in e.forecast], e.sku
        for key in ("mean", "lo_80", "hi_80", "lo_95", "hi_95"):
            np.testing.assert_allclose(
                [p[key] for p in r["forecast"]], [p[key] for p in e.forecast], rtol=1e-9, atol=1e-9, err_msg=e.sku
            )


@pytest.fixture(scope="module")
def monthly(stack: RunningStack) -> Iterator[Tenant]:
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, tier="standard", http=http)
        report = upload(tenant, periods_csv(monthly_demand(), FIRST_MONTH, "M"))
        assert report["status"] == "SUCCEEDED", report
        assert report["granularity"] == "M" and report["skus_touched"] == len(MONTHLY_SKUS), report
        yield tenant


def test_given_monthly_rows_dated_the_first_then_the_catalog_and_a_monthly_run_work_in_whole_months(
    monthly: Tenant,
) -> None:
    series = monthly_demand()
    for sku, values in series.items():
        item = sku_item(monthly, sku)
        assert item["granularity"] == "M" and item["n_periods"] == MONTHS, item
        # One point a month is smooth demand, not one selling day in a month of zeros.
        assert item["demand_class"] == "smooth" and item["adi"] == 1.0, item
        assert (item["first_date"], item["last_date"]) == ("2020-01-01", "2024-12-01"), item
        shown = sku_demand(monthly, sku)
        assert shown["granularity"] == "M" and len(shown["points"]) == MONTHS
        assert [p["quantity"] for p in shown["points"]] == values.tolist()
        assert all(p["recorded"] for p in shown["points"])
    run = run_to_end(monthly, {"horizon": 12, "frequency": "M", "backtest_windows": 1})
    assert run["status"] == "SUCCEEDED", run
    assert run["params"]["as_of"] == "2024-12-01", run["params"]
    got = {r["sku"]: r for r in results(monthly, run["run_id"])}
    assert set(got) == set(series)
    months = [next_period(dt.date(2025, 1, 1), "M", i).isoformat() for i in range(12)]
    assert all([p["date"] for p in r["forecast"]] == months for r in got.values())
    spec = ForecastSpec(horizon=12, frequency="M", backtest_windows=1)
    assert_equals_engine(got, [SeriesInput(s, FIRST_MONTH, v, "M") for s, v in series.items()], spec)
    # Sanity against the reported bug (forecasts 3-12x too high): the level stays the level.
    for sku, values in series.items():
        mean = np.mean([p["mean"] for p in got[sku]["forecast"]])
        assert 0.5 < mean / values[-12:].mean() < 1.5, (sku, mean, values[-12:].mean())


def test_given_monthly_data_when_a_daily_or_weekly_run_is_asked_then_each_sku_fails_with_a_clear_code(
    monthly: Tenant,
) -> None:
    for frequency in ("D", "W"):
        run = run_to_end(monthly, {"horizon": 7, "frequency": frequency, "backtest_windows": 0})
        assert run["progress"]["skus_failed"] == len(MONTHLY_SKUS), run
        for r in results(monthly, run["run_id"]):
            assert r["forecast"] == [] and r["error"]["code"] == "granularity_too_coarse", r
            assert "monthly" in r["error"]["message"], r


def test_given_daily_rows_for_a_monthly_sku_then_they_are_refused_and_the_stored_months_stay(
    monthly: Tenant,
) -> None:
    before = sku_demand(monthly, "PLAIN-1")
    days = [("PLAIN-1", dt.date(2024, 12, 1) + dt.timedelta(days=i), 5.0) for i in range(10)]
    fresh = [("NEW DAILY", dt.date(2024, 12, 1) + dt.timedelta(days=i), 1.0) for i in range(10)]
    report = upload(monthly, rows_csv(days + fresh))
    assert report["status"] == "PARTIAL" and report["granularity"] == "D", report
    assert (report["rows_accepted"], report["rows_rejected"]) == (10, 10), report
    assert [e["code"] for e in report["errors"]] == ["granularity_mismatch"], report
    assert "PLAIN-1" in report["errors"][0]["message"] and "monthly" in report["errors"][0]["message"]
    assert sku_demand(monthly, "PLAIN-1") == before
    assert sku_item(monthly, "NEW DAILY")["granularity"] == "D"


def test_given_weekly_rows_dated_mondays_then_weekly_and_monthly_runs_use_whole_weeks(stack: RunningStack) -> None:
    series = weekly_demand()
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, tier="standard", http=http)
        report = upload(tenant, periods_csv(series, FIRST_MONDAY, "W"))
        assert report["status"] == "SUCCEEDED" and report["granularity"] == "W", report
        last_monday = FIRST_MONDAY + dt.timedelta(weeks=WEEKS - 1)
        for sku in series:
            item = sku_item(tenant, sku)
            assert item["granularity"] == "W" and item["n_periods"] == WEEKS, item
            assert item["demand_class"] == "smooth" and item["last_date"] == last_monday.isoformat(), item
        run = run_to_end(tenant, {"horizon": 8, "frequency": "W", "backtest_windows": 1})
        assert run["status"] == "SUCCEEDED", run
        got = {r["sku"]: r for r in results(tenant, run["run_id"])}
        weeks = [(last_monday + dt.timedelta(weeks=i + 1)).isoformat() for i in range(8)]
        assert all([p["date"] for p in r["forecast"]] == weeks for r in got.values())
        spec = ForecastSpec(horizon=8, frequency="W", backtest_windows=1)
        assert_equals_engine(got, [SeriesInput(s, FIRST_MONDAY, v, "W") for s, v in series.items()], spec)
        for sku, values in series.items():  # whole weeks: no 7x pro-rating of the last one
            mean = np.mean([p["mean"] for p in got[sku]["forecast"]])
            assert 0.6 < mean / values[-8:].mean() < 1.4, (sku, mean)
        # Coarser than the data is allowed: weeks spread over their days, months summed.
        run = run_to_end(tenant, {"horizon": 3, "frequency": "M", "backtest_windows": 0})
        assert run["status"] == "SUCCEEDED", run
        got = {r["sku"]: r for r in results(tenant, run["run_id"])}
        assert {r["forecast"][0]["date"] for r in got.values()} == {"2025-01-01"}, got
        for sku, values in series.items():
            mean = np.mean([p["mean"] for p in got[sku]["forecast"]])
            # About 4.35 weeks a month, times the season: far from a week pro-rated 7x into a month.
            assert 3.0 < mean / values[-8:].mean() < 7.0, (sku, mean)


def test_given_a_sales_only_export_then_every_sku_is_forecast_from_the_tenants_last_day(
    stack: RunningStack,
) -> None:
    """Rows only on days with sales: a SKU that stopped selling in July is inactive in December,
    not an intermittent SKU with a forecast in July."""
    end = dt.date(2025, 12, 27)
    rng = np.random.default_rng(18)
    rows: list[tuple[str, dt.date, float]] = []
    last_sale = {"Seller": end, "Stopped in July": dt.date(2025, 7, 29), "Quiet lately": dt.date(2025, 12, 10)}
    for sku, last in last_sale.items():
        day = dt.date(2025, 1, 1)
        while day <= last:
            if rng.random() < 0.8 or day == last:
                rows.append((sku, day, float(rng.integers(1, 20))))
            day += dt.timedelta(days=1)
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, tier="standard", http=http)
        report = upload(tenant, rows_csv(rows))
        assert report["status"] == "SUCCEEDED" and report["granularity"] == "D", report
        shown = sku_demand(tenant, "Seller")["points"]
        recorded = {(sku, day.isoformat()) for sku, day, _ in rows}
        assert [p["recorded"] for p in shown] == [("Seller", p["date"]) in recorded for p in shown]
        assert not all(p["recorded"] for p in shown) and all(p["quantity"] == 0 for p in shown if not p["recorded"])
        for frequency, first in (("D", "2025-12-28"), ("W", "2025-12-29")):
            run = run_to_end(tenant, {"horizon": 4, "frequency": frequency, "backtest_windows": 0})
            assert run["status"] == "SUCCEEDED" and run["params"]["as_of"] == end.isoformat(), run
            got = {r["sku"]: r for r in results(tenant, run["run_id"])}
            assert {r["forecast"][0]["date"] for r in got.values()} == {first}, got
            assert got["Stopped in July"]["demand_class"] == "inactive", got["Stopped in July"]
            assert all(p["mean"] == 0 for p in got["Stopped in July"]["forecast"])
            assert got["Seller"]["demand_class"] != "inactive"
        # An upload that says a day without a row is unknown: no zeros after its last row.
        counted = [("Counted till July", day, q) for sku, day, q in rows if sku == "Stopped in July"]
        report = upload_with(tenant, rows_csv(counted), missing="unknown")
        assert report["status"] == "SUCCEEDED" and report["missing"] == "unknown", report
        assert sku_demand(tenant, "Counted till July")["missing"] == "unknown"
        run = run_to_end(tenant, {"horizon": 4, "frequency": "D", "backtest_windows": 0, "method": "naive"})
        got = {r["sku"]: r for r in results(tenant, run["run_id"])}
        assert {r["forecast"][0]["date"] for r in got.values()} == {"2025-12-28"}, got
        assert [p["mean"] for p in got["Counted till July"]["forecast"]] == [counted[-1][2]] * 4
        assert [p["mean"] for p in got["Stopped in July"]["forecast"]] == [0.0] * 4
        # An explicit origin: history through it, forecasts from the next day.
        run = run_to_end(tenant, {"horizon": 3, "frequency": "D", "backtest_windows": 0, "as_of": "2025-07-31"})
        got = {r["sku"]: r for r in results(tenant, run["run_id"])}
        assert {r["forecast"][0]["date"] for r in got.values()} == {"2025-08-01"}, got
        assert got["Stopped in July"]["demand_class"] != "inactive", got["Stopped in July"]


def test_given_a_monthly_run_then_actuals_sent_as_monthly_rows_are_scored_whole_months_over_http(
    stack: RunningStack,
) -> None:
    """Accuracy against actuals at the grain planners have: 57 months of history, a 3-month run,
    then the 3 months' actuals as rows dated the 1st. Each month is scored once, against the file,
    with the seasonal-naive benchmark (the same months a year before)."""
    series, held = monthly_demand(), 3
    history = {sku: v[:-held] for sku, v in series.items()}
    actual = {sku: v[-held:] for sku, v in series.items()}
    first = next_period(FIRST_MONTH, "M", MONTHS - held)
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, tier="standard", http=http)
        assert upload(tenant, periods_csv(history, FIRST_MONTH, "M"))["status"] == "SUCCEEDED"
        run = run_to_end(tenant, {"horizon": held, "frequency": "M", "levels": [80, 95]})
        assert run["status"] == "SUCCEEDED", run
        got = {r["sku"]: r for r in results(tenant, run["run_id"])}
        report = upload(tenant, periods_csv(actual, first, "M"))
        assert report["status"] == "SUCCEEDED" and report["granularity"] == "M", report
        r = http.get(f"{F}/runs/{run['run_id']}/accuracy", headers=tenant.headers)
        assert r.status_code == 200, r.text
        answer = r.json()

    a = np.concatenate([actual[s] for s in MONTHLY_SKUS])
    f = np.concatenate([[p["mean"] for p in got[s]["forecast"]] for s in MONTHLY_SKUS])
    naive = np.concatenate([history[s][-12 : -12 + held] for s in MONTHLY_SKUS])
    assert answer["points_scored"] == len(MONTHLY_SKUS) * held and answer["skus_scored"] == len(MONTHLY_SKUS)
    assert answer["actuals_through"] == next_period(first, "M", held - 1).isoformat()
    for key, forecast in (("metrics", f), ("final", f), ("naive", naive)):
        e = forecast - a
        assert answer[key]["mae"] == pytest.approx(np.abs(e).mean(), rel=1e-9), key
        assert answer[key]["wape"] == pytest.approx(np.abs(e).sum() / a.sum(), rel=1e-9), key
        assert answer[key]["bias"] == pytest.approx(e.mean(), rel=1e-9), key
    for level in (80, 95):
        lo = np.concatenate([[p[f"lo_{level}"] for p in got[s]["forecast"]] for s in MONTHLY_SKUS])
        hi = np.concatenate([[p[f"hi_{level}"] for p in got[s]["forecast"]] for s in MONTHLY_SKUS])
        assert answer["metrics"][f"coverage_{level}"] == pytest.approx(np.mean((a >= lo) & (a <= hi)), rel=1e-9)
