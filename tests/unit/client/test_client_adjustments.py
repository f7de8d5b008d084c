"""Adjustments in the client: `adjust` sends If-Match (fetching the ETag when not given) and never
retries a 412; `adjustments` is a DataFrame; results frames carry `final`; the CLI's `adjust`
and `adjustments`; the report marks adjusted periods."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from skucast_client import (
    PreconditionFailedError,
    PreconditionRequiredError,
    cli,
    forecast_frame,
)
from skucast_client.report import build_report, choose_skus

from tests.unit.client.fake_api import Recorder, problem, result

DATES = ["2025-03-01", "2025-03-02", "2025-03-03"]
RESULT = "/api/v1/forecast/runs/run_1/results/SKU 1/a"  # as the fake API sees it: decoded
ADJUST = RESULT + "/adjustments"


def _adjusted(tag: str = '"1.b"') -> dict[str, Any]:
    body = result("SKU 1/a", DATES)
    for i, p in enumerate(body["forecast"]):
        p["final"] = p["mean"] + (5.0 if i == 1 else 0.0)
    return {**body, "adjustments": 1, "etag": tag}


def _unadjusted(tag: str = '"0.a"') -> dict[str, Any]:
    body = result("SKU 1/a", DATES)
    for p in body["forecast"]:
        p["final"] = p["mean"]
    return {**body, "adjustments": 0, "etag": tag}


def test_given_no_etag_when_adjusting_then_the_current_one_is_read_and_sent_as_if_match() -> None:
    api = Recorder()
    api.add("GET", RESULT, httpx.Response(200, json=_unadjusted(), headers={"ETag": '"0.a"'}))
    api.add("POST", ADJUST, httpx.Response(201, json=_adjusted(), headers={"ETag": '"1.b"'}))
    out = api.client().adjust("run_1", "SKU 1/a", "2025-03-02", "2025-03-02", add=5, reason="promotion")
    [post] = api.sent("POST", ADJUST)
    assert post.headers["If-Match"] == '"0.a"' and b"/SKU%201%2Fa/adjustments" in post.url.raw_path
    assert json.loads(post.content) == {
        "start": "2025-03-02", "end": "2025-03-02", "add": 5, "reason": "promotion", "sticky": False,
    }  # fmt: skip
    assert out["etag"] == '"1.b"' and [p["final"] for p in out["forecast"]] == [10.0, 16.0, 12.0]


def test_given_an_etag_when_adjusting_then_no_read_and_a_stale_one_is_412_without_retry() -> None:
    import datetime as dt

    api = Recorder()
    api.add("POST", ADJUST, problem(412, "Precondition Failed", "The result has changed since you read it."))
    client = api.client()
    with pytest.raises(PreconditionFailedError) as caught:
        client.adjust("run_1", "SKU 1/a", dt.date(2025, 3, 1), dt.datetime(2025, 3, 3, 0, 0), multiply=0.5,
                      reason="event", comment="x", sticky=True, expires="2025-12-31", etag='"0.a"')  # fmt: skip
    assert caught.value.status == 412 and api.sent("GET", RESULT) == []
    [post] = api.sent("POST", ADJUST)  # one attempt: someone else's change needs a person's decision
    body = json.loads(post.content)
    assert (body["start"], body["end"], body["multiply"], body["expires"]) == ("2025-03-01", "2025-03-03", 0.5,
                                                                               "2025-12-31")  # fmt: skip
    api.routes[("POST", ADJUST)] = [problem(428, "Precondition Required")]
    with pytest.raises(PreconditionRequiredError):
        client.adjust("run_1", "SKU 1/a", "2025-03-01", "2025-03-01", set=1, reason="other", etag='"x"')


def test_given_adjustments_then_a_frame_of_one_row_each_in_order() -> None:
    api = Recorder()
    items = [
        {"adjustment_id": "adj_1", "by": "usr_1", "by_kind": "user", "at": "2025-03-01T10:00:00Z",
         "start": "2025-03-02", "end": "2025-03-03", "set": None, "add": 5.0, "multiply": None,
         "reason": "promotion", "comment": None, "sticky": True, "expires": None, "carried_from": "run_0",
         "changes": [{"date": "2025-03-02", "before": 11.0, "after": 16.0}]},
        {"adjustment_id": "adj_2", "by": "key_9", "by_kind": "api_key", "at": "2025-03-02T10:00:00Z",
         "start": "2025-03-01", "end": "2025-03-01", "set": 0.0, "add": None, "multiply": None,
         "reason": "supply", "comment": "none left", "sticky": False, "expires": None, "carried_from": None,
         "changes": [{"date": "2025-03-01", "before": 10.0, "after": 0.0}]},
    ]  # fmt: skip
    api.add("GET", ADJUST, httpx.Response(200, json={"items": items, "next_cursor": None}))
    frame = api.client().adjustments("run_1", "SKU 1/a")
    assert frame["adjustment_id"].tolist() == ["adj_1", "adj_2"]
    assert frame["operation"].tolist() == ["add", "set"] and frame["value"].tolist() == [5.0, 0.0]
    assert frame["by"].tolist() == ["usr_1", "key_9"] and frame["by_kind"].tolist() == ["user", "api_key"]
    assert frame["carried_from"].tolist()[0] == "run_0" and frame["changes"][1][0]["after"] == 0.0
    assert str(frame["at"].dtype) == "datetime64[ns, UTC]" and str(frame["start"].dtype) == "datetime64[ns]"


def test_given_adjusted_results_then_the_frame_has_final_beside_the_statistical_forecast() -> None:
    frame = forecast_frame([_adjusted(), result("B", DATES)], [80, 95])
    a = frame[frame.unique_id == "SKU 1/a"]
    assert a["final"].tolist() == [10.0, 16.0, 12.0] and a["forecast"].tolist() == [10.0, 11.0, 12.0]
    assert frame.loc[frame.unique_id == "B", "final"].tolist() == [10.0, 11.0, 12.0]  # no `final`: the mean
    assert frame["final"].dtype == "float64"


def test_cli_adjust_and_adjustments(cli_api: Recorder, capsys: pytest.CaptureFixture[str]) -> None:
    cli_api.add("POST", ADJUST, httpx.Response(201, json=_adjusted(), headers={"ETag": '"1.b"'}))
    args = ["adjust", "run_1", "SKU 1/a", "--start", "2025-03-02", "--add", "5", "--reason", "promotion"]
    assert cli.main([*args, "--etag", '"0.a"', "--sticky"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"2025-03-02\s+11\s+16\s+\*", out) and '"1.b"' in out
    body = json.loads(cli_api.sent("POST", ADJUST)[0].content)
    assert body["end"] == "2025-03-02" and body["sticky"] is True and body["add"] == 5.0

    cli_api.routes[("POST", ADJUST)] = [problem(412, "Precondition Failed", "changed")]
    assert cli.main([*args, "--etag", '"0.a"']) == 1
    assert "412" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        cli.main([*args, "--set", "3"])  # one operation only
    assert usage.value.code == 2

    item = {"adjustment_id": "adj_1", "by": "usr_1", "by_kind": "user", "at": "2025-03-01T10:00:00Z",
            "start": "2025-03-02", "end": "2025-03-02", "set": None, "add": 5.0, "multiply": None,
            "reason": "promotion", "comment": "spring", "sticky": True, "expires": None, "carried_from": "run_0",
            "changes": []}  # fmt: skip
    cli_api.add("GET", ADJUST, httpx.Response(200, json={"items": [item], "next_cursor": None}))
    assert cli.main(["adjustments", "run_1", "SKU 1/a"]) == 0
    out = capsys.readouterr().out
    assert "add 5" in out and "run_0" in out and "spring" in out and "usr_1" in out


def test_the_report_charts_adjusted_skus_and_marks_their_adjusted_periods() -> None:
    results = [result("PLAIN", DATES), _adjusted()]
    assert choose_skus(results, None, worst=1)[0] == "SKU 1/a"  # adjusted ones come first
    run = {"run_id": "run_1", "status": "SUCCEEDED", "params": {"horizon": 3, "frequency": "D", "levels": [80, 95]}}
    page = build_report(run, results, {}, ["SKU 1/a", "PLAIN"])
    assert len(re.findall(r'<path class="final" d="M', page)) == 1  # only the adjusted SKU's chart
    assert len(re.findall(r'<circle class="adjusted"', page)) == 1  # one adjusted period
    assert "2025-03-02: final 16, mean 11" in page
    assert "1 adjusted period(s), 1 adjustment(s): total final 38 vs mean 33" in page
    assert "final (adjusted)" in page and "<script" not in page
