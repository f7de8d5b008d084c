"""Tenant isolation: every id-bearing tenant route answers 404 to another tenant's ids, and lists
never show another tenant's items. Routes come from template.yaml, so new ones are covered."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.e2e.conftest import RunningStack
from tests.e2e.routes import ID_SOURCES, SAMPLE_BODIES, Tenant, fill, id_routes, params, routes, store_sku


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


# ---------------------------------------------------------------- identities per tenant (#17)
def _me(http: httpx.Client, headers: dict[str, str]) -> dict[str, Any]:
    r = http.get("/api/auth/me", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _skus(http: httpx.Client, headers: dict[str, str]) -> set[str]:
    r = http.get("/api/v1/forecast/skus", headers=headers)
    assert r.status_code == 200, r.text
    return {item["sku"] for item in r.json()["items"]}


def test_given_b_admins_email_when_a_creates_a_user_with_it_then_a_fresh_emails_answer_and_each_sees_its_own(
    stack: RunningStack,
) -> None:
    with stack.http() as http:
        a, b = Tenant.sign_up(stack, http=http), Tenant.sign_up(stack, http=http)
        store_sku(a, "A-ONLY")
        store_sku(b, "B-ONLY")
        fresh = f"fresh-{uuid.uuid4().hex[:10]}@e2e.example"
        answers = [
            http.post("/api/auth/users", json={"email": email, "password": "a's own password", "role": "analyst"},
                      headers=a.headers)
            for email in (b.email, fresh)
        ]  # fmt: skip
        taken, new = answers
        assert taken.status_code == new.status_code == 201, (taken.text, new.text)
        assert taken.headers["content-type"] == new.headers["content-type"]
        assert taken.json().keys() == new.json().keys()
        assert (taken.json()["email"], taken.json()["role"]) == (b.email, "analyst")

        # Each identity signs in with its own password to its own tenant, and sees only its data.
        as_a = a.login(b.email, "a's own password")
        as_b = b.login(b.email, b.password)
        assert _me(http, as_a) == {**_me(http, as_a), "client_id": a.client_id, "role": "analyst"}
        assert _me(http, as_b) == {**_me(http, as_b), "client_id": b.client_id, "role": "admin"}
        assert _skus(http, as_a) == {"A-ONLY"} and _skus(http, as_b) == {"B-ONLY"}
        assert http.get("/api/v1/forecast/skus/B-ONLY", headers=as_a).status_code == 404
        assert http.get("/api/v1/forecast/skus/A-ONLY", headers=as_b).status_code == 404
        a_users = {u["user_id"] for u in http.get("/api/auth/users", headers=as_b).json()["items"]}
        assert a_users == {b.admin_user_id}  # B's list holds only B's user of that e-mail
        # A's admin still cannot create its own e-mail twice (it can list its users anyway).
        again = http.post("/api/auth/users", json={"email": b.email, "password": "long enough", "role": "viewer"},
                          headers=a.headers)  # fmt: skip
        assert again.status_code == 409 and b.client_id not in again.text


def _login(http: httpx.Client, email: str, password: str, **extra: str) -> httpx.Response:
    return http.post("/api/auth/login", json={"email": email, "password": password, **extra})


def _same_refusal(*replies: httpx.Response) -> None:
    first = replies[0]
    for r in replies:
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json", r.text
        assert {k: v for k, v in r.json().items() if k != "request_id"} == {
            k: v for k, v in first.json().items() if k != "request_id"
        }


def test_given_an_email_in_two_tenants_when_logging_in_wrongly_then_the_answer_of_an_unknown_email(
    stack: RunningStack,
) -> None:
    with stack.http() as http:
        a, b = Tenant.sign_up(stack, http=http), Tenant.sign_up(stack, http=http)
        body = {"email": a.email, "password": "b's identity of a's e-mail", "role": "viewer"}
        assert http.post("/api/auth/users", json=body, headers=b.headers).status_code == 201
        _same_refusal(
            _login(http, a.email, "not a password of either"),  # e-mail in two tenants
            _login(http, b.email, "not the password"),  # e-mail in one tenant
            _login(http, f"nobody-{uuid.uuid4().hex[:8]}@e2e.example", "not the password"),  # in none
            _login(http, a.email, a.password, client_id=b.client_id),  # a's password, b's identity
        )


def test_given_one_email_and_password_in_two_tenants_then_client_id_picks_and_without_it_the_same_401(
    stack: RunningStack,
) -> None:
    with stack.http() as http:
        a, b = Tenant.sign_up(stack, http=http), Tenant.sign_up(stack, http=http)
        email, password = f"consultant-{uuid.uuid4().hex[:10]}@e2e.example", "one password, two clients"
        for tenant, role in ((a, "analyst"), (b, "viewer")):
            body = {"email": email, "password": password, "role": role}
            assert http.post("/api/auth/users", json=body, headers=tenant.headers).status_code == 201

        ambiguous = _login(http, email, password)
        _same_refusal(ambiguous, _login(http, email, "not the password"))
        assert "client_id" in ambiguous.json()["detail"]
        for tenant, role in ((a, "analyst"), (b, "viewer")):
            pair = _login(http, email, password, client_id=tenant.client_id)
            assert pair.status_code == 200, pair.text
            headers = {"Authorization": f"Bearer {pair.json()['access_token']}"}
            assert _me(http, headers) == {**_me(http, headers), "client_id": tenant.client_id, "role": role}
            # Refresh and logout are unchanged.
            refreshed = http.post("/api/auth/refresh", json={"refresh_token": pair.json()["refresh_token"]})
            assert refreshed.status_code == 200, refreshed.text
            logout = http.post("/api/auth/logout", json={"refresh_token": refreshed.json()["refresh_token"]})
            assert logout.status_code == 204
            assert http.get("/api/auth/me", headers=headers).status_code == 401
