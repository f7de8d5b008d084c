"""Accuracy against actuals in the client: `accuracy(run_id)` and the tenant's `accuracy(...)` over
every page; the CLI's `accuracy`; the report's "accuracy against actuals" section."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from skucast_client import cli
from skucast_client.report import build_report

from tests.unit.client.fake_api import Recorder, result

RUN = "/api/v1/forecast/runs/run_1/accuracy"
TENANT = "/api/v1/forecast/accuracy"


def _metrics(mae: float) -> dict[str, Any]:
    return {
        "mae": mae,
        "rmse": mae * 1.2,
        "wape": mae / 10,
        "bias": -0.5,
        "mase": mae / 4,
        "coverage_80": 0.8,
        "coverage_95": 0.9,
    }


def _answer() -> dict[str, Any]:
    group = {
        "skus_scored": 2,
        "points_scored": 6,
        "metrics": _metrics(2.0),
        "naive": {**_metrics(3.0), "coverage_80": None},
        "final": _metrics(1.5),
    }
    return {
        "run_id": "run_1",
        "actuals_through": "2025-03-03",
        **group,
        "by_class": {"smooth": group},
        "by_method": {"ets_level": group},
    }


def test_given_a_run_then_accuracy_is_its_answer_and_without_one_every_page_of_the_tenant_accuracy() -> None:
    api = Recorder()
    api.add("GET", RUN, httpx.Response(200, json=_answer()))
    item = {
        "period": "2025-03",
        "key": "run_1",
        "points_scored": 6,
        "metrics": _metrics(2.0),
        "naive": None,
        "final": None,
    }
    api.add(
        "GET",
        TENANT,
        httpx.Response(200, json={"items": [item], "next_cursor": "c2"}),
        httpx.Response(200, json={"items": [{**item, "key": "run_2"}], "next_cursor": None}),
    )
    client = api.client()
    assert client.accuracy("run_1") == _answer()
    items = client.accuracy(start="2025-03-01", by="class")
    assert [i["key"] for i in items] == ["run_1", "run_2"]
    first, second = api.sent("GET", TENANT)
    assert dict(first.url.params) == {"by": "class", "from": "2025-03-01", "limit": "1000"}
    assert second.url.params["cursor"] == "c2"


def test_cli_accuracy_of_a_run_and_of_the_tenant(cli_api: Recorder, capsys: pytest.CaptureFixture[str]) -> None:
    cli_api.add("GET", RUN, httpx.Response(200, json=_answer()))
    assert cli.main(["accuracy", "run_1"]) == 0
    out = capsys.readouterr().out
    assert "forecast" in out and "naive" in out and "final" in out and "smooth" in out and "2025-03-03" in out
    cli_api.add("GET", TENANT, httpx.Response(200, json={"items": [], "next_cursor": None}))
    assert cli.main(["accuracy", "--by", "method", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert dict(cli_api.sent("GET", TENANT)[0].url.params) == {"by": "method", "limit": "1000"}


def test_the_report_has_an_actuals_section_only_when_actuals_were_scored() -> None:
    run = {"run_id": "run_1", "status": "SUCCEEDED", "params": {"levels": [80, 95]}}
    results = [result("A", ["2025-03-01", "2025-03-02"])]
    page = build_report(run, results, {}, [], accuracy=_answer())
    assert 'id="actuals"' in page and "Accuracy against actuals" in page and "seasonal naive" in page
    assert "final (adjusted)" in page and "ets_level" in page
    none = build_report(run, results, {}, [], accuracy={**_answer(), "points_scored": 0, "metrics": None})
    assert 'id="actuals"' not in none and 'id="actuals"' not in build_report(run, results, {}, [])
