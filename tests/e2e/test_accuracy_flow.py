"""Accuracy against actuals over the local stack's real HTTP (issue #20, done-when): a run forecasts
50 SKUs (named as exports name them: spaces, unicode, quotes, commas) 28 days ahead; a planner
adjusts one SKU; the actuals of the horizon arrive in two CSV files through the presigned POST and
a one-day correction; GET /runs/{id}/accuracy equals a computation by hand from the files and the
results read over HTTP (to 1e-9), for the forecast, the seasonal-naive benchmark and the final
forecast; uploading a file again changes nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from skucast_client import Client
from skucast_client.report import write_report

from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant, results, run_to_end, upload

pytestmark = pytest.mark.e2e
F = "/api/v1/forecast"
START = dt.date(2024, 1, 1)
DAYS = 120  # history 2024-01-01 .. 2024-04-29; the forecast: 2024-04-30 .. 2024-05-27
HORIZON = 28
FIRST = START + dt.timedelta(days=DAYS)
SEASON = 7
MAX_HISTORY = 364  # the most recent daily periods a run fits (README: the engine's max_history)


def _skus() -> list[str]:
    odd = ['Widget "Pro" 10', "Café crème 250g", "bolt, M8 x 30", "  leading space", "Ölfilter 5W-30", "SKU#7/β",
           "Comma, \"quoted\"", "日本茶 500ml", "it's", "semi;colon"]  # fmt: skip
    return odd + [f"Item {i:03d} ünï" for i in range(40)]


def _history(rng: np.random.Generator, i: int) -> np.ndarray:
    week = np.array([1.0, 1.2, 0.9, 1.1, 1.4, 0.6, 0.3])
    level = 5 + 3 * i
    values = np.round(level * np.resize(week, DAYS) + rng.normal(0, 1 + i % 4, DAYS), 2)
    if i % 9 == 4:  # intermittent demand
        values = np.where(rng.random(DAYS) < 0.7, 0.0, np.round(rng.gamma(2.0, 4.0, DAYS), 1))
    if i % 13 == 6:  # a new item: rows only over the last 40 days
        values[: DAYS - 40] = np.nan
    return np.maximum(values, 0.0)


def _csv(rows: list[tuple[str, str, float]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["sku", "date", "quantity"])
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _rows(series: dict[str, np.ndarray], start: dt.date) -> list[tuple[str, str, float]]:
    return [
        (sku, (start + dt.timedelta(days=d)).isoformat(), float(v))
        for sku, values in series.items()
        for d, v in enumerate(values)
        if not math.isnan(v)
    ]


def _read_csv(data: bytes) -> dict[tuple[str, str], float]:
    reader = csv.reader(io.StringIO(data.decode("utf-8")))
    next(reader)
    return {(sku, date): float(q) for sku, date, q in reader}


def _uploaded(tenant: Tenant, data: bytes) -> None:
    report = upload(tenant, data)
    assert report["status"] == "SUCCEEDED", report


# ---------------------------------------------------------------- by hand
def _scale(history: np.ndarray) -> float | None:
    """MASE's scale as the run takes it: the in-sample seasonal-naive MAE of the history it fitted
    (from the first sale, at most MAX_HISTORY days)."""
    y = np.trim_zeros(history, "f")[-MAX_HISTORY:]
    m = SEASON if y.size > SEASON else 1
    if y.size <= m:
        return None
    scale = float(np.mean(np.abs(y[m:] - y[:-m])))
    return scale if scale > 0 else None


def _naive(history: np.ndarray) -> np.ndarray:
    y = np.trim_zeros(history, "f")[-MAX_HISTORY:]
    season = y[-SEASON:] if y.size >= SEASON else y[-1:]
    return np.resize(season, HORIZON) if y.size else np.zeros(HORIZON)


def _metrics(points: list[dict[str, Any]], forecast: str, intervals: bool) -> dict[str, float | None]:
    a = np.array([p["actual"] for p in points])
    f = np.array([p[forecast] for p in points])
    e = f - a
    scaled = [abs(p[forecast] - p["actual"]) / p["scale"] for p in points if p["scale"]]
    out: dict[str, float | None] = {
        "mae": float(np.mean(np.abs(e))),
        "rmse": math.sqrt(float(np.mean(e**2))),
        "wape": float(np.sum(np.abs(e)) / np.sum(np.abs(a))) if np.any(a) else None,
        "bias": float(np.mean(e)),
        "mase": float(np.mean(scaled)) if scaled else None,
        "coverage_80": None,
        "coverage_95": None,
    }
    if intervals:
        for lv in (80, 95):
            out[f"coverage_{lv}"] = float(np.mean([p[f"lo_{lv}"] <= p["actual"] <= p[f"hi_{lv}"] for p in points]))
    return out


def _agree(got: dict[str, Any] | None, want: dict[str, float | None], what: str) -> None:
    assert got is not None, what
    for name, value in want.items():
        if value is None:
            assert got[name] is None, (what, name)
        else:
            assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-9), (what, name, got[name], value)


def test_given_a_run_and_its_actuals_in_two_files_and_a_correction_then_accuracy_is_the_hand_computation(
    stack: RunningStack, tmp_path: Path
) -> None:
    tenant = Tenant.sign_up(stack, tier="standard", http=stack.http())
    skus = _skus()
    rng = np.random.default_rng(20)
    history = {sku: _history(rng, i) for i, sku in enumerate(skus)}
    _uploaded(tenant, _csv(_rows(history, START)))

    run = run_to_end(tenant, {"horizon": HORIZON, "frequency": "D", "levels": [80, 95]}, timeout=600)
    assert run["status"] == "SUCCEEDED", run
    run_id = run["run_id"]
    assert run["params"]["as_of"] == (FIRST - dt.timedelta(days=1)).isoformat()
    before = tenant.http.get(f"{F}/runs/{run_id}/accuracy", headers=tenant.headers)
    assert before.status_code == 200 and before.json()["metrics"] is None and before.json()["points_scored"] == 0

    # A planner's adjustment before the actuals: the final forecast of one SKU over days 3..10.
    adjusted = skus[0]
    url = f"{F}/runs/{run_id}/results/{quote(adjusted, safe='')}"
    tag = tenant.http.get(url, headers=tenant.headers).headers["etag"]
    body = {"start": (FIRST + dt.timedelta(days=2)).isoformat(), "end": (FIRST + dt.timedelta(days=9)).isoformat(),
            "add": 7.5, "reason": "customer_info"}  # fmt: skip
    r = tenant.http.post(f"{url}/adjustments", json=body, headers={**tenant.headers, "If-Match": tag})
    assert r.status_code == 201, r.text

    # The actuals of the horizon: two files, then a one-day correction of five SKUs.
    future = {sku: _history(rng, i)[:HORIZON] * 1.1 for i, sku in enumerate(skus)}
    future = {sku: np.nan_to_num(v, nan=0.0).round(2) for sku, v in future.items()}
    first_file = _csv(_rows({s: v[:14] for s, v in future.items()}, FIRST))
    second_file = _csv(_rows({s: v[14:] for s, v in future.items()}, FIRST + dt.timedelta(days=14)))
    day = (FIRST + dt.timedelta(days=20)).isoformat()
    correction = _csv([(sku, day, float(future[sku][20] + 17.25)) for sku in skus[:5]])
    for data in (first_file, second_file, correction):
        _uploaded(tenant, data)

    answer = tenant.http.get(f"{F}/runs/{run_id}/accuracy", headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    got = answer.json()

    # By hand: the actuals as the files say (the later file wins a day), the results over HTTP.
    actuals: dict[tuple[str, str], float] = {}
    for data in (first_file, second_file, correction):
        actuals.update(_read_csv(data))
    served = {r["sku"]: r for r in results(tenant, run_id)}
    assert set(served) == set(skus)
    assert any(p["final"] != p["mean"] for p in served[adjusted]["forecast"])
    points: list[dict[str, Any]] = []
    for sku, result in served.items():
        hist = np.nan_to_num(history[sku], nan=0.0)
        hist = hist[np.argmax(~np.isnan(history[sku])) :]  # the series starts at its first row
        bench = _naive(hist)
        for i, p in enumerate(result["forecast"]):
            actual = actuals[(sku, p["date"])]
            points.append({**p, "actual": actual, "naive": float(bench[i]), "scale": _scale(hist), "sku": sku,
                           "demand_class": result["demand_class"], "method": result["method"]})  # fmt: skip
    assert got["points_scored"] == len(points) == 50 * HORIZON
    assert got["skus_scored"] == 50
    assert got["actuals_through"] == (FIRST + dt.timedelta(days=HORIZON - 1)).isoformat()
    _agree(got["metrics"], _metrics(points, "mean", True), "metrics")
    _agree(got["naive"], _metrics(points, "naive", False), "naive")
    _agree(got["final"], _metrics(points, "final", True), "final")
    assert got["final"]["mae"] != got["metrics"]["mae"]  # the adjustment is in final, not in metrics

    for dimension, field in (("by_class", "demand_class"), ("by_method", "method")):
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for p in points:
            groups[str(p[field])].append(p)
        assert set(got[dimension]) == set(groups)
        for key, members in groups.items():
            group = got[dimension][key]
            assert group["points_scored"] == len(members)
            assert group["skus_scored"] == len({p["sku"] for p in members})
            _agree(group["metrics"], _metrics(members, "mean", True), f"{dimension} {key}")
            _agree(group["final"], _metrics(members, "final", True), f"{dimension} {key} final")
            _agree(group["naive"], _metrics(members, "naive", False), f"{dimension} {key} naive")

    # The same files again (the first, and the correction): the answer does not move at all.
    _uploaded(tenant, first_file)
    _uploaded(tenant, correction)
    again = tenant.http.get(f"{F}/runs/{run_id}/accuracy", headers=tenant.headers)
    assert again.status_code == 200 and again.json() == got

    # The tenant's accuracy over time: the run's points by calendar month of the actuals.
    months = tenant.http.get(f"{F}/accuracy", params={"by": "run"}, headers=tenant.headers)
    assert months.status_code == 200, months.text
    items = [i for i in months.json()["items"] if i["key"] == run_id]
    assert [i["period"] for i in items] == ["2024-04", "2024-05"]
    assert sum(i["points_scored"] for i in items) == len(points)
    may = [p for p in points if p["date"].startswith("2024-05")]
    _agree(items[1]["metrics"], _metrics(may, "mean", True), "May")

    # The client answers the same, and the report shows the three side by side.
    client = Client(stack.api, api_key=tenant.create_api_key("viewer")["api_key"])
    assert client.accuracy(run_id) == got
    page = Path(write_report(client, run_id, tmp_path / "report.html")["path"]).read_text(encoding="utf-8")
    assert 'id="actuals"' in page and "Accuracy against actuals" in page
    assert "seasonal naive" in page and "final (adjusted)" in page
