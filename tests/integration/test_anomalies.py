"""Anomalies in history in-process: both ingestion doors flag outliers beside the stored series,
GET .../demand marks them, later uploads re-evaluate them, and a run with
`history_cleaning: "flagged"` fits on the cleaned history and says so."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import boto3
import numpy as np
import pytest

from skucast.repositories import demand as demand_repo
from skucast_local.emulator import REGION, Provisioned
from tests.conftest import load_event
from tests.integration.pipeline import Pipeline, read_results, read_run, start_run

F = "/api/v1/forecast"
FIRST = dt.date(2025, 1, 6)
SPIKY = "Café au lait / 1 "  # unicode, a slash and a trailing space: kept exactly as sent
CALM = "calm #2"
WEEKLY = np.array([0.7, 1.0, 1.1, 1.0, 1.2, 1.5, 0.5])


@pytest.fixture
def pipe(provisioned: Provisioned, lambda_context: Any) -> Pipeline:
    return Pipeline(provisioned, lambda_context)


def _day(i: int) -> str:
    return (FIRST + dt.timedelta(days=i)).isoformat()


def _seasonal(days: int, seed: int) -> np.ndarray:
    """A weekly season with bounded noise (+-15 %): no outlier by construction."""
    rng = np.random.default_rng(seed)
    return np.round(60 * WEEKLY[np.arange(days) % 7] * rng.uniform(0.85, 1.15, days))


def _csv(rows: list[tuple[str, str, float]]) -> bytes:
    def cell(text: str) -> str:
        return '"' + text.replace('"', '""') + '"'

    return ("sku,date,quantity\n" + "".join(f"{cell(s)},{d},{q:g}\n" for s, d, q in rows)).encode()


def _upload_file(pipe: Pipeline, client: str, content: bytes) -> dict[str, Any]:
    from ingest.app import handler

    status, ticket, _ = pipe.api("POST", f"{F}/uploads", client, role="analyst", body={"filename": "d.csv"})
    assert status == 201, ticket
    bucket = pipe.p.resources["DataBucket"].ref
    boto3.client("s3", region_name=REGION).put_object(Bucket=bucket, Key=ticket["fields"]["key"], Body=content)
    event = load_event("s3_upload_created.json")
    event["Records"][0]["s3"]["bucket"]["name"] = bucket
    event["Records"][0]["s3"]["object"]["key"] = ticket["fields"]["key"]
    assert handler(event, pipe.context)["ingested"] == 1
    status, upload, _ = pipe.api("GET", f"{F}/uploads/{ticket['upload_id']}", client, role="viewer")
    assert upload["status"] == "SUCCEEDED", upload
    return dict(upload)


def _post(pipe: Pipeline, client: str, records: list[tuple[str, str, float]]) -> None:
    body = {"records": [{"sku": s, "date": d, "quantity": q} for s, d, q in records]}
    status, upload, _ = pipe.api("POST", f"{F}/demand", client, role="analyst", body=body)
    assert status == 200 and upload["status"] == "SUCCEEDED", upload


def _demand(pipe: Pipeline, client: str, sku: str) -> list[dict[str, Any]]:
    status, body, _ = pipe.api("GET", f"{F}/skus/{quote(sku, safe='')}/demand", client, role="viewer")
    assert status == 200, body
    return list(body["points"])


def _flagged(points: list[dict[str, Any]]) -> list[str]:
    return [p["date"] for p in points if p["anomaly"]]


def test_given_a_spike_uploaded_as_a_file_then_it_is_flagged_and_stored_as_sent_and_later_uploads_reflag(
    pipe: Pipeline,
) -> None:
    client = pipe.tenant("cli_anomalies")
    spiky, calm = _seasonal(120, 1), _seasonal(120, 2)
    spiky[80] = 900.0
    rows = [(SPIKY, _day(i), spiky[i]) for i in range(120)] + [(CALM, _day(i), calm[i]) for i in range(120)]
    _upload_file(pipe, client, _csv(rows))

    points = _demand(pipe, client, SPIKY)
    assert [p["quantity"] for p in points] == spiky.tolist()  # stored exactly as sent, spike included
    assert _flagged(points) == [_day(80)]
    assert _flagged(_demand(pipe, client, CALM)) == []

    # POST /demand appends ten days with another spike: it is flagged, the first one stays.
    more = _seasonal(130, 1)[120:]
    more[5] = 1200.0
    _post(pipe, client, [(SPIKY, _day(120 + i), more[i]) for i in range(10)])
    assert _flagged(_demand(pipe, client, SPIKY)) == [_day(80), _day(125)]

    # A correction of the first spike's day: re-evaluated, no longer an outlier.
    _post(pipe, client, [(SPIKY, _day(80), 60.0)])
    points = _demand(pipe, client, SPIKY)
    assert _flagged(points) == [_day(125)]
    assert points[80]["quantity"] == 60.0

    # The flags live beside the series in its item; the series bytes hold the demand as sent.
    stored = demand_repo.get_stored_series(pipe.table, client, [SPIKY])[SPIKY]
    assert stored.anomalies is not None and len(stored.anomalies.flagged) == 1
    assert stored.series.values[125] == 1200.0


def test_given_a_history_too_short_then_nothing_is_flagged(pipe: Pipeline) -> None:
    client = pipe.tenant("cli_short")
    values = _seasonal(40, 3)
    values[30] = 5000.0
    _post(pipe, client, [("short", _day(i), values[i]) for i in range(40)])
    assert _flagged(_demand(pipe, client, "short")) == []


def test_given_history_cleaning_flagged_then_the_run_records_it_cleans_the_flagged_points_and_counts_them(
    pipe: Pipeline,
) -> None:
    client = pipe.tenant("cli_cleaning")
    spiky, calm = _seasonal(140, 4), _seasonal(140, 5)
    spiky[130] = 30_000.0  # ten days before the origin: it would drag every model up
    rows = [(SPIKY, _day(i), spiky[i]) for i in range(140)] + [(CALM, _day(i), calm[i]) for i in range(140)]
    _upload_file(pipe, client, _csv(rows))
    assert _flagged(_demand(pipe, client, SPIKY)) == [_day(130)]

    body = {"horizon": 14, "backtest_windows": 1}
    plain = start_run(pipe, client, body)
    assert plain["params"]["history_cleaning"] == "none"
    cleaned = start_run(pipe, client, {**body, "history_cleaning": "flagged"})
    pipe.drain()

    run = read_run(pipe, client, cleaned["run_id"])
    assert run["status"] == "SUCCEEDED" and run["params"]["history_cleaning"] == "flagged"
    assert run["summary"]["points_cleaned"] == 1
    assert "points_cleaned" not in read_run(pipe, client, plain["run_id"])["summary"]

    with_cleaning = {r["sku"]: r for r in read_results(pipe, client, cleaned["run_id"])}
    without = {r["sku"]: r for r in read_results(pipe, client, plain["run_id"])}
    assert with_cleaning[SPIKY]["history_cleaned"] == 1 and with_cleaning[CALM]["history_cleaned"] == 0
    assert without[SPIKY]["history_cleaned"] is None
    level = float(np.mean(spiky[:130]))
    total = sum(p["mean"] for p in with_cleaning[SPIKY]["forecast"])
    assert total < 2 * 14 * level  # the spike is gone from what was fitted
    assert sum(p["mean"] for p in without[SPIKY]["forecast"]) > total
    # The calm SKU had nothing to clean: the same forecast either way.
    assert with_cleaning[CALM]["forecast"] == without[CALM]["forecast"]
    # The stored demand is unchanged by cleaning.
    assert _demand(pipe, client, SPIKY)[130]["quantity"] == 30_000.0


@pytest.mark.parametrize("value", ["yes", "FLAGGED", "", None, 1])
def test_given_an_unknown_history_cleaning_then_422_naming_the_field(pipe: Pipeline, value: Any) -> None:
    client = pipe.tenant("cli_bad_cleaning")
    status, problem, response = pipe.api(
        "POST", f"{F}/runs", client, role="analyst", body={"horizon": 7, "history_cleaning": value}
    )
    assert status == 422, problem
    headers = {k.lower(): v for k, v in (response.get("headers") or response["multiValueHeaders"]).items()}
    assert "application/problem+json" in str(headers["content-type"])
    assert problem["status"] == 422 and problem["type"]
    assert any("history_cleaning" in str(e.get("field")) for e in problem["errors"]), problem
