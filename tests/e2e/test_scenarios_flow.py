"""Drivers, a what-if scenario and its comparison over the local stack's real HTTP, as a planner
would do them with the client: declare a numeric price and a promotion flag, upload weekly demand
(rows dated Mondays; SKU names with spaces, unicode and quotes) and drivers through the presigned
POST, set a calendar, run; results carry drivers_used / effects / warnings; a scenario with no change
equals its base run exactly; the report shades promotions, holidays and events. A scenario cutting
the price 10 % for 1,000 SKUs (monthly, the cheapest grain to forecast) is compared with its base:
totals = the sum of every page's items.

The demand is generated from the drivers with known effects (price elasticity -2, promotion uplift
+60 %), so the engine's driver-aware candidates find them (effects, demand going up when the price
goes down).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from skucast_client import Client

from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant

pytestmark = pytest.mark.e2e
F = "/api/v1/forecast"
N_WEEKLY, WEEKS, HORIZON_W = 30, 104, 8
N_SKUS, MONTHS, HORIZON_M = 1000, 36, 3
MONDAY = dt.date(2024, 1, 1)  # weekly rows dated Mondays are ISO weeks


def sku_name(i: int) -> str:
    return (f"Tee shirt 日本 {i:04d}", f'Mug "Large" {i:04d}', f"Ça coûte 1/2 {i:04d}")[i % 3]


def month(i: int) -> dt.date:
    return dt.date(2023 + i // 12, i % 12 + 1, 1)


@dataclass
class World:
    sc: Client
    tenant: Tenant
    skus: list[str]
    base: dict[str, Any]
    first_forecast: dt.date
    last_forecast: dt.date


def _frames(n: int, periods: list[dt.date], history: int, season: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Demand driven by price (elasticity -2) and promotions (+60 %) over `history` periods, and
    the drivers through every period: the price is 10 in the future, some promotions planned."""
    rng = np.random.default_rng(seed)
    demand_rows, driver_rows = [], []
    for i in range(n):
        sku, level = sku_name(i), rng.uniform(20, 200)
        price = np.where(rng.random(len(periods)) < 0.3, rng.choice([8.0, 9.0, 11.0, 12.0], len(periods)), 10.0)
        promo = (rng.random(len(periods)) < 0.1).astype(int)
        price[history:] = 10.0
        seasonal = 1 + 0.2 * np.sin(2 * np.pi * np.arange(len(periods)) / season)
        quantity = rng.poisson(level * seasonal * (price / 10.0) ** -2 * (1 + 0.6 * promo))
        for w, day in enumerate(periods):
            if w < history:
                demand_rows.append((sku, day.isoformat(), int(quantity[w])))
            driver_rows.append((sku, day.isoformat(), float(price[w]), int(promo[w])))
    demand = pd.DataFrame(demand_rows, columns=["sku", "date", "quantity"])
    drivers = pd.DataFrame(driver_rows, columns=["sku", "date", "price", "promo"])
    return demand, drivers


def _tenant(stack: RunningStack) -> tuple[Tenant, Client]:
    tenant = Tenant.sign_up(stack, tier="enterprise")
    sc = Client(stack.api, email=tenant.email, password=tenant.password, timeout=120)
    sc.declare_driver("price", "numeric", aggregate="mean")
    sc.declare_driver("promo", "flag", aggregate="max")
    return tenant, sc


def _upload(sc: Client, demand: pd.DataFrame, drivers: pd.DataFrame) -> None:
    report = sc.upload_demand(demand, poll_interval=0.5)
    assert (report["status"], report["rows_accepted"]) == ("SUCCEEDED", len(demand)), report
    report = sc.upload_drivers(drivers, poll_interval=0.5)
    assert (report["status"], report["rows_accepted"]) == ("SUCCEEDED", len(drivers)), report


def _finished(sc: Client, run: dict[str, Any]) -> dict[str, Any]:
    done = sc.wait_run(run["run_id"], progress=False, timeout=1200, poll_interval=1.0)
    assert done["status"] == "SUCCEEDED", done
    return done


@pytest.fixture(scope="module")
def weekly(stack: RunningStack) -> Iterator[World]:
    """(a) Weekly demand (rows dated Mondays) and drivers through the presigned POST, a calendar,
    and a run with drivers."""
    tenant, sc = _tenant(stack)
    with sc:
        weeks = [MONDAY + dt.timedelta(weeks=w) for w in range(WEEKS + HORIZON_W)]
        _upload(sc, *_frames(N_WEEKLY, weeks, WEEKS, 52, seed=19))
        first = weeks[WEEKS]
        fair = [dt.date(2025, 11, 24), first + dt.timedelta(weeks=2)]  # one in the history, one ahead
        calendar = sc.set_calendar(["US"], [{"name": "fair", "dates": fair}])
        assert calendar["holidays"] == ["US"]
        base = _finished(sc, sc.start_run(HORIZON_W, "W", drivers="auto", name="base"))
        yield World(sc, tenant, [sku_name(i) for i in range(N_WEEKLY)], base, first, weeks[-1])


@pytest.fixture(scope="module")
def thousand(stack: RunningStack) -> Iterator[World]:
    """(b) 1,000 SKUs (monthly: the cheapest grain to forecast, so the suite stays fast) and a base run."""
    tenant, sc = _tenant(stack)
    with sc:
        months = [month(i) for i in range(MONTHS + HORIZON_M)]
        _upload(sc, *_frames(N_SKUS, months, MONTHS, 12, seed=23))
        base = _finished(sc, sc.start_run(HORIZON_M, "M", drivers="auto", name="base"))
        yield World(sc, tenant, [sku_name(i) for i in range(N_SKUS)], base, months[MONTHS], months[-1])


@pytest.fixture(scope="module")
def price_cut(thousand: World) -> dict[str, Any]:
    """A scenario: the price 10 % lower over the whole horizon, every SKU."""
    end = thousand.last_forecast.replace(day=28)
    cut = {"driver": "price", "start": thousand.first_forecast, "end": end, "multiply": 0.9}
    return _finished(thousand.sc, thousand.sc.what_if(thousand.base["run_id"], [cut], name="price -10%"))


def _compare_pages(world: World, run_id: str, to: str, limit: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    items, cursor, totals, pages = [], None, None, 0
    while True:
        params = {"to": to, "limit": limit, **({"cursor": cursor} if cursor else {})}
        r = world.tenant.http.get(f"{F}/runs/{run_id}/compare", params=params, headers=world.tenant.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        totals = totals or body["totals"]
        assert body["totals"] == totals  # every page carries the same totals
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            assert pages == math.ceil(len(world.skus) / limit)
            return totals, items


# ---------------------------------------------------------------- (a) weekly, drivers and calendar
def test_given_drivers_and_a_calendar_then_a_weekly_run_forecasts_every_sku_with_its_explanation_fields(
    weekly: World, tmp_path: Path
) -> None:
    run = weekly.base
    assert run["params"]["drivers"] == "auto" and run["params"]["frequency"] == "W"
    assert run["progress"] == {"skus_total": N_WEEKLY, "skus_done": N_WEEKLY, "skus_failed": 0}
    results = {r["sku"]: r for r in weekly.sc.results(run["run_id"])}
    assert sorted(results) == sorted(weekly.skus)  # names exactly as sent
    for sku in weekly.skus[:3]:
        one = weekly.sc.result(run["run_id"], sku)
        assert one["sku"] == sku and len(one["forecast"]) == HORIZON_W
        assert one["forecast"][0]["date"] == weekly.first_forecast.isoformat()  # the Monday after the data
        assert isinstance(one["drivers_used"], list) and isinstance(one["effects"], list)
        assert isinstance(one["warnings"], list)
    export = weekly.sc.export_frame(run["run_id"], "parquet")
    assert len(export) == N_WEEKLY * HORIZON_W and set(export["sku"]) == set(weekly.skus)
    # The report shades each charted SKU's promotions, the US holidays and the fair, in its chart.
    from skucast_client.report import write_report

    out = write_report(weekly.sc, run["run_id"], tmp_path / "report.html", skus=weekly.skus[:2])
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert out["charted"] == weekly.skus[:2]
    for kind in ("promotion", "holiday", "event"):
        assert page.count(f'<rect class="shade shade-{kind}"') >= 2, kind  # on both charts


def test_given_driven_demand_then_results_name_the_drivers_used_and_their_effects(weekly: World) -> None:
    """The engine's driver-aware candidates win where demand follows the drivers; a result names
    what its forecast used: the drivers and calendar features with an effect over the horizon
    (a promotion only where one is planned in it)."""
    results = list(weekly.sc.results(weekly.base["run_id"]))
    used = [r for r in results if r["drivers_used"]]
    assert len(used) >= 0.8 * N_WEEKLY, [(r["sku"], r["method"]) for r in results]
    allowed = {"price", "promo", "holiday", "event:fair"}
    for r in used:
        assert set(r["drivers_used"]) <= allowed, r["drivers_used"]
        assert [e["name"] for e in r["effects"]] == r["drivers_used"]
        for effect in r["effects"]:
            assert math.isfinite(effect["units"]) and math.isfinite(effect["share"]), effect
    # Effects are counterfactual (the forecast minus the forecast with the driver at its reference):
    # a planned promotion adds demand; the future price is the usual 10, about its historical mean,
    # so wherever it is listed it moves the forecast little.
    promo_effects = [e for r in used for e in r["effects"] if e["name"] == "promo"]
    assert promo_effects and all(e["units"] > 0 for e in promo_effects), promo_effects
    price_shares = [e["share"] for r in used for e in r["effects"] if e["name"] == "price"]
    assert all(abs(share) < 0.05 for share in price_shares), price_shares


def test_given_a_scenario_with_no_change_then_every_forecast_point_equals_its_base(weekly: World) -> None:
    base_id = weekly.base["run_id"]
    done = _finished(weekly.sc, weekly.sc.what_if(base_id, name="no change"))
    assert (done["base_run_id"], done["models_from"], done["scenario"]["changes"]) == (base_id, base_id, [])
    mine = {r["sku"]: r for r in weekly.sc.results(done["run_id"])}
    theirs = {r["sku"]: r for r in weekly.sc.results(base_id)}
    assert mine.keys() == theirs.keys() and len(mine) == N_WEEKLY
    different = [s for s in theirs if mine[s]["forecast"] != theirs[s]["forecast"]]
    assert different == []  # every point's date, mean, final and bounds, exactly
    for sku, result in theirs.items():
        for name in ("method", "drivers_used", "effects", "warnings"):
            assert mine[sku][name] == result[name], (sku, name)
    totals, items = _compare_pages(weekly, done["run_id"], base_id, limit=7)
    assert totals["delta"] == 0 and all(i["delta"] == 0 for i in items)


def test_given_bad_scenarios_over_http_then_each_problem_names_its_field(weekly: World) -> None:
    http, headers = weekly.tenant.http, weekly.tenant.headers
    base_id = weekly.base["run_id"]
    first = weekly.first_forecast.isoformat()

    def change(**kw: Any) -> dict[str, Any]:
        return {"scenario": {"base_run_id": base_id, "changes": [{"start": first, "end": first, **kw}]}}

    cases = [
        ({"scenario": {"base_run_id": "run_0000000000000000000000000000"}}, 404, "scenario.base_run_id"),
        ({"scenario": {"base_run_id": base_id}, "horizon": 4}, 422, "horizon"),
        (change(driver="promo", set=3), 422, "scenario.changes[0].set"),
        (change(driver="shelf", add=1), 422, "scenario.changes[0].driver"),
        (change(driver="price", add=1, multiply=2), 422, "scenario.changes[0]"),
        (
            {"scenario": {"base_run_id": base_id, "events": [{"name": "x", "dates": ["2026-02-30"]}]}},
            422,
            "scenario.events[0].dates[0]",
        ),
        ({"horizon": 4, "frequency": "W", "drivers": ["price", "shelf"]}, 422, "drivers[1]"),
    ]
    for body, status, field in cases:
        r = http.post(f"{F}/runs", json=body, headers=headers)
        assert r.status_code == status, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in r.json()["errors"]], r.json()
    # Another tenant can neither use this run as a base nor compare with it: 404, as if it did not exist.
    assert weekly.tenant.stack is not None
    other = Tenant.sign_up(weekly.tenant.stack)
    r = other.http.post(f"{F}/runs", json={"scenario": {"base_run_id": base_id}}, headers=other.headers)
    assert r.status_code == 404, r.text
    r = other.http.get(f"{F}/runs/{base_id}/compare", params={"to": base_id}, headers=other.headers)
    assert r.status_code == 404, r.text


# ---------------------------------------------------------------- (b) 1,000 SKUs, a 10 % price cut
def test_given_a_price_cut_scenario_then_it_shows_its_base_and_the_compare_pages_add_up(
    thousand: World, price_cut: dict[str, Any]
) -> None:
    base_id = thousand.base["run_id"]
    run = thousand.sc.run(price_cut["run_id"])
    assert (run["base_run_id"], run["models_from"]) == (base_id, base_id)
    assert run["scenario"]["changes"][0]["multiply"] == 0.9
    for name in ("horizon", "frequency", "levels", "method", "as_of", "drivers", "backtest_windows"):
        assert run["params"][name] == thousand.base["params"][name], name
    assert run["progress"]["skus_total"] == N_SKUS
    totals, items = _compare_pages(thousand, run["run_id"], base_id, limit=150)
    assert len(items) == N_SKUS and {i["sku"] for i in items} == set(thousand.skus)
    assert math.isclose(totals["delta"], math.fsum(i["delta"] for i in items), rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(totals["run"], math.fsum(i["run_total"] for i in items), rel_tol=1e-12)
    assert math.isclose(totals["to"], math.fsum(i["to_total"] for i in items), rel_tol=1e-12)
    deltas = [abs(i["delta"]) for i in items]
    assert deltas == sorted(deltas, reverse=True)
    for item in items[:3]:  # each item is its two results' sums of `mean`, read back over HTTP
        mine = thousand.sc.result(run["run_id"], item["sku"])
        theirs = thousand.sc.result(base_id, item["sku"])
        assert math.isclose(item["run_total"], math.fsum(p["mean"] for p in mine["forecast"]), rel_tol=1e-12)
        assert math.isclose(item["to_total"], math.fsum(p["mean"] for p in theirs["forecast"]), rel_tol=1e-12)
    frame = thousand.sc.compare(run["run_id"], base_id)
    assert list(frame["sku"]) == [i["sku"] for i in items] and frame.attrs["totals"] == totals


def test_given_a_price_cut_then_demand_goes_up(thousand: World, price_cut: dict[str, Any]) -> None:
    totals, items = _compare_pages(thousand, price_cut["run_id"], thousand.base["run_id"], limit=500)
    # Elasticity -2: a 10 % cut lifts demand about 23 %; the model's estimate is within reach of it.
    assert 10 < totals["delta_pct"] < 40, totals
    rising = sum(1 for i in items if i["delta"] > 0)
    assert rising >= 0.9 * N_SKUS, rising
