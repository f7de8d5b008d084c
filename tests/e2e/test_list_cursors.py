"""Every list route over real HTTP: its own next_cursor pages on, and a cursor it did not issue -
garbage, too long, nested past the JSON parser's depth, another list's, another run's results' -
is the same 400 problem on every route (skucast/pagination.py).

The list routes are every GET of the OpenAPI document with a `cursor` parameter, so a new list
route fails here until LIST_SOURCES gives it items to page through.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

from tests.conftest import ROOT
from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant, create_upload, schedule_missed_alert

F = "/api/v1/forecast"
OPENAPI = ROOT / "functions" / "forecast_api" / "forecast_api" / "openapi.json"
SKUS = ["CUR-A", "CUR-B", "CUR-C"]
PROBLEM_FIELDS = ("type", "title", "status", "detail")


def list_routes() -> set[str]:
    paths = json.loads(OPENAPI.read_text(encoding="utf-8"))["paths"]
    return {
        path
        for path, operations in paths.items()
        if any(p["name"] == "cursor" and p["in"] == "query" for p in operations.get("get", {}).get("parameters", []))
    }


def _finished_run(tenant: Tenant, hierarchy: str | None = None) -> str:
    body: dict[str, Any] = {"horizon": 3, "method": "naive", "backtest_windows": 0, "levels": [80], "skus": SKUS}
    if hierarchy:
        body["hierarchy"] = hierarchy
    r = tenant.http.post(f"{F}/runs", json=body, headers=tenant.headers)
    assert r.status_code == 202, r.text
    run_id = str(r.json()["run_id"])
    _wait_succeeded(tenant, run_id)
    return run_id


def _wait_succeeded(tenant: Tenant, run_id: str) -> None:
    deadline = time.monotonic() + 180
    while tenant.http.get(f"{F}/runs/{run_id}", headers=tenant.headers).json()["status"] != "SUCCEEDED":
        assert time.monotonic() < deadline, "run did not finish"
        time.sleep(0.3)


def _setup(tenant: Tenant) -> tuple[dict[str, str], str]:
    """At least two items in every list; returns each list route's URL and a second run's id."""
    records = [{"sku": s, "date": "2024-01-01", "quantity": 1 + i} for i, s in enumerate(SKUS)]
    r = tenant.http.post(f"{F}/demand", json={"records": records}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    # The first run has a hierarchy (total and two categories): its nodes are a list too.
    attributes = [{"sku": s, "attributes": {"category": "odd" if i % 2 else "even"}} for i, s in enumerate(SKUS)]
    r = tenant.http.post(f"{F}/attributes", json={"records": attributes}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    r = tenant.http.put(f"{F}/hierarchies/cur", json={"levels": ["category"]}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    run_id, other_run_id = _finished_run(tenant, "cur"), _finished_run(tenant)
    create_upload(tenant)
    tenant.create_user("viewer")
    tenant.create_api_key()
    tenant.create_api_key()
    result = f"{F}/runs/{run_id}/results/{SKUS[0]}"
    for value in (1, 2):  # two adjustments of one result
        tag = tenant.http.get(result, headers=tenant.headers).headers["etag"]
        body = {"start": "2024-01-02", "end": "2024-01-02", "add": value, "reason": "other"}
        r = tenant.http.post(f"{result}/adjustments", json=body, headers={**tenant.headers, "If-Match": tag})
        assert r.status_code == 201, r.text
    # Actuals for the runs' first forecast day: the tenant's accuracy lists both runs.
    records = [{"sku": s, "date": "2024-01-02", "quantity": 2} for s in SKUS]
    r = tenant.http.post(f"{F}/demand", json={"records": records}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    for slot in ("2020-01-01T03:00:00Z", "2021-01-01T03:00:00Z"):  # two alerts (two skipped stretches)
        schedule_missed_alert(tenant, slot)
    urls = {route: route.replace("{run_id}", run_id).replace("{sku}", SKUS[0]) for route in LIST_SOURCES}
    # A scenario of the first run: its comparison with its base (the default `to`) lists the SKUs.
    r = tenant.http.post(f"{F}/runs", json={"scenario": {"base_run_id": run_id}}, headers=tenant.headers)
    assert r.status_code == 202, r.text
    scenario_id = str(r.json()["run_id"])
    _wait_succeeded(tenant, scenario_id)
    urls[f"{F}/runs/{{run_id}}/compare"] = f"{F}/runs/{scenario_id}/compare"
    return urls, other_run_id


# Every list route (OpenAPI path) this test pages through; _setup gives each two items or more.
LIST_SOURCES: set[str] = {
    "/api/auth/api-keys",
    f"{F}/alerts",
    "/api/auth/users",
    f"{F}/accuracy",
    f"{F}/runs",
    f"{F}/runs/{{run_id}}/nodes",
    f"{F}/runs/{{run_id}}/results",
    f"{F}/runs/{{run_id}}/compare",
    f"{F}/runs/{{run_id}}/results/{{sku}}/adjustments",
    f"{F}/skus",
    f"{F}/uploads",
}


def _cursor_of(tenant: Tenant, url: str) -> str:
    r = tenant.http.get(url, params={"limit": 1}, headers=tenant.headers)
    assert r.status_code == 200, (url, r.text)
    assert r.json()["next_cursor"], (url, r.json())
    return str(r.json()["next_cursor"])


def test_given_every_list_route_then_its_cursor_pages_on_and_any_other_cursor_is_the_same_400(
    stack: RunningStack,
) -> None:
    assert list_routes() == LIST_SOURCES, "a list route without a source here (or one that went away)"
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        urls, other_run_id = _setup(tenant)
        cursors = {route: _cursor_of(tenant, url) for route, url in urls.items()}
        other_results = _cursor_of(tenant, f"{F}/runs/{other_run_id}/results")

        for route, url in urls.items():
            r = http.get(url, params={"limit": 1, "cursor": cursors[route]}, headers=tenant.headers)
            assert r.status_code == 200, (route, r.text)

        forged: dict[str, Callable[[str], str]] = {
            "garbage": lambda route: "garbage",
            "not base64": lambda route: "%%%",
            "too long": lambda route: "A" * 3000,
            "nested": lambda route: base64.urlsafe_b64encode(b"[" * 1500).decode(),
            "no list": lambda route: base64.urlsafe_b64encode(b'{"after":"CUR-A"}').decode().rstrip("="),
        }
        problems: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        for route, url in urls.items():
            bad = {name: make(route) for name, make in forged.items()}
            bad |= {f"cursor of {other}": c for other, c in cursors.items() if other != route}
            if "{run_id}" in route:
                bad["cursor of another run's results"] = other_results
            for name, cursor in bad.items():
                r = http.get(url, params={"limit": 1, "cursor": cursor}, headers=tenant.headers)
                assert r.headers["content-type"].startswith("application/problem+json"), (route, name, r.text)
                problems[(route, name)] = (r.status_code, r.json())

        answers = {(status, tuple(body.get(f) for f in PROBLEM_FIELDS)) for status, body in problems.values()}
        assert len(answers) == 1, {k: v for k, v in problems.items()}
        status, fields = answers.pop()
        assert status == 400 and fields[2] == 400 and fields[0].endswith("/bad-request"), fields
        of_a_run = sum(1 for route in LIST_SOURCES if "{run_id}" in route)
        assert len(problems) == len(LIST_SOURCES) * (len(forged) + len(LIST_SOURCES) - 1) + of_a_run
