"""Hierarchy runs in-process (real handlers, moto): POST /runs with a hierarchy, node batches and
the reconciliation stage on the real queues (duplicates delivered), nodes read back over the API,
coherence of nodes and SKU results, the attribute version a run reads, a failing reconciliation,
and another tenant."""

from __future__ import annotations

import io
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest

from skucast.forecasting import reconciliation
from skucast.repositories import runs as runs_repo
from skucast.repositories.keys import export_key, node_export_key
from skucast_local.emulator import REGION, Provisioned
from tests.integration.pipeline import Pipeline, demand_mix, read_pages, read_results, read_run, start_run

F = "/api/v1/forecast"
RUN = {"horizon": 7, "frequency": "D", "levels": [80, 95], "backtest_windows": 1}


@pytest.fixture
def pipe(provisioned: Provisioned, lambda_context: Any) -> Pipeline:
    return Pipeline(provisioned, lambda_context)


def _attributes(skus: list[str]) -> list[dict[str, Any]]:
    records = []
    for i, sku in enumerate(skus):
        attrs = {"category": ["Drinks", "Snacks"][i % 2]}
        if i % 3:  # every third SKU has no brand: it goes under its category's unassigned node
            attrs["brand"] = f"b{i % 4}"
        records.append({"sku": sku, "attributes": attrs})
    return records


def _tenant(pipe: Pipeline, client: str, n: int = 9) -> list[str]:
    pipe.tenant(client)
    series = demand_mix(n)
    pipe.store(client, series)
    status, report, _ = pipe.api(
        "POST", f"{F}/attributes", client, role="analyst", body={"records": _attributes(sorted(series))}
    )
    assert status == 200, report
    status, body, _ = pipe.api("PUT", f"{F}/hierarchies/product", client, body={"levels": ["category", "brand"]})
    assert status in (200, 201), body
    return sorted(series)


def _nodes(pipe: Pipeline, client: str, run_id: str, level: str | None = None) -> list[dict[str, Any]]:
    return read_pages(pipe, client, f"{F}/runs/{run_id}/nodes", limit="3", **({"level": level} if level else {}))


def _means(points: list[dict[str, Any]]) -> np.ndarray:
    return np.array([p["mean"] for p in points])


def _assert_coherent(pipe: Pipeline, client: str, run_id: str) -> dict[str, dict[str, Any]]:
    """Every node's mean is its children's summed (nodes and SKU results), within 1e-6 relative."""
    nodes = {n["node_id"]: n for n in _nodes(pipe, client, run_id)}
    results = {r["sku"]: r for r in read_results(pipe, client, run_id)}
    for node_id in nodes:
        status, node, _ = pipe.api("GET", f"{F}/runs/{run_id}/nodes/{node_id}", client, role="viewer")
        assert status == 200
        kids = [_means(nodes[c]["forecast"] if c in nodes else results[c]["forecast"]) for c in node["children"]]
        total = np.sum(kids, axis=0)
        parent = _means(node["forecast"])
        assert np.all(np.abs(total - parent) <= 1e-6 * np.maximum(np.abs(parent), 1e-9)), node["key"]
    return nodes


def test_given_a_hierarchy_run_when_its_queues_drain_twice_then_nodes_at_every_level_add_up(pipe: Pipeline) -> None:
    client = "hier-a"
    skus = _tenant(pipe, client)
    run = start_run(pipe, client, {**RUN, "hierarchy": "product"}, role="analyst")
    assert run["params"]["hierarchy"] == "product" and run["params"]["reconciliation"] == "min_trace"
    assert run["params"]["hierarchy_levels"] == ["category", "brand"]
    # An attribute change while the run is in flight does not alter it: it reads its recorded version.
    moved = {"records": [{"sku": skus[0], "attributes": {"category": "Moved"}}]}
    assert pipe.api("POST", f"{F}/attributes", client, role="analyst", body=moved)[0] == 200
    pipe.drain(duplicate=True)
    done = read_run(pipe, client, run["run_id"])
    assert done["status"] == "SUCCEEDED", done
    assert done["summary"]["reconciliation"]["method"].startswith("min_trace("), done
    assert done["progress"]["skus_total"] == len(skus)  # node batches count no SKU
    nodes = _assert_coherent(pipe, client, run["run_id"])
    levels = {lv: _nodes(pipe, client, run["run_id"], lv) for lv in ("total", "category", "brand")}
    assert [n["key"] for n in levels["total"]] == [{}]
    assert {n["key"]["category"] for n in levels["category"]} == {"Drinks", "Snacks"}  # not "Moved"
    assert any(n["key"]["brand"] is None for n in levels["brand"])  # the unassigned node, never dropped
    assert sum(n["skus"] for n in levels["brand"]) == len(skus) == levels["total"][0]["skus"]
    assert len(nodes) == sum(len(v) for v in levels.values())
    result = read_results(pipe, client, run["run_id"])[0]
    assert set(result["forecast"][0]) >= {"date", "mean", "lo_80", "hi_80", "lo_95", "hi_95"}
    # Another tenant sees none of it; a bad level is named.
    assert pipe.api("GET", f"{F}/runs/{run['run_id']}/nodes", "hier-other", role="viewer")[0] == 404
    some = next(iter(nodes))
    assert pipe.api("GET", f"{F}/runs/{run['run_id']}/nodes/{some}", "hier-other", role="viewer")[0] == 404
    assert pipe.api("GET", f"{F}/runs/{run['run_id']}/nodes/n_nothere", client, role="viewer")[0] == 404
    status, problem, _ = pipe.api(
        "GET", f"{F}/runs/{run['run_id']}/nodes", client, role="viewer", query={"level": "store"}
    )
    assert status == 422 and "level" in str(problem)


def test_given_bottom_up_then_skus_keep_their_base_forecast_and_nodes_are_their_sums(pipe: Pipeline) -> None:
    client = "hier-b"
    _tenant(pipe, client, 6)
    run = start_run(pipe, client, {**RUN, "hierarchy": "product", "reconciliation": "bottom_up"}, role="analyst")
    pipe.drain()
    assert read_run(pipe, client, run["run_id"])["status"] == "SUCCEEDED"
    _assert_coherent(pipe, client, run["run_id"])
    stored = list(runs_repo.iter_results(pipe.table, client, run["run_id"], 1))
    assert stored and all(s.document["reconciled"] == "bottom_up" for s in stored if not s.document["error"])
    for s in stored:
        if not s.document["error"]:
            base = np.maximum(_means(s.document["base_forecast"]), 0)
            assert np.allclose(_means(s.document["forecast"]), base)

    # Exported per level: each level's rows add up to the total at every date, as the SKUs' do.
    def exported(level: str | None, file_format: str = "csv") -> Any:
        body = {"format": file_format, **({"level": level} if level else {})}
        status, link, _ = pipe.api("POST", f"{F}/runs/{run['run_id']}/export", client, role="viewer", body=body)
        assert status == 200, link
        depth = ["total", "category", "brand"].index(level) if level not in (None, "sku") else None
        key = (
            export_key(client, run["run_id"], file_format)
            if depth is None
            else node_export_key(client, run["run_id"], depth, file_format)
        )
        assert key in link["url"]
        raw = boto3.client("s3", region_name=REGION).get_object(Bucket=pipe.p.resources["DataBucket"].ref, Key=key)
        data = raw["Body"].read()
        return (
            pd.read_csv(io.BytesIO(data), keep_default_na=False)
            if file_format == "csv"
            else pd.read_parquet(io.BytesIO(data))
        )

    total = exported("total")
    assert list(total.columns) == ["node_id", "level", "date", "mean", "lo_80", "hi_80", "lo_95", "hi_95"]
    by_date = total.set_index("date")["mean"]
    category, brand, skus = exported("category"), exported("brand", "parquet"), exported(None)
    assert list(brand.columns)[:4] == ["node_id", "level", "category", "brand"]
    assert brand["brand"].isna().any()  # the unassigned node: a null key value, never dropped
    assert set(category["category"]) == {"Drinks", "Snacks"}
    brand["date"] = brand["date"].astype(str)
    for frame in (category, brand, skus):
        sums = frame.groupby("date")["mean"].sum()
        assert np.allclose(sums.loc[by_date.index], by_date, rtol=1e-6)
    assert exported("sku").equals(skus)
    for level, code in (("store", "unknown_level"), ("Category", "unknown_level")):
        status, problem, _ = pipe.api(
            "POST", f"{F}/runs/{run['run_id']}/export", client, role="viewer", body={"level": level}
        )
        assert status == 422 and problem["errors"][0] == {**problem["errors"][0], "field": "level", "code": code}
    assert (
        pipe.api("POST", f"{F}/runs/{run['run_id']}/export", "hier-other", role="viewer", body={"level": "total"})[0]
        == 404
    )


def test_given_an_undeclared_hierarchy_or_a_reconciliation_alone_then_422_naming_it(pipe: Pipeline) -> None:
    client = "hier-c"
    _tenant(pipe, client, 3)
    status, problem, _ = pipe.api("POST", f"{F}/runs", client, role="analyst", body={**RUN, "hierarchy": "nope"})
    assert status == 422 and "nope" in problem["detail"]
    assert problem["errors"][0]["field"] == "hierarchy"
    status, problem, _ = pipe.api(
        "POST", f"{F}/runs", client, role="analyst", body={**RUN, "reconciliation": "bottom_up"}
    )
    assert status == 422 and problem["errors"][0]["field"] == "reconciliation"
    # A level to export from a run without a hierarchy is named before the run has even finished.
    plain = start_run(pipe, client, RUN, role="analyst")
    status, problem, _ = pipe.api(
        "POST", f"{F}/runs/{plain['run_id']}/export", client, role="viewer", body={"level": "total"}
    )
    assert status == 422 and (problem["errors"][0]["field"], problem["errors"][0]["code"]) == ("level", "no_hierarchy")


def test_given_a_reconciliation_that_cannot_solve_then_the_run_is_partial_with_base_forecasts(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = "hier-d"
    _tenant(pipe, client, 6)

    def fails(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("ill-conditioned")

    monkeypatch.setattr(reconciliation, "reconcile", fails)
    run = start_run(pipe, client, {**RUN, "hierarchy": "product"}, role="analyst")
    pipe.drain()
    done = read_run(pipe, client, run["run_id"])
    assert done["status"] == "PARTIAL"
    assert done["error"]["code"] == "reconciliation_failed" and "ill-conditioned" in done["error"]["message"]
    assert _nodes(pipe, client, run["run_id"]) == []
    results = read_results(pipe, client, run["run_id"])
    assert len(results) == 6 and all(r["forecast"] for r in results if not r["error"])
    assert all(r["base_forecast"] is None for r in results)  # nothing reconciled: forecast is the base


def test_given_a_reconciliation_dying_midway_and_dead_lettered_then_partial_with_every_base_forecast_back(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forecast_worker.dead_letters import handler as dead_letters
    from skucast.repositories import hierarchy as hierarchy_repo
    from skucast.schemas.messages import BatchMessage
    from skucast.services import hierarchy
    from skucast.settings import get_settings

    client = "hier-e"
    _tenant(pipe, client, 6)
    asked: list[str] = []
    monkeypatch.setattr(hierarchy, "request_reconciliation", lambda settings, c, run_id: asked.append(run_id))
    run = start_run(pipe, client, {**RUN, "hierarchy": "product"}, role="analyst")
    pipe.drain()
    assert read_run(pipe, client, run["run_id"])["status"] == "RUNNING" and asked  # settled, waiting to reconcile
    real_write = hierarchy_repo.put_result_documents

    def dies_after_two(table: str, client_id: str, run_id: str, shards: int, rewritten: Any) -> None:
        real_write(table, client_id, run_id, shards, list(rewritten)[:2])
        raise RuntimeError("the function died")

    monkeypatch.setattr(hierarchy_repo, "put_result_documents", dies_after_two)
    with pytest.raises(RuntimeError):
        hierarchy.reconcile_run(get_settings(), client, run["run_id"])
    before = {s.sku: s.document for s in runs_repo.iter_results(pipe.table, client, run["run_id"], 1)}
    assert sum("base_forecast" in d for d in before.values()) == 2  # two SKUs were rewritten, then it died
    monkeypatch.setattr(hierarchy_repo, "put_result_documents", real_write)
    message = BatchMessage(client_id=client, run_id=run["run_id"], batch_id=hierarchy.RECONCILE)
    pipe.sqs.send_message(QueueUrl=pipe.queue("ForecastDLQ"), MessageBody=message.model_dump_json())
    pipe.deliver("ForecastDLQ", dead_letters, pipe.receive("ForecastDLQ"))
    done = read_run(pipe, client, run["run_id"])
    assert done["status"] == "PARTIAL" and done["error"]["code"] == "reconciliation_failed"
    after = {s.sku: s.document for s in runs_repo.iter_results(pipe.table, client, run["run_id"], 1)}
    for sku, doc in after.items():
        assert "base_forecast" not in doc
        assert doc["forecast"] == before[sku].get("base_forecast", before[sku]["forecast"])


def test_given_node_base_forecasts_missing_then_their_skus_summed_stand_in_and_it_still_adds_up(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skucast.services import hierarchy

    client = "hier-f"
    _tenant(pipe, client, 6)
    # Node batches that settle without a base forecast (as a dead-lettered node batch does).
    monkeypatch.setattr(hierarchy, "forecast_nodes", lambda *args: {"nodes": 0, "nodes_failed": 0})
    run = start_run(pipe, client, {**RUN, "hierarchy": "product"}, role="analyst")
    pipe.drain()
    done = read_run(pipe, client, run["run_id"])
    assert done["status"] == "SUCCEEDED", done
    nodes = _assert_coherent(pipe, client, run["run_id"])
    assert done["summary"]["reconciliation"]["base_fallbacks"] == len(nodes)


def test_given_a_sticky_adjustment_then_a_hierarchy_run_keeps_carrying_it_after_reconciliation(pipe: Pipeline) -> None:
    from urllib.parse import quote

    client = "hier-g"
    skus = _tenant(pipe, client, 6)
    first = start_run(pipe, client, RUN, role="analyst")
    pipe.drain()
    path = f"{F}/runs/{first['run_id']}/results/{quote(skus[0], safe='')}"
    status, result, _ = pipe.api("GET", path, client, role="viewer")
    assert status == 200, result
    day = result["forecast"][0]["date"]
    body = {"start": day, "end": day, "add": 100, "reason": "promotion", "sticky": True, "expires": "2099-01-01"}
    headers = {"If-Match": result["etag"]}
    assert pipe.api("POST", f"{path}/adjustments", client, role="analyst", body=body, headers=headers)[0] == 201
    later = start_run(pipe, client, {**RUN, "hierarchy": "product"}, role="analyst")
    pipe.drain()
    assert read_run(pipe, client, later["run_id"])["status"] == "SUCCEEDED"
    status, carried, _ = pipe.api(
        "GET", f"{F}/runs/{later['run_id']}/results/{quote(skus[0], safe='')}", client, role="viewer"
    )
    assert status == 200 and carried["adjustments"] == 1
    stored = runs_repo.get_result(pipe.table, client, later["run_id"], 1, skus[0])
    assert stored is not None and stored.document["reconciled"]
    # The sticky add applies to the base mean it was carried onto, and it is still there.
    assert carried["forecast"][0]["final"] == pytest.approx(stored.document["base_forecast"][0]["mean"] + 100)


def test_given_a_node_with_more_children_than_an_item_lists_then_they_are_counted_and_capped(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skucast.services import hierarchy

    client = "hier-h"
    _tenant(pipe, client, 6)
    monkeypatch.setattr(hierarchy, "MAX_CHILDREN", 1)
    run = start_run(pipe, client, {**RUN, "hierarchy": "product"}, role="analyst")
    pipe.drain()
    [total] = _nodes(pipe, client, run["run_id"], "total")
    status, node, _ = pipe.api("GET", f"{F}/runs/{run['run_id']}/nodes/{total['node_id']}", client, role="viewer")
    assert status == 200 and len(node["children"]) == 1 and node["children_total"] == 2  # Drinks, Snacks


def test_given_a_scenario_of_a_hierarchy_run_then_it_forecasts_the_base_skus_and_reconciles_alike(
    pipe: Pipeline,
) -> None:
    """A scenario inherits its base's hierarchy and forecasts exactly the base's SKUs: not the
    node ids of the base's node batches (#19 beside #21)."""
    client = "hier-s"
    _tenant(pipe, client, 6)
    base = start_run(pipe, client, {**RUN, "hierarchy": "product", "reconciliation": "bottom_up"}, role="analyst")
    pipe.drain()
    status, run, _ = pipe.api(
        "POST", f"{F}/runs", client, role="analyst", body={"scenario": {"base_run_id": base["run_id"]}}
    )
    assert status == 202, run
    pipe.drain()
    done = read_run(pipe, client, run["run_id"])
    assert done["status"] == "SUCCEEDED", done
    assert done["progress"]["skus_total"] == read_run(pipe, client, base["run_id"])["progress"]["skus_total"] == 6
    mine = {n["node_id"]: n["forecast"] for n in _nodes(pipe, client, run["run_id"])}
    theirs = {n["node_id"]: n["forecast"] for n in _nodes(pipe, client, base["run_id"])}
    assert mine == theirs  # no change: every node's forecast equals its base's
