"""Analog forecasts for new SKUs in-process (real handlers, moto): weekly demand and attributes
through the file door, a run whose new SKUs with an attribute group borrow its launch profile
(the result names the group), new SKUs without a big-enough group or without attributes keeping
the `new` policy, and an attribute change while the run is in flight not altering it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from skucast.forecasting.methods import DEFAULT_POLICY
from skucast_local.emulator import Provisioned
from tests.integration.pipeline import Pipeline, read_results, read_run, start_run

F = "/api/v1/forecast"
START = dt.date(2024, 1, 1)  # a Monday: weekly rows
WEEKS = 30
# A launch: ramp up, peak, decay (units at scale 1).
CURVE = np.array([3, 6, 10, 12, 11, 10, 9, 8, 7, 6, 6, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5])


@pytest.fixture
def pipe(provisioned: Provisioned, lambda_context: Any) -> Pipeline:
    return Pipeline(provisioned, lambda_context)


def _rows(sku: str, launch: int, scale: float) -> list[str]:
    return [f'"{sku}",{START + dt.timedelta(weeks=w)},{scale * CURVE[w - launch]:g}\n' for w in range(launch, WEEKS)]


def _catalog() -> tuple[bytes, bytes]:
    """Demand and attributes: 8 Kitchen launches (4 Acme, 4 Other), 3 old Kitchen SKUs selling
    since the data starts (not launches), 2 Garden launches (too few), and 3 new SKUs."""
    demand, attrs = [], []
    for i in range(8):
        sku = f"Kitchen launch {i}"
        demand += _rows(sku, 2 + i, 1 + i % 3)
        attrs.append(f'"{sku}",Kitchen,{"Acme" if i < 4 else "Other"}\n')
    for i in range(3):
        demand += [f"Old {i},{START + dt.timedelta(weeks=w)},40\n" for w in range(WEEKS)]
        attrs.append(f"Old {i},Kitchen,Acme\n")
    for i in range(2):
        demand += _rows(f"Garden launch {i}", 3 + i, 2)
        attrs.append(f"Garden launch {i},Garden,Green\n")
    demand += _rows("New kettle ☕", WEEKS - 2, 4)  # 2 points: Kitchen/Acme has 4 launches -> Kitchen
    attrs.append('"New kettle ☕",Kitchen,Acme\n')
    demand += _rows("New rake", WEEKS - 3, 2)  # Garden: 2 launches, no group
    attrs.append("New rake,Garden,Green\n")
    demand += _rows("Plain new", WEEKS - 2, 4)  # no attributes
    return ("sku,date,quantity\n" + "".join(demand)).encode(), ("sku,category,brand\n" + "".join(attrs)).encode()


def test_given_launches_in_a_group_when_a_new_sku_is_forecast_then_it_borrows_their_profile(pipe: Pipeline) -> None:
    client = "analog-a"
    pipe.tenant(client)
    demand, attrs = _catalog()
    assert pipe.upload_file(client, demand, filename="demand.csv")["status"] == "SUCCEEDED"
    assert pipe.upload_file(client, attrs, filename="items.csv", kind="attributes")["status"] == "SUCCEEDED"
    status, methods, _ = pipe.api("GET", f"{F}/methods", client, role="viewer")
    assert status == 200 and "analog" in {m["name"] for m in methods["items"]}
    run = start_run(pipe, client, {"horizon": 6, "frequency": "W", "backtest_windows": 1}, role="analyst")
    assert run["params"]["attributes_version"] >= 1
    # Moving the kettle to Garden while the run is in flight does not alter it.
    moved = {"records": [{"sku": "New kettle ☕", "attributes": {"category": "Garden"}}]}
    assert pipe.api("POST", f"{F}/attributes", client, role="analyst", body=moved)[0] == 200
    pipe.drain(duplicate=True)
    done = read_run(pipe, client, run["run_id"])
    assert done["status"] == "SUCCEEDED", done
    assert done["summary"]["by_method"]["analog"] == 1
    results = {r["sku"]: r for r in read_results(pipe, client, run["run_id"])}
    kettle = results["New kettle ☕"]
    assert (kettle["method"], kettle["demand_class"]) == ("analog", "new")
    assert kettle["analog"]["group"] == {"category": "Kitchen"} and kettle["analog"]["members"] == 8
    # Its forecast follows the launch curve at its ages (2..7) at its own scale, 4.
    means = np.array([p["mean"] for p in kettle["forecast"]])
    expected = 4 * CURVE[2:8]
    assert np.all(np.abs(means - expected) <= 0.35 * expected), means
    assert int(np.argmax(means)) == 1  # the peak at age 3
    for p in kettle["forecast"]:
        assert 0 <= p["lo_95"] <= p["lo_80"] <= p["mean"] <= p["hi_80"] <= p["hi_95"]
    # No group big enough, or no attributes: today's `new` policy, no analog field.
    for sku in ("New rake", "Plain new"):
        assert results[sku]["demand_class"] == "new"
        assert results[sku]["method"] in (*DEFAULT_POLICY["new"], "ensemble") and results[sku]["analog"] is None
    assert all(r["analog"] is None for s, r in results.items() if s != "New kettle ☕")
    # A run naming the method is accepted and does the same for the kettle (now in Garden: no group).
    named = start_run(pipe, client, {"horizon": 6, "frequency": "W", "method": "analog"}, role="analyst")
    pipe.drain()
    later = {r["sku"]: r for r in read_results(pipe, client, named["run_id"])}
    assert later["New kettle ☕"]["method"] != "analog" and later["Kitchen launch 0"]["method"] != "analog"
