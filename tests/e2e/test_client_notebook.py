"""The Python client as a notebook user runs it against the local stack: DataFrame in, DataFrame out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from skucast_client import Client, NotFoundError, forecast_columns

from skucast_local.sample_data import DAYS, START, generate
from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant

pytestmark = pytest.mark.e2e
N_SKUS, HORIZON = 36, 14
CLASSES = {"smooth", "erratic", "intermittent", "lumpy", "new", "inactive"}


@pytest.fixture(scope="module")
def sc(stack: RunningStack) -> Iterator[Client]:
    tenant = Tenant.sign_up(stack, tier="enterprise")
    with Client(stack.api, email=tenant.email, password=tenant.password) as client:
        yield client


@pytest.fixture(scope="module")
def demand() -> pd.DataFrame:
    """A statsforecast-style frame (unique_id, ds, y): the client accepts those names too."""
    frame = generate(N_SKUS, seed=3).frame
    return frame.rename(columns={"sku": "unique_id", "date": "ds", "quantity": "y"})


def test_notebook_upload_a_dataframe_forecast_and_get_the_documented_frame_back(
    sc: Client, demand: pd.DataFrame
) -> None:
    # In [1]: sc.upload_demand(df)
    report = sc.upload_demand(demand, poll_interval=0.5)
    assert report["status"] == "SUCCEEDED", report
    assert report["rows_accepted"] == len(demand) and report["rows_rejected"] == 0
    assert report["skus_touched"] == N_SKUS

    # In [2]: sc.skus()
    skus = sc.skus()
    assert sorted(s["sku"] for s in skus) == sorted(demand["unique_id"].unique())
    assert {s["demand_class"] for s in skus} <= CLASSES

    # In [3]: fc = sc.forecast(horizon=14)
    fc = sc.forecast(horizon=HORIZON, levels=(95, 80), progress=False, poll_interval=0.5)
    assert list(fc.columns) == [
        "unique_id", "ds", "forecast",
        "forecast-lo-95", "forecast-lo-80", "forecast-hi-80", "forecast-hi-95", "final",
        "method", "demand_class",
    ] == forecast_columns([80, 95])  # fmt: skip
    assert len(fc) == N_SKUS * HORIZON
    assert fc.attrs["run"]["status"] == "SUCCEEDED" and fc.attrs["failed"] == {}
    assert fc["ds"].dtype == "datetime64[ns]" and fc["unique_id"].dtype == object
    for col in ("forecast", "forecast-lo-95", "forecast-lo-80", "forecast-hi-80", "forecast-hi-95"):
        assert fc[col].dtype == "float64" and np.isfinite(fc[col]).all()
    assert fc.equals(fc.sort_values(["unique_id", "ds"]).reset_index(drop=True))
    assert fc["final"].equals(fc["forecast"])  # nothing adjusted yet: final is the statistical forecast

    first_day = pd.Timestamp(START + dt.timedelta(days=DAYS))  # the day after the history ends
    expected_days = list(pd.date_range(first_day, periods=HORIZON, freq="D"))
    for sku, rows in fc.groupby("unique_id"):
        assert list(rows["ds"]) == expected_days, sku
        assert rows["method"].nunique() == 1 and rows["demand_class"].nunique() == 1

    eps = 1e-9
    assert (fc["forecast-lo-95"] <= fc["forecast-lo-80"] + eps).all()
    assert (fc["forecast-lo-80"] <= fc["forecast"] + eps).all()
    assert (fc["forecast"] <= fc["forecast-hi-80"] + eps).all()
    assert (fc["forecast-hi-80"] <= fc["forecast-hi-95"] + eps).all()
    assert (fc["forecast-lo-95"] >= 0).all()
    assert set(fc["demand_class"]) <= CLASSES
    per_sku_class = fc.groupby("unique_id")["demand_class"].first().value_counts().to_dict()
    assert per_sku_class == fc.attrs["run"]["summary"]["by_class"]  # the run classifies on its own window
    assert fc["method"].notna().all()

    # In [4]: the same run read back, and the server's own export, agree with the frame.
    run_id = fc.attrs["run"]["run_id"]
    assert run_id in {r["run_id"] for r in sc.runs()}
    assert sc.run(run_id)["status"] == "SUCCEEDED"
    pd.testing.assert_frame_equal(sc.results_frame(run_id), fc, check_like=False)
    export = sc.export_frame(run_id, "parquet").sort_values(["sku", "date"]).reset_index(drop=True)
    assert len(export) == len(fc)
    assert export["sku"].tolist() == fc["unique_id"].tolist()
    np.testing.assert_allclose(export["mean"], fc["forecast"], rtol=1e-9)
    np.testing.assert_allclose(export["hi_95"], fc["forecast-hi-95"], rtol=1e-9)
    np.testing.assert_allclose(export["final"], fc["final"], rtol=1e-9)


def test_notebook_errors_are_exceptions_with_the_problem_document(sc: Client) -> None:
    with pytest.raises(NotFoundError) as caught:
        sc.run("run_does_not_exist")
    assert caught.value.status == 404
    assert caught.value.problem["status"] == 404 and caught.value.problem.get("request_id")
