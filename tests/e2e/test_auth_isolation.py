"""Tenant isolation: every id-bearing tenant route answers 404 to another tenant's ids, and lists
never show another tenant's items. Routes come from template.yaml, so new ones are covered."""

from __future__ import annotations

from tests.e2e.conftest import RunningStack
from tests.e2e.routes import ID_SOURCES, SAMPLE_BODIES, Tenant, fill, id_routes, params, routes


def test_given_tenant_a_ids_when_tenant_b_uses_them_on_every_id_route_then_404(stack: RunningStack) -> None:
    with stack.http() as http:
        a, b = Tenant.sign_up(stack, http=http), Tenant.sign_up(stack, http=http)
        covered = id_routes()
        assert ("DELETE", "/api/auth/api-keys/{key_id}") in {(r.method, r.path) for r in covered}
        missing = {p for r in covered for p in params(r)} - ID_SOURCES.keys()
        assert not missing, f"add an id source to tests/e2e/routes.py ID_SOURCES for {sorted(missing)}"
        for route in covered:
            values = {p: ID_SOURCES[p](a) for p in params(route)}
            body = SAMPLE_BODIES.get((route.method, route.path))
            r = http.request(route.method, fill(route, values), headers=b.headers, json=body)
            assert r.status_code == 404, f"{route.method} {route.path} with A's ids answered B {r.status_code}"
            assert r.headers["content-type"] == "application/problem+json"
            for value in values.values():
                assert value not in r.text

        # B's DELETE did not touch A's key: it still works.
        key = a.create_api_key("viewer")
        assert http.delete(f"/api/auth/api-keys/{key['key_id']}", headers=b.headers).status_code == 404
        assert http.get("/api/auth/me", headers={"X-Api-Key": key["api_key"]}).status_code == 200


def test_given_two_tenants_when_b_lists_anything_then_nothing_of_a_shows(stack: RunningStack) -> None:
    with stack.http() as http:
        a, b = Tenant.sign_up(stack, http=http), Tenant.sign_up(stack, http=http)
        a.create_user("analyst")
        a.create_api_key("viewer")
        b.create_user("viewer")
        b.create_api_key("analyst")
        lists = [r for r in routes() if r.authorizer and r.method == "GET" and "{" not in r.path]
        assert ("GET", "/api/auth/users") in {(r.method, r.path) for r in lists}
        for route in lists:
            for limit in ("1", "1000"):
                r = http.get(route.path, params={"limit": limit}, headers=b.headers)
                assert r.status_code == 200, (route.path, r.text)
                leaked = {i for i in a.created_ids if i in r.text}
                assert not leaked, f"GET {route.path} shows A's {leaked} to B"
        users = http.get("/api/auth/users", headers=b.headers).json()["items"]
        assert {u["user_id"] for u in users} <= b.created_ids
