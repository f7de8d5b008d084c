"""DataFrames in and out: result shaping, demand upload encoding, forecast() end to end on a fake API."""

from __future__ import annotations

import gzip
import json
import re
from typing import Any

import httpx
import pandas as pd
import pytest
from skucast_client import RunFailedError, UploadRejectedError, forecast_columns, forecast_frame

from tests.unit.client.fake_api import Recorder, result

DATES = ["2025-03-01", "2025-03-02", "2025-03-03"]


def test_forecast_columns_follow_statsforecast_order() -> None:
    assert forecast_columns([95, 80]) == [
        "unique_id",
        "ds",
        "forecast",
        "forecast-lo-95",
        "forecast-lo-80",
        "forecast-hi-80",
        "forecast-hi-95",
        "final",
        "method",
        "demand_class",
    ]


def test_given_results_then_the_frame_has_one_row_per_sku_and_period_and_failed_skus_in_attrs() -> None:
    results = [
        result("B", DATES, method="croston_sba", demand_class="intermittent"),
        {
            "sku": "X",
            "demand_class": None,
            "method": None,
            "forecast": [],
            "metrics": {},
            "error": {"code": "batch_failed", "message": "boom"},
        },
        result("A", DATES),
    ]
    frame = forecast_frame(results, [80, 95])
    assert list(frame.columns) == forecast_columns([80, 95])
    assert len(frame) == 6
    assert frame["unique_id"].tolist() == ["A"] * 3 + ["B"] * 3
    assert frame["ds"].dtype == "datetime64[ns]"
    assert frame["ds"].iloc[:3].dt.strftime("%Y-%m-%d").tolist() == DATES
    assert frame["forecast"].tolist() == [10.0, 11.0, 12.0] * 2
    assert frame["forecast-lo-95"].iloc[0] == 6.0 and frame["forecast-hi-95"].iloc[0] == 14.0
    assert frame["forecast-lo-80"].iloc[0] == 8.0 and frame["forecast-hi-80"].iloc[0] == 12.0
    assert (frame["forecast-lo-95"] <= frame["forecast-lo-80"]).all()
    assert (frame["forecast-hi-80"] <= frame["forecast-hi-95"]).all()
    assert frame.loc[frame.unique_id == "B", "method"].unique().tolist() == ["croston_sba"]
    assert frame.loc[frame.unique_id == "B", "demand_class"].unique().tolist() == ["intermittent"]
    assert frame.attrs["failed"] == {"X": {"code": "batch_failed", "message": "boom"}}
    for col in ("forecast", "forecast-lo-95", "forecast-hi-95"):
        assert frame[col].dtype == "float64"


def test_given_no_levels_then_they_are_read_from_the_points() -> None:
    frame = forecast_frame([result("A", DATES)])
    assert list(frame.columns) == forecast_columns([80, 95])


def test_given_no_results_then_an_empty_frame_with_the_documented_columns() -> None:
    frame = forecast_frame([], [80])
    assert list(frame.columns) == forecast_columns([80]) and frame.empty


def _presigned(api: Recorder, status: str = "SUCCEEDED", errors: list | None = None) -> dict:
    ticket = {
        "upload_id": "up1",
        "url": "http://s3.test/bucket",
        "fields": {"key": "uploads/x", "policy": "p"},
        "expires_in": 900,
        "max_bytes": 10**9,
    }
    api.add("POST", "/api/v1/forecast/uploads", httpx.Response(201, json=ticket))
    api.add("POST", "http://s3.test/bucket", httpx.Response(204))
    report = {
        "upload_id": "up1",
        "status": status,
        "rows_total": 4,
        "rows_accepted": 4 if not errors else 0,
        "rows_rejected": 0 if not errors else 4,
        "skus_touched": 2,
        "errors": errors or [],
    }
    api.add(
        "GET",
        "/api/v1/forecast/uploads/up1",
        httpx.Response(200, json={**report, "status": "PROCESSING"}),
        httpx.Response(200, json=report),
    )
    return report


def _uploaded_csv(api: Recorder) -> str:
    post = next(r for r in api.requests if str(r.url) == "http://s3.test/bucket")
    assert "authorization" not in post.headers and "x-api-key" not in post.headers
    body = post.read()
    boundary = re.search(rb"boundary=(\S+)", post.headers["content-type"].encode()).group(1)  # type: ignore[union-attr]
    parts = body.split(b"--" + boundary)
    names = [re.search(rb'name="([^"]+)"', p).group(1) for p in parts if b'name="' in p]  # type: ignore[union-attr]
    assert names == [b"key", b"policy", b"file"]  # S3 wants the file last
    file_part = next(p for p in parts if b'name="file"' in p)
    payload = file_part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
    return gzip.decompress(payload).decode()


@pytest.mark.parametrize("aliases", [False, True])
def test_given_a_dataframe_then_it_is_posted_as_gzip_csv_with_contract_columns(aliases: bool) -> None:
    df = pd.DataFrame(
        {
            "sku": ["A", "A", "B", "B"],
            "date": pd.to_datetime(["2025-01-01", "2025-01-02"] * 2),
            "quantity": [1.0, 2.5, 0.0, 4.0],
        }
    )
    if aliases:
        df = df.rename(columns={"sku": "unique_id", "date": "ds", "quantity": "y"})
    api = Recorder()
    expected = _presigned(api)
    assert api.client().upload_demand(df, poll_interval=0) == expected
    ticket_request = json.loads(api.sent("POST", "/api/v1/forecast/uploads")[0].read())
    assert ticket_request == {"filename": "demand.csv.gz", "aggregate": "reject"}
    assert (
        _uploaded_csv(api)
        == "sku,date,quantity\nA,2025-01-01,1.0\nA,2025-01-02,2.5\nB,2025-01-01,0.0\nB,2025-01-02,4.0\n"
    )


def test_given_upload_options_then_the_ticket_request_carries_exactly_the_ones_set() -> None:
    api = Recorder()
    _presigned(api)
    monthly = b"sku;date;quantity\nA;01/02/2025;1,5\n"
    api.client().upload_demand(monthly, poll_interval=0, granularity="M", missing="unknown", decimal=",")
    ticket_request = json.loads(api.sent("POST", "/api/v1/forecast/uploads")[0].read())
    assert ticket_request == {
        "filename": "demand.csv",
        "aggregate": "reject",
        "granularity": "M",
        "missing": "unknown",
        "decimal": ",",
    }


def test_given_a_frame_without_the_columns_then_value_error() -> None:
    with pytest.raises(ValueError, match="missing: quantity"):
        Recorder().client().upload_demand(pd.DataFrame({"sku": ["A"], "date": ["2025-01-01"]}))


def test_given_a_rejected_upload_then_the_error_carries_the_report() -> None:
    api = Recorder()
    errors = [{"row": 2, "column": "quantity", "code": "negative_quantity", "message": "quantity is negative"}]
    _presigned(api, "REJECTED", errors)
    with pytest.raises(UploadRejectedError, match="row 2: quantity is negative") as caught:
        api.client().upload_demand(b"sku,date,quantity\nA,2025-01-01,-1\n", poll_interval=0)
    assert caught.value.report["status"] == "REJECTED" and caught.value.report["errors"] == errors


def _run(status: str, done: int, total: int = 2, failed: int = 0) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "run_id": "run1",
            "status": status,
            "trigger": "api",
            "params": {"levels": [80, 95]},
            "created_at": "2025-01-01T00:00:00Z",
            "progress": {"skus_total": total, "skus_done": done, "skus_failed": failed},
            "summary": None,
        },
    )


def test_forecast_starts_a_run_waits_and_returns_every_page_as_one_frame() -> None:
    api = Recorder()
    api.add("POST", "/api/v1/forecast/runs", httpx.Response(202, json={"run_id": "run1", "status": "QUEUED"}))
    api.add("GET", "/api/v1/forecast/runs/run1", _run("QUEUED", 0, 0), _run("RUNNING", 1), _run("SUCCEEDED", 2))

    def page(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("cursor"):
            return httpx.Response(200, json={"items": [result("B", DATES)], "next_cursor": None})
        return httpx.Response(200, json={"items": [result("A", DATES)], "next_cursor": "next"})

    api.add("GET", "/api/v1/forecast/runs/run1/results", page)
    frame = api.client().forecast(horizon=3, skus=["A", "B"], progress=False, poll_interval=0)
    body = json.loads(api.sent("POST", "/api/v1/forecast/runs")[0].read())
    assert body == {"horizon": 3, "frequency": "D", "levels": [80, 95], "method": "auto", "skus": ["A", "B"]}
    assert api.sent("POST", "/api/v1/forecast/runs")[0].headers["idempotency-key"]
    assert list(frame.columns) == forecast_columns([80, 95])
    assert frame.groupby("unique_id").size().to_dict() == {"A": 3, "B": 3}
    assert frame.attrs["run"]["status"] == "SUCCEEDED"


def test_given_a_failed_run_then_run_failed_error() -> None:
    api = Recorder()
    api.add("POST", "/api/v1/forecast/runs", httpx.Response(202, json={"run_id": "run1", "status": "QUEUED"}))
    api.add("GET", "/api/v1/forecast/runs/run1", _run("FAILED", 0))
    with pytest.raises(RunFailedError) as caught:
        api.client().forecast(horizon=3, progress=False, poll_interval=0)
    assert caught.value.run["status"] == "FAILED"


def test_given_a_partial_run_then_a_warning_and_the_failed_skus_in_attrs() -> None:
    api = Recorder()
    api.add("POST", "/api/v1/forecast/runs", httpx.Response(202, json={"run_id": "run1", "status": "QUEUED"}))
    api.add("GET", "/api/v1/forecast/runs/run1", _run("PARTIAL", 1, failed=1))
    failed: dict[str, Any] = {
        "sku": "B",
        "demand_class": None,
        "method": None,
        "forecast": [],
        "metrics": {},
        "error": {"code": "batch_failed", "message": "x"},
    }
    api.add(
        "GET",
        "/api/v1/forecast/runs/run1/results",
        httpx.Response(200, json={"items": [result("A", DATES), failed], "next_cursor": None}),
    )
    with pytest.warns(UserWarning, match="PARTIAL"):
        frame = api.client().forecast(horizon=3, progress=False, poll_interval=0)
    assert set(frame.unique_id) == {"A"} and set(frame.attrs["failed"]) == {"B"}


def test_given_history_cleaning_then_the_run_body_asks_for_it_and_not_otherwise() -> None:
    api = Recorder()
    api.add(
        "POST",
        "/api/v1/forecast/runs",
        httpx.Response(202, json={"run_id": "run1", "status": "QUEUED"}),
        httpx.Response(202, json={"run_id": "run2", "status": "QUEUED"}),
    )
    client = api.client()
    client.start_run(7, history_cleaning="flagged")
    client.start_run(7)
    first, second = (json.loads(r.read()) for r in api.sent("POST", "/api/v1/forecast/runs"))
    assert first["history_cleaning"] == "flagged"
    assert "history_cleaning" not in second
