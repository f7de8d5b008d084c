"""/api/auth handlers and the authorizer, in-process, against moto built from template.yaml."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from argon2 import extract_parameters

from skucast import admin
from skucast.auth.settings import get_auth_settings
from skucast.repositories.keys import tenant_pk, user_sk
from tests.integration.auth.conftest import Api
from tests.integration.conftest import SERVICE_KEY


def _table(api: Api) -> Any:
    return boto3.resource("dynamodb", region_name="us-east-1").Table(api.provisioned.resources["Table"].ref)


def test_given_the_operator_when_creating_a_client_then_its_usage_key_sits_in_the_tier_plan(api: Api) -> None:
    created = api.create_client("owner@free.example", tier="free")
    apigw = boto3.client("apigateway", region_name="us-east-1")
    (plan,) = [p for p in apigw.get_usage_plans()["items"] if p["name"] == "skucast-local-free"]
    values = {k["value"] for k in apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]}
    profile = _table(api).get_item(Key={"pk": tenant_pk(created["client_id"]), "sk": "PROFILE"})["Item"]
    assert profile["usage_key"] in values
    assert created["tier"] == "free" and created["admin_user_id"].startswith("usr_")


@pytest.mark.parametrize("key", [None, "wrong", SERVICE_KEY + "x"])
def test_given_no_operator_key_when_creating_a_client_then_401(api: Api, key: str | None) -> None:
    body = {"name": "x", "admin_email": "x@x.example", "admin_password": "long enough"}
    reply = api.call("POST", "/api/auth/clients", body, {"X-Service-Key": key} if key else {})
    assert reply.status == 401 and reply.headers["content-type"] == "application/problem+json"


def test_given_a_registered_email_when_creating_a_client_or_user_then_409_and_no_orphan_key(api: Api) -> None:
    api.create_client("dup@example.com")
    apigw = boto3.client("apigateway", region_name="us-east-1")
    keys_before = len(apigw.get_api_keys()["items"])
    body = {"name": "again", "admin_email": "DUP@example.com", "admin_password": "long enough"}
    assert api.call("POST", "/api/auth/clients", body, {"X-Service-Key": SERVICE_KEY}).status == 409
    assert len(apigw.get_api_keys()["items"]) == keys_before
    admin_headers = api.bearer("dup@example.com")
    user = {"email": "dup@example.com", "password": "long enough", "role": "viewer"}
    assert api.call("POST", "/api/auth/users", user, admin_headers).status == 409


def test_given_an_analyst_when_creating_a_user_then_403(api: Api) -> None:
    api.create_client("admin@roles.example")
    admin_headers = api.bearer("admin@roles.example")
    analyst = {"email": "analyst@roles.example", "password": "analyst password", "role": "analyst"}
    assert api.call("POST", "/api/auth/users", analyst, admin_headers).status == 201
    analyst_headers = api.bearer("analyst@roles.example", "analyst password")
    other = {"email": "x@roles.example", "password": "long enough", "role": "viewer"}
    reply = api.call("POST", "/api/auth/users", other, analyst_headers)
    assert reply.status == 403 and reply.body["title"] == "Forbidden"
    assert api.call("GET", "/api/auth/me", headers=analyst_headers).body["role"] == "analyst"


def test_given_a_viewer_api_key_when_creating_an_api_key_then_403(api: Api) -> None:
    api.create_client("admin@keys.example")
    admin_headers = api.bearer("admin@keys.example")
    key = api.call("POST", "/api/auth/api-keys", {"name": "dash", "role": "viewer"}, admin_headers).body
    viewer = {"X-Api-Key": key["api_key"]}
    assert api.call("GET", "/api/auth/me", headers=viewer).body["kind"] == "api_key"
    assert api.call("POST", "/api/auth/api-keys", {"name": "x", "role": "viewer"}, viewer).status == 403
    assert api.call("GET", "/api/auth/api-keys", headers=viewer).status == 403


def test_given_two_concurrent_refreshes_of_one_token_then_at_most_one_wins(api: Api) -> None:
    api.create_client("race@example.com")
    pair = api.login("race@example.com").body
    barrier, results = threading.Barrier(2), []

    def refresh() -> None:
        barrier.wait()
        results.append(api.call("POST", "/api/auth/refresh", {"refresh_token": pair["refresh_token"]}))

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status for r in results).count(200) <= 1
    assert all(r.status in (200, 401) for r in results)


def test_given_a_rotated_refresh_token_when_replayed_then_the_whole_login_is_revoked(api: Api) -> None:
    api.create_client("replay@example.com")
    first = api.login("replay@example.com").body
    second = api.call("POST", "/api/auth/refresh", {"refresh_token": first["refresh_token"]}).body
    me = {"Authorization": f"Bearer {second['access_token']}"}
    assert api.call("GET", "/api/auth/me", headers=me).status == 200
    assert api.call("POST", "/api/auth/refresh", {"refresh_token": first["refresh_token"]}).status == 401
    assert api.call("POST", "/api/auth/refresh", {"refresh_token": second["refresh_token"]}).status == 401
    assert api.call("GET", "/api/auth/me", headers=me).status == 401  # access tokens of that login too


def test_given_logout_then_refresh_and_access_tokens_of_that_login_stop(api: Api) -> None:
    api.create_client("bye@example.com")
    pair = api.login("bye@example.com").body
    other_login = api.bearer("bye@example.com")
    assert api.call("POST", "/api/auth/logout", {"refresh_token": pair["refresh_token"]}).status == 204
    assert api.call("POST", "/api/auth/refresh", {"refresh_token": pair["refresh_token"]}).status == 401
    assert api.call("GET", "/api/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"}).status == 401
    assert api.call("GET", "/api/auth/me", headers=other_login).status == 200  # only that login
    assert api.call("POST", "/api/auth/logout", {"refresh_token": "rt_unknown"}).status == 204


def test_given_repeated_failures_when_logging_in_then_429_with_retry_after_per_email_and_per_ip(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.create_client("victim@example.com")
    for _ in range(5):
        assert api.login("victim@example.com", "wrong password", source_ip="203.0.113.1").status == 401
    throttled = api.login("victim@example.com", source_ip="203.0.113.2")  # right password, other IP
    assert throttled.status == 429
    assert 1 <= int(throttled.headers["retry-after"]) <= get_auth_settings().login_window_seconds
    # Unknown e-mail and wrong password: the same answer.
    unknown = api.login("nobody@example.com", "wrong password", source_ip="203.0.113.3")
    wrong = api.login("victim2@example.com", "wrong password", source_ip="203.0.113.3")
    assert unknown.status == wrong.status == 401 and unknown.body["detail"] == wrong.body["detail"]

    monkeypatch.setenv("SKUCAST_LOGIN_MAX_FAILURES_PER_IP", "3")
    get_auth_settings.cache_clear()
    api.create_client("bystander@example.com")
    for i in range(3):
        assert api.login(f"spray{i}@example.com", "x", source_ip="203.0.113.9").status == 401
    assert api.login("bystander@example.com", source_ip="203.0.113.9").status == 429
    assert api.login("bystander@example.com", source_ip="203.0.113.10").status == 200


def test_given_stronger_parameters_when_logging_in_then_the_hash_is_upgraded(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = api.create_client("rehash@example.com")
    key = {"pk": tenant_pk(created["client_id"]), "sk": user_sk(created["admin_user_id"])}
    assert extract_parameters(_table(api).get_item(Key=key)["Item"]["password_hash"]).memory_cost == 8
    monkeypatch.setenv("SKUCAST_PASSWORD_MEMORY_KIB", "16")
    get_auth_settings.cache_clear()
    assert api.login("rehash@example.com").status == 200
    assert extract_parameters(_table(api).get_item(Key=key)["Item"]["password_hash"]).memory_cost == 16
    assert api.login("rehash@example.com").status == 200


def test_given_the_admin_command_when_rotating_then_two_keys_publish_and_old_tokens_still_verify(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    api.create_client("rotate@example.com")
    before = api.bearer("rotate@example.com")
    secret = api.provisioned.resources["SigningKeysSecret"].ref
    assert admin.main(["rotate-signing-key", "--secret-id", secret, "--overlap-seconds", "3600"]) == 0
    assert "signs" in capsys.readouterr().out
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()  # as a new container would see it
    assert len(api.call("GET", "/api/auth/jwks.json").body["keys"]) == 2
    assert api.call("GET", "/api/auth/me", headers=before).status == 200
    assert api.call("GET", "/api/auth/me", headers=api.bearer("rotate@example.com")).status == 200


def test_given_many_users_when_listing_then_pages_follow_the_cursor(api: Api) -> None:
    api.create_client("pages@example.com")
    headers = api.bearer("pages@example.com")
    for i in range(4):
        body = {"email": f"u{i}@pages.example", "password": "long enough", "role": "viewer"}
        assert api.call("POST", "/api/auth/users", body, headers).status == 201
    seen, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        event_path = "/api/auth/users"
        page = _get_with_query(api, event_path, query, headers)
        seen += [u["email"] for u in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 and len(set(seen)) == 5
    assert _get_with_query(api, "/api/auth/users", "?cursor=garbage", headers, status=400)
    assert _get_with_query(api, "/api/auth/users", "?limit=0", headers, status=422)
    assert _get_with_query(api, "/api/auth/users", "?limit=1001", headers, status=422)


def _get_with_query(api: Api, path: str, query: str, headers: dict[str, str], status: int = 200) -> Any:
    from urllib.parse import parse_qsl

    from auth_api import app as app_module

    params = dict(parse_qsl(query.lstrip("?")))
    original = app_module.handler

    def with_query(event: dict[str, Any], context: Any) -> dict[str, Any]:
        event["queryStringParameters"] = params
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in params.items()}
        return original(event, context)

    app_module.handler = with_query
    try:
        reply = api.call("GET", path, headers=headers)
    finally:
        app_module.handler = original
    assert reply.status == status, reply.body
    return reply.body
