"""The client's hierarchy runs: start_run's hierarchy fields, nodes() in hierarchicalforecast's shape."""

from __future__ import annotations

import json
from typing import Any

import httpx

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
