"""New items forecast from similar ones over the local stack's real HTTP: weekly demand and an
attributes CSV through the presigned POST (with the client), an auto run, and the results read
back: a launch with two weeks of history in a group of launches gets `method: "analog"` naming
its group; a launch without attributes keeps today's `new` policy; another tenant sees nothing."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import numpy as np
import pytest

from skucast.forecasting.methods import DEFAULT_POLICY
from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant

pytestmark = pytest.mark.e2e
F = "/api/v1/forecast"
START = dt.date(2024, 1, 1)  # a Monday: weekly rows
WEEKS = 26
CURVE = np.array([3, 6, 10, 12, 11, 10, 9, 8, 7, 6, 6, 5] + [5] * 20, dtype=float)


def _launch(sku: str, launch: int, scale: float) -> list[dict[str, object]]:
    return [
        {"sku": sku, "date": START + dt.timedelta(weeks=w), "quantity": scale * CURVE[w - launch]}
        for w in range(launch, WEEKS)
    ]


def test_a_new_sku_with_attributes_gets_an_analog_forecast_naming_its_group(stack: RunningStack) -> None:
    import pandas as pd
    from skucast_client import Client

    tenant = Tenant.sign_up(stack, http=stack.http())
    rows: list[dict[str, object]] = [
        {"sku": "Old mug", "date": START + dt.timedelta(weeks=w), "quantity": 30.0} for w in range(WEEKS)
    ]
    items = [{"sku": "Old mug", "category": "Kitchen"}]
    for i in range(6):
        rows += _launch(f"Kitchen launch {i}", 2 + i, 1 + i % 3)
        items.append({"sku": f"Kitchen launch {i}", "category": "Kitchen"})
    rows += _launch("Nouvelle théière", WEEKS - 2, 3)
    items.append({"sku": "Nouvelle théière", "category": "Kitchen"})
    rows += _launch("Plain launch", WEEKS - 2, 3)  # no attributes
    with Client(stack.api, email=tenant.email, password=tenant.password) as sc:
        assert sc.upload_demand(pd.DataFrame(rows))["status"] == "SUCCEEDED"
        assert sc.upload_attributes(pd.DataFrame(items))["status"] == "SUCCEEDED"
        started = sc.start_run(4, "W", backtest_windows=0)
        run = sc.wait_run(started["run_id"], progress=False, timeout=300)
    assert run["status"] == "SUCCEEDED", run
    run_id = run["run_id"]

    r = tenant.http.get(f"{F}/runs/{run_id}/results/{quote('Nouvelle théière', safe='')}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    new = r.json()
    assert (new["method"], new["demand_class"]) == ("analog", "new")
    assert new["analog"]["group"] == {"category": "Kitchen"} and new["analog"]["members"] == 6
    means = np.array([p["mean"] for p in new["forecast"]])
    assert np.all(np.abs(means - 3 * CURVE[2:6]) <= 0.35 * 3 * CURVE[2:6]), means
    plain = tenant.http.get(f"{F}/runs/{run_id}/results/Plain%20launch", headers=tenant.headers).json()
    assert plain["demand_class"] == "new" and plain["analog"] is None
    assert plain["method"] in (*DEFAULT_POLICY["new"], "ensemble")

    other = Tenant.sign_up(stack, http=stack.http())
    assert other.http.get(f"{F}/runs/{run_id}/results", headers=other.headers).status_code == 404
