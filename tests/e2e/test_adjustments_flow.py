"""Planner adjustments over the local stack's real HTTP: optimistic concurrency between two
analysts, the problems (428, 403, 404, 400), the audit trail with its authors (a user's id, an API
key's id), `mean` never changing while `final` moves exactly over the range, exports in CSV and
Parquet, and a sticky adjustment carried into the next scheduled run."""

from __future__ import annotations

import datetime as dt
import io
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pyarrow.parquet as pq
import pytest

from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant, finish, run_to_end

pytestmark = pytest.mark.e2e
F = "/api/v1/forecast"
RUN = {"horizon": 7, "method": "naive", "backtest_windows": 0, "levels": [80]}
DAYS = [f"2024-03-0{d}" for d in range(1, 8)]  # history ends 2024-02-29: the forecast starts 2024-03-01
LAST = {"A": 10.0, "B/2 ü#": 7.0}  # each SKU's last quantity: its naive forecast


@dataclass
class Planners:
    tenant: Tenant
    run_id: str
    analyst: tuple[str, dict[str, str]]  # (user id, headers)
    colleague: tuple[str, dict[str, str]]
    viewer: dict[str, str]
    key: tuple[str, dict[str, str]]  # (key id, headers)


def _url(run_id: str, sku: str, tail: str = "") -> str:
    return f"{F}/runs/{run_id}/results/{quote(sku, safe='')}{tail}"


@pytest.fixture(scope="module")
def planners(stack: RunningStack) -> Planners:
    tenant = Tenant.sign_up(stack, tier="enterprise", http=stack.http())
    records = [
        {"sku": sku, "date": (dt.date(2024, 1, 1) + dt.timedelta(days=d)).isoformat(), "quantity": q if d == 59 else 3}
        for sku, q in LAST.items()
        for d in range(60)
    ]
    r = tenant.http.post(f"{F}/demand", json={"records": records}, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["status"] == "SUCCEEDED", r.text
    run = run_to_end(tenant, RUN, timeout=300)
    assert run["status"] == "SUCCEEDED", run
    analyst, colleague = tenant.create_user("analyst"), tenant.create_user("analyst")
    key = tenant.create_api_key("analyst")
    return Planners(
        tenant,
        run["run_id"],
        (analyst[0]["user_id"], analyst[1]),
        (colleague[0]["user_id"], colleague[1]),
        tenant.create_user("viewer")[1],
        (key["key_id"], {"X-Api-Key": key["api_key"]}),
    )


def _read(p: Planners, sku: str, run_id: str | None = None) -> tuple[dict[str, Any], str]:
    r = p.tenant.http.get(_url(run_id or p.run_id, sku), headers=p.viewer)
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == r.json()["etag"]
    return r.json(), r.headers["etag"]


def _post(http: httpx.Client, p: Planners, sku: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    return http.post(_url(p.run_id, sku, "/adjustments"), json=body, headers=headers)


def _listed(p: Planners, sku: str, run_id: str | None = None) -> list[dict[str, Any]]:
    r = p.tenant.http.get(_url(run_id or p.run_id, sku, "/adjustments"), headers=p.viewer)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_given_two_analysts_with_the_same_etag_at_once_then_one_201_and_one_412(
    stack: RunningStack, planners: Planners
) -> None:
    p = planners
    _, tag = _read(p, "A")
    both = threading.Barrier(2)
    answers: dict[str, httpx.Response] = {}

    def adjust(who: str, headers: dict[str, str], value: float) -> None:
        body = {"start": DAYS[0], "end": DAYS[1], "set": value, "reason": "customer_info"}
        with stack.http() as http:
            both.wait(timeout=30)
            answers[who] = _post(http, p, "A", body, {**headers, "If-Match": tag})

    threads = [
        threading.Thread(target=adjust, args=("analyst", p.analyst[1], 21.0)),
        threading.Thread(target=adjust, args=("colleague", p.colleague[1], 42.0)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.status_code for a in answers.values()) == [201, 412], {k: v.text for k, v in answers.items()}
    winner = next(w for w, a in answers.items() if a.status_code == 201)
    loser = answers["colleague" if winner == "analyst" else "analyst"]
    assert loser.headers["content-type"] == "application/problem+json"
    assert loser.json()["type"].endswith("/precondition-failed")
    won = answers[winner]
    value = 21.0 if winner == "analyst" else 42.0
    result, now = _read(p, "A")
    assert now == won.headers["etag"] != tag and result == won.json()
    assert [pt["final"] for pt in result["forecast"]] == [value, value] + [10.0] * 5
    [made] = _listed(p, "A")
    assert made["by"] == (p.analyst if winner == "analyst" else p.colleague)[0] and made["by_kind"] == "user"

    # The loser reads again and decides again: with the new ETag it goes through.
    again = _post(stack.http(), p, "A", {"start": DAYS[1], "end": DAYS[1], "add": 1, "reason": "correction"},
                  {**(p.colleague[1] if winner == "analyst" else p.analyst[1]), "If-Match": now})  # fmt: skip
    assert again.status_code == 201, again.text
    assert [pt["final"] for pt in again.json()["forecast"]][:2] == [value, value + 1]


def test_given_no_if_match_a_viewer_another_tenant_or_bad_json_then_the_problem_says_so(
    stack: RunningStack, planners: Planners
) -> None:
    p = planners
    _, tag = _read(p, "B/2 ü#")
    body = {"start": DAYS[0], "end": DAYS[0], "add": 1, "reason": "other"}
    with stack.http() as http:
        r = _post(http, p, "B/2 ü#", body, p.analyst[1])
        assert r.status_code == 428 and r.json()["type"].endswith("/precondition-required"), r.text
        r = _post(http, p, "B/2 ü#", body, {**p.viewer, "If-Match": tag})
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json", r.text
        other = Tenant.sign_up(stack, http=http)
        theirs = _post(http, p, "B/2 ü#", body, {**other.headers, "If-Match": tag})
        nobodys = http.post(_url("run_" + "0" * 20, "B/2 ü#", "/adjustments"), json=body,
                            headers={**other.headers, "If-Match": tag})  # fmt: skip
        assert theirs.status_code == nobodys.status_code == 404 and theirs.json()["detail"] == nobodys.json()["detail"]
        assert http.get(_url(p.run_id, "B/2 ü#", "/adjustments"), headers=other.headers).status_code == 404
        r = http.post(_url(p.run_id, "B/2 ü#", "/adjustments"), content=b'{"start": "2024-03-01",',
                      headers={**p.analyst[1], "If-Match": tag, "Content-Type": "application/json"})  # fmt: skip
        assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json", r.text
        r = _post(http, p, "B/2 ü#", {**body, "start": "2024-02-29"}, {**p.analyst[1], "If-Match": tag})
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "outside_forecast", r.text
    assert _read(p, "B/2 ü#")[1] == tag  # nothing refused changed it


def test_given_adjustments_by_users_and_an_api_key_then_the_trail_names_each_and_final_moves_exactly(
    stack: RunningStack, planners: Planners
) -> None:
    p = planners
    sku = "B/2 ü#"
    before, tag = _read(p, sku)
    means = [pt["mean"] for pt in before["forecast"]]
    assert means == [7.0] * 7 and [pt["final"] for pt in before["forecast"]] == means
    expected = list(means)
    steps = [
        (p.analyst, {"start": DAYS[1], "end": DAYS[3], "add": 2.25, "reason": "promotion", "comment": "flyer"}),
        (p.key, {"start": DAYS[3], "end": DAYS[5], "multiply": 1.5, "reason": "event"}),
        (p.colleague, {"start": DAYS[5], "end": DAYS[6], "add": -100, "reason": "supply"}),  # floored at 0
        (p.key, {"start": DAYS[0], "end": DAYS[0], "set": 0.5, "reason": "correction"}),
    ]
    with stack.http() as http:
        for (_, headers), body in steps:
            r = _post(http, p, sku, body, {**headers, "If-Match": tag})
            assert r.status_code == 201, r.text
            tag = r.headers["etag"]
            for i, day in enumerate(DAYS):
                if body["start"] <= day <= body["end"]:
                    if "set" in body:
                        expected[i] = body["set"]
                    elif "add" in body:
                        expected[i] = max(0.0, expected[i] + body["add"])
                    else:
                        expected[i] = expected[i] * body["multiply"]
            got = r.json()["forecast"]
            assert [pt["final"] for pt in got] == expected  # exactly: the same float operations
            assert [pt["mean"] for pt in got] == means
            assert [pt["lo_80"] for pt in got] == [pt["lo_80"] for pt in before["forecast"]]
    assert expected == [0.5, 9.25, 9.25, 13.875, 10.5, 0.0, 0.0]
    trail = _listed(p, sku)
    assert [(a["by"], a["by_kind"]) for a in trail] == [
        (p.analyst[0], "user"), (p.key[0], "api_key"), (p.colleague[0], "user"), (p.key[0], "api_key"),
    ]  # fmt: skip
    assert [a["reason"] for a in trail] == [b["reason"] for _, b in steps] and trail[0]["comment"] == "flyer"
    assert trail[1]["multiply"] == 1.5 and trail[1]["set"] is None and trail[1]["add"] is None
    assert trail[1]["changes"] == [
        {"date": DAYS[3], "before": 9.25, "after": 13.875},
        {"date": DAYS[4], "before": 7.0, "after": 10.5},
        {"date": DAYS[5], "before": 7.0, "after": 10.5},
    ]
    assert all(a["at"].endswith("Z") and a["carried_from"] is None for a in trail)


def _export(http: httpx.Client, p: Planners, run_id: str, fmt: str) -> list[dict[str, Any]]:
    r = http.post(f"{F}/runs/{run_id}/export", json={"format": fmt}, headers=p.viewer)
    assert r.status_code == 200, r.text
    data = httpx.get(r.json()["url"], timeout=60).content
    if fmt == "parquet":
        return list(pq.read_table(io.BytesIO(data)).to_pylist())
    import csv

    return [{**row, "mean": float(row["mean"]), "final": float(row["final"])}
            for row in csv.DictReader(io.StringIO(data.decode()))]  # fmt: skip


def _check_export(rows: list[dict[str, Any]], results: dict[str, dict[str, Any]]) -> None:
    for sku, result in results.items():
        mine = sorted((r for r in rows if r["sku"] == sku), key=lambda r: str(r["date"]))
        assert [(str(r["date"]), r["mean"], r["final"]) for r in mine] == [
            (pt["date"], pt["mean"], pt["final"]) for pt in result["forecast"]
        ], sku


def test_given_adjusted_results_then_csv_and_parquet_exports_carry_mean_and_final(
    stack: RunningStack, planners: Planners
) -> None:
    p = planners
    _, tag = _read(p, "A")
    with stack.http() as http:
        r = _post(http, p, "A", {"start": DAYS[6], "end": DAYS[6], "multiply": 3, "reason": "event"},
                  {**p.analyst[1], "If-Match": tag})  # fmt: skip
        assert r.status_code == 201, r.text
        results = {sku: _read(p, sku)[0] for sku in LAST}
        assert any(pt["final"] != pt["mean"] for pt in results["A"]["forecast"])
        for fmt in ("csv", "parquet"):
            rows = _export(http, p, p.run_id, fmt)
            assert {"mean", "final"} <= set(rows[0]), fmt
            _check_export(rows, results)


def test_given_a_sticky_adjustment_then_the_next_scheduled_run_carries_it_in_final_marked_carried_from(
    stack: RunningStack, planners: Planners
) -> None:
    p = planners
    tenant = p.tenant
    _, tag = _read(p, "B/2 ü#")
    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    sticky = {"start": DAYS[2], "end": DAYS[4], "add": 5, "reason": "promotion", "sticky": True, "expires": expires,
              "comment": "carried promo"}  # fmt: skip
    with stack.http() as http:
        r = _post(http, p, "B/2 ü#", sticky, {**p.key[1], "If-Match": tag})
        assert r.status_code == 201, r.text
        source = _listed(p, "B/2 ü#")[-1]

        # The next scheduled run: the tenant's schedule made due now and fired (cron rules fire on
        # demand on the local stack).
        schedule = {"cron": "0 3 * * *", "horizon": 7, "method": "naive", "levels": [80], "enabled": True}
        assert http.put(f"{F}/schedule", json=schedule, headers=tenant.headers).status_code == 200
        slot = "2020-01-01T03:00:00Z"
        table: Any = stack.aws_client("dynamodb")
        table.update_item(
            TableName=stack.describe()["resources"]["Table"],
            Key={"pk": {"S": f"CLIENT#{tenant.client_id}"}, "sk": {"S": "SCHEDULE"}},
            UpdateExpression="SET next_run_at = :slot, gsi1sk = :gsi",
            ExpressionAttributeValues={":slot": {"S": slot}, ":gsi": {"S": f"{slot}#{tenant.client_id}"}},
        )
        before = {r["run_id"] for r in http.get(f"{F}/runs", headers=tenant.headers).json()["items"]}
        fired = httpx.post(f"{stack.control}/schedules/SchedulerFunction.Reforecast/fire", timeout=120)
        assert fired.status_code == 200, fired.text
        [new] = [r for r in http.get(f"{F}/runs", headers=tenant.headers).json()["items"] if r["run_id"] not in before]
        assert new["trigger"] == "schedule"
        assert finish(tenant, new["run_id"], timeout=300)["status"] == "SUCCEEDED"

        carried, _ = _read(p, "B/2 ü#", new["run_id"])
        means = [pt["mean"] for pt in carried["forecast"]]
        assert means == [7.0] * 7  # the same history: the same statistical forecast
        assert [pt["final"] for pt in carried["forecast"]] == [7.0, 7.0, 12.0, 12.0, 12.0, 7.0, 7.0]
        assert carried["adjustments"] == 1
        [entry] = _listed(p, "B/2 ü#", new["run_id"])
        assert entry["carried_from"] == p.run_id and entry["adjustment_id"] == source["adjustment_id"]
        assert (entry["by"], entry["by_kind"], entry["comment"], entry["sticky"]) == (p.key[0], "api_key",
                                                                                     "carried promo", True)  # fmt: skip
        assert [c["after"] for c in entry["changes"]] == [12.0, 12.0, 12.0]
        plain, _ = _read(p, "A", new["run_id"])  # A's adjustments were not sticky: nothing carried
        assert all(pt["final"] == pt["mean"] for pt in plain["forecast"]) and _listed(p, "A", new["run_id"]) == []
        results = {"B/2 ü#": carried, "A": plain}
        for fmt in ("csv", "parquet"):
            _check_export(_export(http, p, new["run_id"], fmt), results)
