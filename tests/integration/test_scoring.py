"""Scoring runs against actuals in-process (real handlers, moto): POST /demand scores the finished
run that forecast those dates, exactly and idempotently; a correction replaces its day; an
adjustment after the actuals re-scores `final`; weekly runs score whole weeks only; the tenant's
accuracy over time; and the problems the routes answer."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pytest

from skucast_local.emulator import Provisioned
from tests.integration.pipeline import Pipeline, start_run

F = "/api/v1/forecast"
START = dt.date(2024, 1, 1)
DAYS = 60  # history 2024-01-01 .. 2024-02-29: the forecast starts on 2024-03-01
PATTERN = np.array([10.0, 12.0, 8.0, 11.0, 9.0, 15.0, 5.0])


@pytest.fixture
def pipe(provisioned: Provisioned, lambda_context: Any) -> Pipeline:
    return Pipeline(provisioned, lambda_context)


def _history() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {
        "A": np.resize(PATTERN, DAYS) + rng.normal(0, 1, DAYS).round(2),
        "B#1": np.full(DAYS, 4.0),
    }


def _tenant(pipe: Pipeline, name: str) -> tuple[str, dict[str, np.ndarray]]:
    client = pipe.tenant(name)
    history = _history()
    pipe.store(client, history, START)
    return client, history


def _run(pipe: Pipeline, client: str, **body: Any) -> str:
    params = {"horizon": 7, "frequency": "D", "levels": [80, 95], "backtest_windows": 1, "method": "naive", **body}
    run_id = str(start_run(pipe, client, params)["run_id"])
    pipe.drain()
    return run_id


def _post(pipe: Pipeline, client: str, rows: list[tuple[str, str, float]]) -> None:
    records = [{"sku": s, "date": d, "quantity": q} for s, d, q in rows]
    status, body, _ = pipe.api("POST", f"{F}/demand", client, role="analyst", body={"records": records})
    assert status == 200 and body["status"] == "SUCCEEDED", body


def _accuracy(pipe: Pipeline, client: str, run_id: str) -> dict[str, Any]:
    status, body, _ = pipe.api("GET", f"{F}/runs/{run_id}/accuracy", client, role="viewer")
    assert status == 200, body
    return body


def _results(pipe: Pipeline, client: str, run_id: str) -> dict[str, dict[str, Any]]:
    status, body, _ = pipe.api("GET", f"{F}/runs/{run_id}/results", client, role="viewer")
    assert status == 200
    return {r["sku"]: r for r in body["items"]}


def _by_hand(points: list[tuple[float, float, float, float, float, float, float, float]]) -> dict[str, float | None]:
    """(actual, forecast, lo80, hi80, lo95, hi95, scale, _) per point -> the contract's metrics."""
    a = np.array([p[0] for p in points])
    f = np.array([p[1] for p in points])
    e = f - a
    scale = np.array([p[6] for p in points])
    return {
        "mae": float(np.abs(e).mean()),
        "rmse": float(math.sqrt((e**2).mean())),
        "wape": float(np.abs(e).sum() / np.abs(a).sum()),
        "bias": float(e.mean()),
        "mase": float((np.abs(e) / scale).mean()) if np.all(scale > 0) else None,
        "coverage_80": float(np.mean([(p[2] <= p[0] <= p[3]) for p in points])),
        "coverage_95": float(np.mean([(p[4] <= p[0] <= p[5]) for p in points])),
    }


def _close(
    got: dict[str, Any], want: dict[str, float | None], names: tuple[str, ...] = ("mae", "rmse", "wape", "bias", "mase")
) -> None:
    for name in names:
        assert got[name] == pytest.approx(want[name], rel=1e-9, abs=1e-12), name


def page_cursor(run_id: str) -> str:
    import base64
    import json

    raw = json.dumps({"after": f"run#2024-03#{run_id}", "list": "accuracy-run"}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _scale(values: np.ndarray, m: int = 7) -> float:
    return float(np.mean(np.abs(values[m:] - values[:-m])))


def test_given_actuals_posted_after_a_run_then_scored_exactly_idempotent_and_a_correction_replaces_its_day(
    pipe: Pipeline,
) -> None:
    client, history = _tenant(pipe, "cli_score")
    run_id = _run(pipe, client)
    empty = _accuracy(pipe, client, run_id)
    assert empty["points_scored"] == 0 and empty["metrics"] is None and empty["actuals_through"] is None

    actual = {"A": [11.0, 13.5, 7.0], "B#1": [4.0, 6.0, 0.0]}
    dates = ["2024-03-01", "2024-03-02", "2024-03-03"]
    rows = [(s, d, q) for s, qs in actual.items() for d, q in zip(dates, qs, strict=True)]
    _post(pipe, client, rows)
    first = _accuracy(pipe, client, run_id)
    assert (first["points_scored"], first["skus_scored"], first["actuals_through"]) == (6, 2, "2024-03-03")

    def expected(actuals: dict[str, list[float]]) -> tuple[dict[str, float | None], dict[str, float | None]]:
        results = _results(pipe, client, run_id)
        model, naive = [], []
        for sku, qs in actuals.items():
            pts = results[sku]["forecast"]
            y = history[sku]
            bench = np.resize(y[-7:], 7)
            for i, q in enumerate(qs):
                p = pts[i]
                model.append((q, p["mean"], p["lo_80"], p["hi_80"], p["lo_95"], p["hi_95"], _scale(y), 0.0))
                naive.append((q, bench[i], 0, 0, 0, 0, _scale(y), 0.0))
        return _by_hand(model), _by_hand(naive)

    # B#1 is constant: no MASE scale, so it is left out of MASE only.
    want, want_naive = expected({"A": actual["A"]})
    all_model, all_naive = expected(actual)
    _close(first["metrics"], {**all_model, "mase": want["mase"]})
    _close(first["naive"], {**all_naive, "mase": want_naive["mase"]})
    _close(first["final"], {**all_model, "mase": want["mase"]})  # no adjustment: final is the mean
    assert first["metrics"]["coverage_80"] == pytest.approx(all_model["coverage_80"])
    assert first["naive"]["coverage_80"] is None

    _post(pipe, client, rows)  # the same actuals again: nothing changes
    assert _accuracy(pipe, client, run_id) == first

    _post(pipe, client, [("A", "2024-03-02", 20.0)])  # a correction of one day replaces it
    corrected = {"A": [11.0, 20.0, 7.0], "B#1": actual["B#1"]}
    again = _accuracy(pipe, client, run_id)
    assert again["points_scored"] == 6
    want, _ = expected({"A": corrected["A"]})
    all_model, _ = expected(corrected)
    _close(again["metrics"], {**all_model, "mase": want["mase"]})


def test_given_scored_actuals_when_a_planner_adjusts_then_final_is_rescored_and_the_forecast_is_not(
    pipe: Pipeline,
) -> None:
    client, _ = _tenant(pipe, "cli_score_adj")
    run_id = _run(pipe, client)
    _post(pipe, client, [("A", "2024-03-01", 11.0), ("A", "2024-03-02", 13.0)])
    before = _accuracy(pipe, client, run_id)
    _, result, _ = pipe.api("GET", f"{F}/runs/{run_id}/results/A", client, role="viewer")
    tag = result["etag"]
    body = {"start": "2024-03-01", "end": "2024-03-02", "set": 12.0, "reason": "customer_info"}
    status, _, _ = pipe.api(
        "POST", f"{F}/runs/{run_id}/results/A/adjustments", client, role="analyst", body=body, headers={"If-Match": tag}
    )
    assert status == 201
    after = _accuracy(pipe, client, run_id)
    assert after["metrics"] == before["metrics"] and after["points_scored"] == 2
    assert after["final"]["mae"] == pytest.approx((1.0 + 1.0) / 2)
    assert after["final"]["bias"] == pytest.approx((1.0 - 1.0) / 2, abs=1e-12)


def test_given_a_weekly_run_then_a_week_is_scored_only_once_its_last_day_arrived_with_the_weeks_total(
    pipe: Pipeline,
) -> None:
    client, _ = _tenant(pipe, "cli_score_w")
    # History through Thursday 2024-02-29: the first weekly period is the ISO week of 2024-03-04.
    run_id = _run(pipe, client, frequency="W", horizon=3)
    week = [dt.date(2024, 3, 4) + dt.timedelta(days=i) for i in range(7)]
    _post(pipe, client, [("A", d.isoformat(), 2.0) for d in week[:6]])
    assert _accuracy(pipe, client, run_id)["points_scored"] == 0  # the week is not complete yet
    _post(pipe, client, [("A", week[6].isoformat(), 3.0)])
    acc = _accuracy(pipe, client, run_id)
    assert acc["points_scored"] == 1
    mean = _results(pipe, client, run_id)["A"]["forecast"][0]
    assert mean["date"] == "2024-03-04"
    assert acc["metrics"]["bias"] == pytest.approx(mean["mean"] - 15.0)


def test_given_scored_runs_then_the_tenant_accuracy_lists_months_by_run_class_and_method_and_bad_queries_are_problems(
    pipe: Pipeline,
) -> None:
    client, _ = _tenant(pipe, "cli_score_t")
    run_id = _run(pipe, client)
    _post(pipe, client, [("A", "2024-03-01", 11.0), ("B#1", "2024-03-01", 4.0)])
    status, page, _ = pipe.api("GET", f"{F}/accuracy", client, role="viewer", query={"by": "run"})
    assert status == 200 and [(i["period"], i["key"]) for i in page["items"]] == [("2024-03", run_id)]
    run_answer = _accuracy(pipe, client, run_id)
    assert page["items"][0]["metrics"] == run_answer["metrics"]
    status, page, _ = pipe.api("GET", f"{F}/accuracy", client, role="viewer", query={"by": "method", "limit": "1"})
    assert status == 200 and [i["key"] for i in page["items"]] == ["naive"]
    if page["next_cursor"]:  # a full page may name a next one, which is then empty
        query = {"by": "method", "cursor": page["next_cursor"]}
        status, page, _ = pipe.api("GET", f"{F}/accuracy", client, role="viewer", query=query)
        assert status == 200 and page == {"items": [], "next_cursor": None}
    status, _, _ = pipe.api(
        "GET", f"{F}/accuracy", client, role="viewer", query={"by": "class", "cursor": page_cursor(run_id)}
    )
    assert status == 400  # a cursor of another `by`
    status, page, _ = pipe.api("GET", f"{F}/accuracy", client, role="viewer", query={"from": "2024-04-01"})
    assert status == 200 and page["items"] == []

    for query in ({"by": "sku"}, {"from": "2024-13-01"}, {"from": "2024-05-01", "to": "2024-04-01"}, {"limit": "0"}):
        status, problem, _ = pipe.api("GET", f"{F}/accuracy", client, role="viewer", query=query)
        assert status in (400, 422) and problem["status"] == status, query
    status, problem, _ = pipe.api("GET", f"{F}/accuracy", client, role="viewer", query={"cursor": "bogus"})
    assert status == 400

    other = pipe.tenant("cli_score_other")
    status, _, _ = pipe.api("GET", f"{F}/runs/{run_id}/accuracy", other, role="viewer")
    assert status == 404
    status, page, _ = pipe.api("GET", f"{F}/accuracy", other, role="viewer")
    assert status == 200 and page["items"] == []


def test_given_an_adjustment_between_a_scorers_reads_and_its_write_then_the_write_fails_and_final_is_the_adjusted(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skucast.services import scoring as scoring_service

    client, _ = _tenant(pipe, "cli_score_race")
    run_id = _run(pipe, client)
    _post(pipe, client, [("A", "2024-03-01", 11.0)])
    read = scoring_service.runs_repo.get_results
    raced: list[int] = []

    def read_then_adjust(*args: Any, **kwargs: Any) -> Any:
        found = read(*args, **kwargs)  # the scorer holds the result as it was
        if not raced:
            raced.append(1)
            _, result, _ = pipe.api("GET", f"{F}/runs/{run_id}/results/A", client, role="viewer")
            body = {"start": "2024-03-01", "end": "2024-03-02", "set": 30.0, "reason": "event"}
            headers = {"If-Match": result["etag"]}
            status, _, _ = pipe.api(
                "POST", f"{F}/runs/{run_id}/results/A/adjustments", client, role="analyst", body=body, headers=headers
            )
            assert status == 201
        return found

    monkeypatch.setattr(scoring_service.runs_repo, "get_results", read_then_adjust)
    _post(pipe, client, [("A", "2024-03-02", 13.0)])
    assert raced
    acc = _accuracy(pipe, client, run_id)
    assert acc["points_scored"] == 2
    assert acc["final"]["mae"] == pytest.approx(((30 - 11) + (30 - 13)) / 2)  # both days at the adjusted final


def test_given_a_runs_actuals_far_off_its_forecast_then_one_tenant_accuracy_alert_and_resending_adds_none(
    pipe: Pipeline,
) -> None:
    client, _ = _tenant(pipe, "cli_score_alert")
    settings = {"wape_threshold": 0.5, "min_points": 4, "shift_periods": 5}
    assert pipe.api("PUT", f"{F}/alerts/settings", client, role="admin", body=settings)[0] == 200
    run_id = _run(pipe, client)
    dates = ["2024-03-01", "2024-03-02"]
    _post(pipe, client, [(s, d, 100.0) for s in ("A", "B#1") for d in dates[:1]])  # 2 points: too few
    status, page, _ = pipe.api("GET", f"{F}/alerts", client, role="viewer")
    assert status == 200 and page["items"] == []

    rows = [(s, d, 100.0) for s in ("A", "B#1") for d in dates]  # ~10x the forecast: WAPE ~0.9
    _post(pipe, client, rows)
    _post(pipe, client, rows)  # the same actuals again
    status, page, _ = pipe.api("GET", f"{F}/alerts", client, role="viewer")
    tenant_alerts = [a for a in page["items"] if a["kind"] == "accuracy_degraded" and a["sku"] is None]
    assert len(tenant_alerts) == 1, page["items"]
    detail = tenant_alerts[0]["detail"]
    assert tenant_alerts[0]["run_id"] == run_id and detail["scope"] == "tenant" and detail["points"] == 4
    assert detail["wape"] == pytest.approx(_accuracy(pipe, client, run_id)["metrics"]["wape"])
