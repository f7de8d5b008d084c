"""A hierarchy run over the local stack's real HTTP: demand and an attributes CSV through the
presigned POST (SKU names with spaces and unicode, one SKU without a brand), a hierarchy declared,
a run with it, nodes read at each level with the client (hierarchicalforecast's frame) and over
HTTP, each with its base forecast beside the reconciled one, coherence checked over HTTP (each
node's children - nodes, or SKU results at the deepest level - add up to it at every date),
exports per level adding up to the total, the report's level charts, the CLI's verbs, and
another tenant seeing none of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest

from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant, upload

pytestmark = pytest.mark.e2e
F = "/api/v1/forecast"
SKUS = ["Tee shirt 日本 M", "Mug large blue", "Ça coûte 1/2", "Café ☕ kit", "Plain sku"]
ATTRS = [("Apparel", "Nippon"), ("Kitchen", "Acme"), ("Kitchen", "Ça & Co"), ("Kitchen", "Acme"), ("Apparel", "")]


def _means(points: list[dict[str, Any]]) -> np.ndarray:
    return np.array([p["mean"] for p in points])


def test_a_hierarchy_run_reads_back_coherent_at_every_level_and_only_for_its_tenant(
    stack: RunningStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd
    from skucast_client import Client, cli
    from skucast_client.report import write_report

    tenant = Tenant.sign_up(stack, http=stack.http())
    rng = np.random.default_rng(5)
    days = pd.date_range("2024-01-01", periods=120, freq="D")
    demand = pd.DataFrame(
        [{"unique_id": s, "ds": d, "y": float(rng.poisson(4 + 3 * i))} for i, s in enumerate(SKUS) for d in days]
    )
    lines = "".join(f'"{s}",{c},{b}\n' for s, (c, b) in zip(SKUS, ATTRS, strict=True))
    with Client(stack.api, email=tenant.email, password=tenant.password) as sc:
        sc.upload_demand(demand)
        report = upload(tenant, f"sku,category,brand\n{lines}".encode(), "attributes")
        assert (report["status"], report["rows_accepted"]) == ("SUCCEEDED", len(SKUS))
        sc.declare_hierarchy("product", ["category", "brand"])
        started = sc.start_run(7, "D", hierarchy="product", backtest_windows=1)
        run = sc.wait_run(started["run_id"], progress=False, timeout=300)
        assert run["status"] == "SUCCEEDED", run
        assert run["params"]["hierarchy_levels"] == ["category", "brand"]
        frame = sc.nodes(run["run_id"])
        listed = sc.node_items(run["run_id"])
        by_level = {lv: sc.nodes(run["run_id"], lv) for lv in ("total", "category", "brand")}
        # (The SKU export's sums are checked in tests/integration/test_hierarchy_runs.py.)
        exports = {lv: sc.export_frame(run["run_id"], level=lv) for lv in ("total", "category", "brand")}
        page = Path(write_report(sc, run["run_id"], tmp_path / "report.html")["path"]).read_text(encoding="utf-8")
    run_id = run["run_id"]
    assert list(frame.columns) == ["unique_id", "ds", "mean", "lo-95", "lo-80", "hi-80", "hi-95", "level"]
    assert len(frame) == sum(len(f) for f in by_level.values()) == (1 + 2 + 4) * 7
    assert by_level["total"]["unique_id"].nunique() == 1
    assert {k["category"] for k in by_level["category"].attrs["keys"].values()} == {"Apparel", "Kitchen"}
    # "Plain sku" has no brand: it sits under Apparel's unassigned node.
    assert {"category": "Apparel", "brand": None} in by_level["brand"].attrs["keys"].values()

    # The report's level charts: the total, and both categories with histories summed from their SKUs'.
    levels_part = page[page.index('id="hierarchy"') : page.index('id="charts"')]
    assert 'data-level="total"' in levels_part and 'data-level="category"' in levels_part
    assert levels_part.count('class="node-history"') == levels_part.count('class="node-forecast"') == 2
    assert ">Apparel<" in levels_part and ">Kitchen<" in levels_part

    # Exported per level: each level's rows add up to the total at every date, keys as sent.
    total = exports["total"].set_index("date")["mean"]
    assert list(exports["brand"].columns)[:4] == ["node_id", "level", "category", "brand"]
    assert set(exports["brand"]["brand"].dropna()) == {"Nippon", "Acme", "Ça & Co"}
    for lv in ("category", "brand"):
        sums = exports[lv].groupby("date")["mean"].sum().loc[total.index]
        assert np.allclose(sums, total, rtol=1e-6), lv

    # Each node answers its own base forecast beside the reconciled one, over the run's dates;
    # MinTrace moved some of them (the base forecasts do not add up on their own).
    assert len(listed) == 1 + 2 + 4
    for item in listed:
        assert [p["date"] for p in item["base_forecast"]] == [p["date"] for p in item["forecast"]], item["key"]
        assert {"mean", "lo_80", "hi_95"} <= set(item["base_forecast"][0])
    moved = [np.max(np.abs(_means(n["forecast"]) - _means(n["base_forecast"]))) for n in listed]
    assert run["params"]["reconciliation"] == "min_trace" and max(moved) > 1e-3, moved

    # Coherence over HTTP: every node is its children's sum at every date.
    # A SKU result answers its own base forecast too; MinTrace moved some SKU off it.
    results, sku_moved = {}, []
    for sku in SKUS:
        r = tenant.http.get(f"{F}/runs/{run_id}/results/{quote(sku, safe='')}", headers=tenant.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        results[sku] = _means(body["forecast"])
        assert [p["date"] for p in body["base_forecast"]] == [p["date"] for p in body["forecast"]], sku
        sku_moved.append(np.max(np.abs(results[sku] - _means(body["base_forecast"]))))
    assert max(sku_moved) > 1e-3, sku_moved
    for node_id in frame["unique_id"].unique():
        r = tenant.http.get(f"{F}/runs/{run_id}/nodes/{node_id}", headers=tenant.headers)
        assert r.status_code == 200, r.text
        node = r.json()
        assert len(node["base_forecast"]) == 7, node["key"]
        kids = []
        for child in node["children"]:
            if child in results:
                kids.append(results[child])
            else:
                got = tenant.http.get(f"{F}/runs/{run_id}/nodes/{child}", headers=tenant.headers).json()
                kids.append(_means(got["forecast"]))
        parent = _means(node["forecast"])
        assert np.all(np.abs(np.sum(kids, axis=0) - parent) <= 1e-6 * np.maximum(parent, 1e-9)), node["key"]

    # Another tenant sees none of it.
    other = Tenant.sign_up(stack, http=stack.http())
    assert other.http.get(f"{F}/runs/{run_id}/nodes", headers=other.headers).status_code == 404
    some = str(frame["unique_id"].iloc[0])
    assert other.http.get(f"{F}/runs/{run_id}/nodes/{some}", headers=other.headers).status_code == 404
    assert other.http.get(f"{F}/runs", headers=other.headers).json()["items"] == []

    # The CLI's verb over the same stack.
    monkeypatch.setenv("SKUCAST_CONFIG", str(tmp_path / "config.json"))
    monkeypatch.setenv("SKUCAST_PASSWORD", tenant.password)
    assert cli.main(["--api", stack.api, "login", "--email", tenant.email]) == 0
    capsys.readouterr()
    assert cli.main(["nodes", run_id, "--level", "category"]) == 0
    out = capsys.readouterr().out
    assert "Apparel" in out and "Kitchen" in out
    assert cli.main(["nodes", run_id, "--level", "colour"]) == 1  # 422: not a level of the hierarchy
    out_csv = tmp_path / "category.csv"
    assert cli.main(["export", run_id, "--level", "category", "-o", str(out_csv)]) == 0
    assert out_csv.read_text(encoding="utf-8").splitlines()[0].startswith("node_id,level,category,date,mean")
    assert cli.main(["export", run_id, "--level", "colour", "-o", str(tmp_path / "x.csv")]) == 1
