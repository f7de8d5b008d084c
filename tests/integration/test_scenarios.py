"""What-if runs and comparisons in-process (real handlers, moto, the queues pumped): a scenario's
validation (each refusal naming its field), its inherited parameters, a no-change scenario equal to
its base run exactly, and GET /runs/{id}/compare's pages and totals."""

from __future__ import annotations

import math
from typing import Any

import pytest

from skucast_local.emulator import Provisioned
from tests.integration.pipeline import Pipeline, demand_mix, read_results, read_run, start_run

F = "/api/v1/forecast"
BASE = {"horizon": 14, "frequency": "D", "levels": [80, 95], "backtest_windows": 1}
AFTER = "2024-07-20"  # demand_mix's data ends 2024-07-18 (200 days from 2024-01-01): the origin
LATER = "2024-07-31"


@pytest.fixture
def pipe(provisioned: Provisioned, lambda_context: Any) -> Pipeline:
    return Pipeline(provisioned, lambda_context)


def _tenant(pipe: Pipeline, client: str, n: int = 9) -> dict[str, Any]:
    """A tenant with demand, a price and a promo flag, and a finished base run."""
    pipe.tenant(client)
    series = demand_mix(n)
    pipe.store(client, series)
    for name, kind in (("price", "numeric"), ("promo", "flag")):
        status, body, _ = pipe.api("PUT", f"{F}/drivers/{name}", client, body={"kind": kind})
        assert status == 201, body
    records = [
        {"sku": sku, "date": day, "values": {"price": 10.0, "promo": 0}}
        for sku in series
        for day in ("2024-07-01", AFTER, LATER)
    ]
    status, report, _ = pipe.api("POST", f"{F}/drivers/values", client, role="analyst", body={"records": records})
    assert status == 200 and report["status"] == "SUCCEEDED", report
    base = start_run(pipe, client, BASE)
    pipe.drain()
    assert read_run(pipe, client, base["run_id"])["status"] == "SUCCEEDED"
    return base


def _post(pipe: Pipeline, client: str, body: dict[str, Any]) -> tuple[int, Any]:
    status, answer, _ = pipe.api("POST", f"{F}/runs", client, role="analyst", body=body)
    return status, answer


def _fields(problem: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["field"], e["code"]) for e in problem.get("errors", [])]


def _compare(pipe: Pipeline, client: str, run_id: str, to: str, limit: int = 4) -> tuple[dict[str, Any], list]:
    items, cursor, first = [], None, None
    while True:
        query = {"to": to, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        status, page, _ = pipe.api("GET", f"{F}/runs/{run_id}/compare", client, role="viewer", query=query)
        assert status == 200, page
        first = first or page
        assert page["totals"] == first["totals"]  # every page carries the same totals
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return first, items


def test_given_a_no_change_scenario_then_every_forecast_point_equals_the_base_run(pipe: Pipeline) -> None:
    client = "cli_same"
    base = _tenant(pipe, client)
    status, run = _post(pipe, client, {"scenario": {"base_run_id": base["run_id"]}, "name": "same"})
    assert status == 202, run
    assert (run["base_run_id"], run["models_from"], run["scenario"]["changes"]) == (base["run_id"], base["run_id"], [])
    pipe.drain()
    done = read_run(pipe, client, run["run_id"])
    finished = read_run(pipe, client, base["run_id"])
    assert done["status"] == "SUCCEEDED"
    inherited = ("horizon", "frequency", "levels", "method", "backtest_windows", "history_cleaning", "as_of")
    assert {k: done["params"][k] for k in inherited} == {k: finished["params"][k] for k in inherited}
    assert done["params"]["drivers"] == "auto"
    mine = {r["sku"]: r for r in read_results(pipe, client, run["run_id"])}
    theirs = {r["sku"]: r for r in read_results(pipe, client, base["run_id"])}
    assert mine.keys() == theirs.keys() and len(mine) == 9
    for sku, result in theirs.items():
        assert mine[sku]["forecast"] == result["forecast"], sku  # every point, every bound, exactly
        assert (mine[sku]["method"], mine[sku]["drivers_used"], mine[sku]["effects"]) == (
            result["method"],
            result["drivers_used"],
            result["effects"],
        )
        assert isinstance(result["warnings"], list)
    totals, items = _compare(pipe, client, run["run_id"], base["run_id"])
    assert totals["totals"]["delta"] == 0 and totals["totals"]["delta_pct"] in (0, None)
    # Without `to`: a scenario run against its base; a run that is no scenario must name one.
    status, default, _ = pipe.api("GET", f"{F}/runs/{run['run_id']}/compare", client, role="viewer")
    assert status == 200 and default["to"] == base["run_id"] and default["totals"] == totals["totals"]
    status, problem, _ = pipe.api("GET", f"{F}/runs/{base['run_id']}/compare", client, role="viewer")
    assert status == 422 and _fields(problem) == [("to", "missing")], problem
    assert sorted(i["sku"] for i in items) == sorted(theirs) and all(i["delta"] == 0 for i in items)


def test_given_a_price_cut_scenario_then_compare_pages_add_up_to_the_totals(pipe: Pipeline) -> None:
    client = "cli_cut"
    base = _tenant(pipe, client)
    cut = {"driver": "price", "start": AFTER, "end": LATER, "multiply": 0.9}
    status, run = _post(pipe, client, {"scenario": {"base_run_id": base["run_id"], "changes": [cut]}})
    assert status == 202, run
    assert run["scenario"]["changes"] == [cut]
    pipe.drain()
    assert read_run(pipe, client, run["run_id"])["status"] == "SUCCEEDED"
    totals, items = _compare(pipe, client, run["run_id"], base["run_id"], limit=2)
    assert totals["run_id"] == run["run_id"] and totals["to"] == base["run_id"]
    assert len(items) == 9 and len({i["sku"] for i in items}) == 9
    assert math.isclose(totals["totals"]["delta"], math.fsum(i["delta"] for i in items), abs_tol=1e-9)
    assert math.isclose(totals["totals"]["run"], math.fsum(i["run_total"] for i in items), rel_tol=1e-12)
    deltas = [abs(i["delta"]) for i in items]
    assert deltas == sorted(deltas, reverse=True)
    for item in items:  # each item's numbers are its two results' sums of mean
        assert math.isclose(item["delta"], item["run_total"] - item["to_total"], abs_tol=1e-9)
    # Not finished, another tenant's, or a forged cursor: refused.
    other = _tenant(pipe, "cli_other", n=3)
    status, problem, _ = pipe.api(
        "GET", f"{F}/runs/{run['run_id']}/compare", client, role="viewer", query={"to": other["run_id"]}
    )
    assert status == 404, problem
    queued = start_run(pipe, client, BASE)
    status, problem, _ = pipe.api(
        "GET", f"{F}/runs/{queued['run_id']}/compare", client, role="viewer", query={"to": base["run_id"]}
    )
    assert status == 409, problem
    status, problem, _ = pipe.api(
        "GET", f"{F}/runs/{run['run_id']}/compare", client, role="viewer", query={"to": base["run_id"], "cursor": "e30"}
    )
    assert status == 400, problem


def test_given_a_scenario_of_a_scenario_then_it_stacks_and_reuses_the_first_runs_models(pipe: Pipeline) -> None:
    client = "cli_stack"
    base = _tenant(pipe, client, n=3)
    first = {"driver": "price", "start": AFTER, "end": LATER, "multiply": 0.9}
    status, one = _post(pipe, client, {"scenario": {"base_run_id": base["run_id"], "changes": [first]}})
    assert status == 202, one
    pipe.drain()
    second = {"driver": "promo", "start": AFTER, "end": AFTER, "set": 1}
    status, two = _post(pipe, client, {"scenario": {"base_run_id": one["run_id"], "changes": [second]}})
    assert status == 202, two
    assert (two["base_run_id"], two["models_from"]) == (one["run_id"], base["run_id"])
    assert two["scenario"]["changes"] == [first, second]
    pipe.drain()
    assert read_run(pipe, client, two["run_id"])["status"] == "SUCCEEDED"


def test_given_bad_scenarios_then_each_is_a_problem_naming_its_field(pipe: Pipeline) -> None:
    client = "cli_bad"
    base = _tenant(pipe, client, n=3)
    other = _tenant(pipe, "cli_bad_other", n=3)
    ok = {"driver": "price", "start": AFTER, "end": LATER, "multiply": 0.9}

    def scenario(**kw: Any) -> dict[str, Any]:
        return {"scenario": {"base_run_id": base["run_id"], "changes": [ok], **kw}}

    queued = start_run(pipe, client, BASE)  # not finished yet
    cases: list[tuple[dict[str, Any], int, list[tuple[str, str]] | None]] = [
        ({"scenario": {"base_run_id": "run_nope"}}, 404, [("scenario.base_run_id", "unknown_run")]),
        ({"scenario": {"base_run_id": other["run_id"]}}, 404, [("scenario.base_run_id", "unknown_run")]),
        ({"scenario": {"base_run_id": queued["run_id"]}}, 409, [("scenario.base_run_id", "base_not_finished")]),
        ({**scenario(), "horizon": 28}, 422, [("horizon", "set_by_base_run")]),
        ({**scenario(), "skus": ["SKU-0000"]}, 422, [("skus", "set_by_base_run")]),
        ({**scenario(), "drivers": "none"}, 422, [("drivers", "set_by_base_run")]),
        (scenario(changes=[{**ok, "driver": "discount"}]), 422, [("scenario.changes[0].driver", "undeclared_driver")]),
        (scenario(changes=[{**ok, "start": LATER, "end": AFTER}]), 422, [("scenario.changes[0].start", "after_end")]),
        (scenario(changes=[{**ok, "set": 9.0}]), 422, [("scenario.changes[0]", "one_operation")]),
        (
            scenario(changes=[{**ok, "driver": "promo", "multiply": None, "set": 2}]),
            422,
            [("scenario.changes[0].set", "flag_not_binary")],
        ),
        (
            scenario(events=[{"name": "launch", "dates": ["2024-13-01"]}]),
            422,
            [("scenario.events[0].dates[0]", "date_invalid")],
        ),
        (scenario(changes=[{**ok, "start": "01/08/2024"}]), 422, None),  # not ISO: the schema names it
        ({"drivers": ["price", "discount"], **BASE}, 422, [("drivers[1]", "undeclared_driver")]),
        ({"frequency": "D"}, 422, [("horizon", "missing")]),
    ]
    for body, expected_status, expected_fields in cases:
        status, problem = _post(pipe, client, body)
        assert status == expected_status, (body, problem)
        assert problem["status"] == expected_status and problem["type"].startswith("https://")
        if expected_fields is not None:
            assert _fields(problem) == expected_fields, (body, problem)
        else:
            assert any("start" in e["field"] for e in problem["errors"]), problem
    # The same values as the base run's are no override: accepted.
    status, run = _post(pipe, client, {**scenario(), "horizon": 14, "frequency": "D"})
    assert status == 202, run


def test_given_a_price_cut_then_the_engine_sees_the_base_features_with_the_future_price_cut(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker hands the engine each SKU's features (services/features.py); a scenario's change
    reaches only its future periods. The real engine runs: this only records what it was given."""
    from skucast.forecasting import engine

    seen: dict[str, dict[str, Any]] = {}
    real = engine.forecast_batch

    def recording(inputs: Any, spec: Any, config: Any = None) -> Any:
        for item in inputs:
            seen.setdefault(item.sku, {})[len(seen.get(item.sku, {}))] = item.features
        return real(inputs, spec, config) if config is not None else real(inputs, spec)

    monkeypatch.setattr(engine, "forecast_batch", recording)
    client = "cli_seen"
    base = _tenant(pipe, client, n=3)
    cut = {"driver": "price", "start": AFTER, "end": LATER, "multiply": 0.9}
    status, run = _post(pipe, client, {"scenario": {"base_run_id": base["run_id"], "changes": [cut]}})
    assert status == 202, run
    pipe.drain()
    assert len(seen) == 3 and all(len(runs) == 2 for runs in seen.values()), seen
    for sku, runs in seen.items():
        before, after = runs[0], runs[1]  # the base run's inputs, then the scenario's
        assert before is not None and after is not None, sku
        assert set(before.values) >= {"price", "promo"} and before.kinds["promo"] == "flag"
        for period, value in before.values["price"].items():
            expected = value * 0.9 if period >= AFTER else value  # history untouched
            assert after.values["price"][period] == pytest.approx(expected), (sku, period)
        assert after.values["promo"] == before.values["promo"]
        assert after.values["price"][AFTER] == pytest.approx(9.0) and before.values["price"][AFTER] == 10.0


def test_given_a_price_cut_beyond_what_the_history_supports_then_results_warn_and_stay_bounded(pipe: Pipeline) -> None:
    # The price moved by 4 cents in the history; a 30 % cut is far beyond it: each SKU's results
    # over the API say so (driver_out_of_range) and the forecast is not extrapolated without bound.
    client = "cli_beyond"
    pipe.tenant(client)
    series = demand_mix(3)
    pipe.store(client, series)
    status, body, _ = pipe.api("PUT", f"{F}/drivers/price", client, body={"kind": "numeric"})
    assert status == 201, body
    records = [
        {"sku": sku, "date": day, "values": {"price": price}}
        for sku in series
        for day, price in (("2024-01-01", 10.0), ("2024-04-01", 10.04), (AFTER, 10.04), (LATER, 10.04))
    ]
    status, report, _ = pipe.api("POST", f"{F}/drivers/values", client, role="analyst", body={"records": records})
    assert status == 200 and report["status"] == "SUCCEEDED", report
    base = start_run(pipe, client, BASE)
    pipe.drain()
    assert read_run(pipe, client, base["run_id"])["status"] == "SUCCEEDED"
    cut = {"driver": "price", "start": AFTER, "end": LATER, "multiply": 0.7}
    status, run = _post(pipe, client, {"scenario": {"base_run_id": base["run_id"], "changes": [cut]}})
    assert status == 202, run
    pipe.drain()
    assert read_run(pipe, client, run["run_id"])["status"] == "SUCCEEDED"
    results = read_results(pipe, client, run["run_id"])
    smooth = next(r for r in results if r["sku"] == "SKU-0000")  # the SKU with a full history
    beyond = [w for w in smooth["warnings"] if w["code"] == "driver_out_of_range"]
    assert len(beyond) == 1 and "(9.96 to 10.08" in beyond[0]["message"], smooth["warnings"]
    history_max = float(series["SKU-0000"].max())
    assert all(0 <= p["mean"] <= 2 * history_max for p in smooth["forecast"])
    base_smooth = next(r for r in read_results(pipe, client, base["run_id"]) if r["sku"] == "SKU-0000")
    # the base run's price is within its history
    assert all(w["code"] != "driver_out_of_range" for w in base_smooth["warnings"]), base_smooth["warnings"]
