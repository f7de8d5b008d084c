"""Tenant isolation beyond "404 to another tenant's ids" (test_auth_isolation.py):

- every id-bearing route and method, driven from template.yaml: B with A's ids gets exactly what
  B gets for ids that do not exist (404, no oracle), by bearer token and by API key, with or
  without tenant hints; afterwards A's data is unchanged (every GET of A answers the same
  bytes, A's API key still works, A's run was not cancelled);
- ids and SKU names that are prefixes of each other across tenants that need URL encoding
  (S1 / S10: "/", space, unicode, comma, quote, "%", "#");
- lists and exports never carry the other tenant's items;
- tenant fields in bodies are refused (422), in headers and queries ignored: the request acts
  on the caller's tenant only.
"""

from __future__ import annotations

import csv
import io
import secrets
import time
from typing import Any
from urllib.parse import quote

import httpx

from tests.e2e.conftest import RunningStack
from tests.e2e.routes import ID_SOURCES, SAMPLE_BODIES, Tenant, fill, id_routes, params, routes

F = "/api/v1/forecast"
FINISHED = {"SUCCEEDED", "PARTIAL", "FAILED", "CANCELLED"}
NONEXISTENT = {
    "alert_id": "alert_" + "0" * 20,
    "key_id": "key_" + "0" * 20,
    "run_id": "run_" + "0" * 20,
    "upload_id": "upl_" + "0" * 20,
    "sku": "SKU NOT/STORED %#日本",
    "name": "no_such_driver",
    "node_id": "n_" + "0" * 24,
}


def _finish(tenant: Tenant, run_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = tenant.http.get(f"{F}/runs/{run_id}", headers=tenant.headers).json()
        if run["status"] in FINISHED:
            return dict(run)
        assert time.monotonic() < deadline, run
        time.sleep(0.3)


def _hints(tenant: Tenant) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and query parameters naming `tenant`, as a confused or hostile client might."""
    cid = tenant.client_id
    headers = {"X-Client-Id": cid, "X-Tenant-Id": cid, "X-Amzn-Principal-Id": cid, "client_id": cid}
    return headers, {"client_id": cid, "tenant": cid, "tenant_id": cid}


def _get_answers(tenant: Tenant, urls: list[str]) -> dict[str, tuple[int, str]]:
    answers = {}
    for url in urls:
        r = tenant.http.get(url, headers=tenant.headers)
        answers[url] = (r.status_code, r.text)
    return answers


def test_given_a_ids_on_every_id_route_and_method_then_b_cannot_tell_them_from_none_and_a_is_unchanged(
    stack: RunningStack,
) -> None:
    with stack.http() as http:
        a, b = Tenant.sign_up(stack, http=http), Tenant.sign_up(stack, http=http)
        covered = id_routes()
        missing = {p for r in covered for p in params(r)} - ID_SOURCES.keys() - {"key_id"}
        assert not missing, f"add an id source to tests/e2e/routes.py ID_SOURCES for {sorted(missing)}"
        assert set(NONEXISTENT) >= {p for r in covered for p in params(r)}, "add a made-up id to NONEXISTENT"
        a_key = a.create_api_key("analyst")  # its secret, to prove it still works afterwards
        values = {p: ID_SOURCES[p](a) for r in covered for p in params(r) if p != "key_id"}
        values["key_id"] = a_key["key_id"]
        _finish(a, values["run_id"])
        b_key = {"X-Api-Key": b.create_api_key("analyst")["api_key"]}
        hint_headers, hint_query = _hints(a)

        # Everything A can read, before.
        a_urls = [fill(r, values) for r in covered if r.method == "GET"]
        a_urls += [r.path for r in routes() if r.authorizer and r.method == "GET" and "{" not in r.path]
        before = _get_answers(a, a_urls)
        assert all(status == 200 for status, _ in before.values()), before

        for route in covered:
            body = SAMPLE_BODIES.get((route.method, route.path))
            for credential in (b.headers, b_key):
                for extra_headers, query in (({}, {}), (hint_headers, hint_query)):
                    headers = {**credential, **extra_headers}
                    theirs, nobodys = (
                        http.request(route.method, fill(route, ids), headers=headers, params=query, json=body)
                        for ids in (values, NONEXISTENT)
                    )
                    kind = "key" if credential is b_key else "bearer"
                    where = f"{route.method} {route.path} ({kind}, hints={bool(query)})"
                    assert theirs.status_code == nobodys.status_code, (where, theirs.text, nobodys.text)
                    # 404; an analyst key on an admin route: 403, whatever the id.
                    expected = {404} if credential is b.headers else {403, 404}
                    assert theirs.status_code in expected, (where, theirs.status_code)
                    assert theirs.headers["content-type"] == "application/problem+json", where
                    assert not any(v in theirs.text for v in values.values()), (where, theirs.text)

        # Everything A can read, after: the same bytes (request ids aside, none are in 200s).
        assert _get_answers(a, a_urls) == before
        assert http.get("/api/auth/me", headers={"X-Api-Key": a_key["api_key"]}).status_code == 200

        # A run of A that is still QUEUED or RUNNING when B tries to cancel it is not cancelled.
        busy = http.post(f"{F}/runs", json={"horizon": 7, "skus": [values["sku"]]}, headers=a.headers).json()
        assert http.post(f"{F}/runs/{busy['run_id']}/cancel", headers=b.headers).status_code == 404
        assert _finish(a, busy["run_id"])["status"] in ("SUCCEEDED", "PARTIAL")


# SKU names that are prefixes of each other and need URL encoding in a path.
S1, S10 = 'SKU 1/日本茶,"%#', 'SKU 1/日本茶,"%#0'


def _post_demand(tenant: Tenant, sku: str, quantity: int, days: int = 30) -> None:
    records = [{"sku": sku, "date": f"2024-03-{d + 1:02d}", "quantity": quantity} for d in range(days)]
    r = tenant.http.post(f"{F}/demand", json={"records": records}, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["status"] == "SUCCEEDED", r.text


def _export(tenant: Tenant, run_id: str) -> list[dict[str, str]]:
    r = tenant.http.post(f"{F}/runs/{run_id}/export", json={"format": "csv"}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    got = httpx.get(r.json()["url"], timeout=60)
    assert got.status_code == 200, got.text
    return list(csv.DictReader(io.StringIO(got.text)))


def test_given_ids_and_skus_that_are_prefixes_across_tenants_then_each_sees_only_its_own(
    stack: RunningStack,
) -> None:
    with stack.http() as http:
        a, b = Tenant.sign_up(stack, http=http), Tenant.sign_up(stack, http=http)
        _post_demand(a, S1, 7)
        _post_demand(b, S10, 300)

        assert http.get(f"{F}/skus/{quote(S1, safe='')}", headers=a.headers).status_code == 200
        for tenant, other_sku in ((b, S1), (a, S10)):
            for path in (f"{F}/skus/{quote(other_sku, safe='')}", f"{F}/skus/{quote(other_sku, safe='')}/demand"):
                assert http.get(path, headers=tenant.headers).status_code == 404, (path, tenant.client_id)
        assert [s["sku"] for s in http.get(f"{F}/skus", headers=a.headers).json()["items"]] == [S1]
        assert [s["sku"] for s in http.get(f"{F}/skus", headers=b.headers).json()["items"]] == [S10]

        body = {"horizon": 3, "method": "naive", "backtest_windows": 0, "levels": [80]}
        run_a = http.post(f"{F}/runs", json={**body, "skus": [S1, S10]}, headers=a.headers).json()
        run_b = http.post(f"{F}/runs", json={**body, "skus": [S1, S10]}, headers=b.headers).json()
        assert _finish(a, run_a["run_id"])["status"] == "PARTIAL"
        assert _finish(b, run_b["run_id"])["status"] == "PARTIAL"

        # Each tenant's forecast is its own last quantity (naive); the other's SKU is unknown.
        def results(tenant: Tenant, run_id: str) -> dict[str, Any]:
            page = http.get(f"{F}/runs/{run_id}/results", params={"limit": 1000}, headers=tenant.headers).json()
            return {r["sku"]: r for r in page["items"]}

        got_a, got_b = results(a, run_a["run_id"]), results(b, run_b["run_id"])
        assert {p["mean"] for p in got_a[S1]["forecast"]} == {7}
        assert got_a[S10]["error"]["code"] == "unknown_sku"
        assert {p["mean"] for p in got_b[S10]["forecast"]} == {300}
        assert got_b[S1]["error"]["code"] == "unknown_sku"

        # Run ids one character off another tenant's are nobody's.
        rid = run_a["run_id"]
        for near in (rid[:-1], rid + "0", rid[:-1] + ("0" if rid[-1] != "0" else "1"), rid.upper()):
            assert http.get(f"{F}/runs/{near}", headers=b.headers).status_code == 404, near

        # Exports: only the exporting tenant's rows and numbers.
        rows_a, rows_b = _export(a, run_a["run_id"]), _export(b, run_b["run_id"])
        assert {float(r["mean"]) for r in rows_a if r["mean"]} == {7.0}
        assert {float(r["mean"]) for r in rows_b if r["mean"]} == {300.0}
        assert {r["sku"] for r in rows_a} == {r["sku"] for r in rows_b} == {S1, S10}
        assert {r["error"] for r in rows_a if r["sku"] == S10} == {"unknown_sku"}
        assert {r["error"] for r in rows_b if r["sku"] == S1} == {"unknown_sku"}
        # B's run in A's name, by id: nothing.
        assert (
            http.post(f"{F}/runs/{run_b['run_id']}/export", json={"format": "csv"}, headers=a.headers).status_code
            == 404
        )


def test_given_tenant_fields_in_bodies_headers_and_queries_then_refused_or_ignored(stack: RunningStack) -> None:
    with stack.http() as http:
        a, b = Tenant.sign_up(stack, http=http), Tenant.sign_up(stack, http=http)
        _post_demand(a, "SKU-A", 5)
        hint_headers, hint_query = _hints(a)
        for field in ("client_id", "tenant", "tenant_id"):
            for method, path, body in (
                ("POST", f"{F}/runs", {"horizon": 7}),
                ("POST", f"{F}/uploads", {"filename": "x.csv"}),
                ("POST", f"{F}/demand", {"records": []}),
                ("PUT", f"{F}/schedule", {"cron": "0 3 * * *", "horizon": 7}),
                (
                    "POST",
                    "/api/auth/users",
                    {"email": f"u-{secrets.token_hex(4)}@e2e.example", "password": "long enough", "role": "viewer"},
                ),
                ("POST", "/api/auth/api-keys", {"name": "k", "role": "viewer"}),
            ):
                r = http.request(method, path, json={**body, field: a.client_id}, headers=b.headers)
                problem = r.json()
                assert r.status_code == 422, (method, path, field, r.text)
                assert any(e["field"] == field for e in problem["errors"]), problem

        # Headers and queries naming A: B acts as B.
        headers = {**b.headers, **hint_headers}
        me = http.get("/api/auth/me", headers=headers, params=hint_query).json()
        assert me["client_id"] == b.client_id
        run = http.post(f"{F}/runs", json={"horizon": 7, "skus": ["SKU-A"]}, headers=headers, params=hint_query)
        assert run.status_code == 202, run.text
        run_id = run.json()["run_id"]
        key = http.post("/api/auth/api-keys", json={"name": "k", "role": "viewer"}, headers=headers, params=hint_query)
        assert http.get("/api/auth/me", headers={"X-Api-Key": key.json()["api_key"]}).json()["client_id"] == b.client_id
        demand = {"records": [{"sku": "SKU-B", "date": "2024-03-01", "quantity": 1, "client_id": a.client_id}]}
        http.post(f"{F}/demand", json=demand, headers=headers, params=hint_query)  # a row error or B's SKU
        for path in (f"{F}/runs", f"{F}/skus", f"{F}/uploads", "/api/auth/api-keys", "/api/auth/users"):
            listed_a = http.get(path, headers=a.headers, params={"limit": 1000}).text
            listed_b = http.get(path, headers=headers, params={**hint_query, "limit": 1000}).text
            assert run_id not in listed_a and "SKU-B" not in listed_a and key.json()["key_id"] not in listed_a, path
            assert "SKU-A" not in listed_b and a.admin_user_id not in listed_b, path
        assert run_id in http.get(f"{F}/runs", headers=b.headers).text
        # B's run over "SKU-A" found no such SKU in B's store.
        assert _finish(b, run_id)["progress"] == {"skus_total": 1, "skus_done": 0, "skus_failed": 1}
