"""The client's hierarchy runs: start_run's hierarchy fields, nodes() in hierarchicalforecast's shape."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest

from tests.unit.client.fake_api import Recorder

NODES = "/api/v1/forecast/runs/run1/nodes"


def _node(node_id: str, level: str, key: dict[str, Any], means: list[float]) -> dict[str, Any]:
    points = [
        {"date": f"2026-01-0{i + 1}", "mean": m, "lo_80": m - 1, "hi_80": m + 1, "lo_95": m - 2, "hi_95": m + 2}
        for i, m in enumerate(means)
    ]
    return {"node_id": node_id, "level": level, "key": key, "skus": 2, "forecast": points, "parent": None}


def test_given_a_hierarchy_then_start_run_sends_it_with_the_reconciliation() -> None:
    api = Recorder()
    api.add("POST", "/api/v1/forecast/runs", httpx.Response(202, json={"run_id": "run1", "status": "QUEUED"}))
    api.client().start_run(7, hierarchy="product", reconciliation="bottom_up")
    body = json.loads(api.sent("POST", "/api/v1/forecast/runs")[0].read())
    assert (body["hierarchy"], body["reconciliation"]) == ("product", "bottom_up")


def test_given_node_pages_then_nodes_is_one_long_frame_keyed_by_node_id() -> None:
    api = Recorder()

    def page(request: httpx.Request) -> httpx.Response:
        assert request.url.params.get("level") == "category"
        if request.url.params.get("cursor"):
            items = [_node("n_b", "category", {"category": None}, [3.0, 4.0])]
            return httpx.Response(200, json={"items": items, "next_cursor": None})
        items = [_node("n_a", "category", {"category": "Kitchen"}, [1.0, 2.0])]
        return httpx.Response(200, json={"items": items, "next_cursor": "next"})

    api.add("GET", NODES, page)
    frame = api.client().nodes("run1", level="category")
    assert list(frame.columns) == ["unique_id", "ds", "mean", "lo-95", "lo-80", "hi-80", "hi-95", "level"]
    assert frame["unique_id"].tolist() == ["n_a", "n_a", "n_b", "n_b"]
    assert frame["mean"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert frame["hi-95"].tolist() == [3.0, 4.0, 5.0, 6.0]
    assert str(frame["ds"].dtype).startswith("datetime64")
    assert frame.attrs["keys"] == {"n_a": {"category": "Kitchen"}, "n_b": {"category": None}}


def test_given_a_level_then_export_link_sends_it_and_without_one_the_body_is_unchanged() -> None:
    api = Recorder()
    export = "/api/v1/forecast/runs/run1/export"
    api.add("POST", export, httpx.Response(200, json={"url": "https://s3.test/x", "expires_in": 900}))
    api.client().export_link("run1", "csv", level="category")
    api.client().export_link("run1", "csv")
    sent = [json.loads(r.read()) for r in api.sent("POST", export)]
    assert sent == [{"format": "csv", "level": "category"}, {"format": "csv"}]


def _hierarchy_api() -> tuple[Recorder, dict[str, Any]]:
    """Total -> category (Kitchen, unassigned) -> SKUs A, B (Kitchen) and C (no category)."""
    api = Recorder()
    total = {**_node("n_t", "total", {}, [9.0, 9.0]), "reconciliation": "min_trace(mint_shrink)"}
    kitchen = {**_node("n_k", "category", {"category": "Kitchen"}, [6.0, 6.0]), "parent": "n_t"}
    loose = {**_node("n_u", "category", {"category": None}, [3.0, 3.0]), "parent": "n_t"}
    api.add("GET", NODES, httpx.Response(200, json={"items": [total, kitchen, loose], "next_cursor": None}))
    api.add("GET", f"{NODES}/n_k", httpx.Response(200, json={**kitchen, "children": ["A", "B"]}))
    api.add("GET", f"{NODES}/n_u", httpx.Response(200, json={**loose, "children": ["C"]}))
    for sku, qty in (("A", 1.0), ("B", 2.0), ("C", 4.0)):
        points = [{"date": "2025-12-30", "quantity": qty}, {"date": "2025-12-31", "quantity": qty}]
        api.add("GET", f"/api/v1/forecast/skus/{sku}/demand", httpx.Response(200, json={"points": points}))
    run = {
        "run_id": "run1",
        "status": "SUCCEEDED",
        "params": {"frequency": "D", "levels": [80, 95], "hierarchy_levels": ["category"]},
    }
    return api, run


def test_given_a_hierarchy_run_then_the_report_charts_the_total_and_the_first_level_with_summed_histories() -> None:
    from skucast_client.report import build_report, level_charts

    api, run = _hierarchy_api()
    results = [{"sku": s, "forecast": [{"date": "2026-01-01", "mean": 1.0}]} for s in "ABC"]
    charts = level_charts(api.client(), run, results)
    assert charts is not None and charts.note is None
    day = dt.date(2025, 12, 31)
    assert dict(charts.histories["n_t"])[day] == 7.0  # A + B + C
    assert dict(charts.histories["n_k"])[day] == 3.0 and dict(charts.histories["n_u"])[day] == 4.0
    assert [n["node_id"] for n in charts.first] == ["n_k", "n_u"]  # by forecast volume
    page = build_report(run, results, {}, [], hierarchy=charts)
    section = page[page.index('id="hierarchy"') :]
    assert 'data-level="total"' in section and 'data-level="category"' in section
    assert "total → category → SKU" in section and "min_trace(mint_shrink)" in section
    assert section.count('class="node-forecast"') == 2 and section.count('class="node-history"') == 2
    assert ">Kitchen<" in section and ">unassigned<" in section
    # A run without a hierarchy has no such section and asks for no nodes.
    assert level_charts(api.client(), {**run, "params": {"frequency": "D"}}, results) is None
    assert 'id="hierarchy"' not in build_report(run, results, {}, [])


def test_given_a_big_hierarchy_run_then_level_charts_skip_node_histories_and_say_so(monkeypatch: Any) -> None:
    from skucast_client import report

    api, run = _hierarchy_api()
    monkeypatch.setattr(report, "NODE_HISTORY_SKUS", 2)
    results = [{"sku": s, "forecast": [{"date": "2026-01-01", "mean": 1.0}]} for s in "ABC"]
    charts = report.level_charts(api.client(), run, results)
    assert charts is not None and charts.histories == {} and "not drawn" in str(charts.note)
    assert not [r for r in api.requests if "/demand" in r.url.path]


def test_given_skus_then_nodes_is_the_whole_hierarchy_with_hierarchicalforecasts_tags() -> None:
    api, _ = _hierarchy_api()
    ok = {"sku": "A", "forecast": _node("x", "sku", {}, [1.0, 2.0])["forecast"], "error": None}
    failed = {"sku": "B", "forecast": [], "error": {"code": "no_history"}}
    page = {"items": [ok, failed], "next_cursor": None}
    api.add("GET", "/api/v1/forecast/runs/run1/results", httpx.Response(200, json=page))
    frame = api.client().nodes("run1", skus=True)
    assert frame.attrs["tags"] == {"total": ["n_t"], "category": ["n_k", "n_u"], "sku": ["A"]}
    assert set(frame["level"]) == {"total", "category", "sku"}
    assert frame.loc[frame["unique_id"] == "A", "mean"].tolist() == [1.0, 2.0]
    assert list(frame.columns) == ["unique_id", "ds", "mean", "lo-95", "lo-80", "hi-80", "hi-95", "level"]
    assert "A" not in frame.attrs["keys"]  # keys are the nodes'
    with pytest.raises(ValueError):
        api.client().nodes("run1", "category", skus=True)
