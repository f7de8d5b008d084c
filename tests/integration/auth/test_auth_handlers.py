"""/api/auth handlers and the authorizer, in-process, against moto built from template.yaml."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import boto3
import pytest
from argon2 import extract_parameters

from skucast import admin
from skucast.auth import passwords as passwords_module
from skucast.auth.passwords import salt_of
from skucast.auth.settings import get_auth_settings
from skucast.aws import table
from skucast.repositories.keys import LOOKUP_SK, email_identity_sk, email_lookup_pk, tenant_pk, user_sk
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


def test_given_an_email_of_another_client_when_signing_up_or_creating_a_user_then_201_and_409_only_within_one_client(
    api: Api,
) -> None:
    first = api.create_client("dup@example.com")
    second = api.create_client("DUP@example.com", password="another admin password")  # operator: 201
    user = {"email": "dup@example.com", "password": "a third password", "role": "viewer"}
    third = api.create_client("third-admin@example.com")
    third_admin = api.bearer("third-admin@example.com")
    created = api.call("POST", "/api/auth/users", user, third_admin)
    assert created.status == 201 and created.body["email"] == "dup@example.com", created.body
    again = api.call("POST", "/api/auth/users", {**user, "email": "Dup@Example.com"}, third_admin)
    assert again.status == 409 and "this client" in again.body["detail"], again.body  # its own users only

    # Each identity signs in with its own password, to its own client.
    for password, client in [
        ("admin password 1", first),
        ("another admin password", second),
        ("a third password", third),
    ]:
        me = api.call("GET", "/api/auth/me", headers=api.bearer("dup@example.com", password)).body
        assert me["client_id"] == client["client_id"], (password, me)
    assert api.login("dup@example.com", "no identity has this").status == 401


def _identity_to_schema_1(api: Api, email: str, client_id: str) -> None:
    """Rewrite an identity as before identities were per tenant: one LOOKUP item per e-mail."""
    pk = email_lookup_pk(hashlib.sha256(email.encode()).hexdigest())
    item = _table(api).get_item(Key={"pk": pk, "sk": email_identity_sk(client_id)})["Item"]
    _table(api).delete_item(Key={"pk": pk, "sk": email_identity_sk(client_id)})
    _table(api).put_item(
        Item={"pk": pk, "sk": LOOKUP_SK, "client_id": client_id, "user_id": item["user_id"]}
    )


def _password_hash(api: Api, client_id: str, user_id: str) -> str:
    return str(_table(api).get_item(Key={"pk": tenant_pk(client_id), "sk": user_sk(user_id)})["Item"]["password_hash"])


def test_given_a_schema_1_email_lookup_then_it_signs_in_stays_unique_in_its_client_and_shares_its_salt(
    api: Api,
) -> None:
    old = api.create_client("old@example.com")
    _identity_to_schema_1(api, "old@example.com", old["client_id"])
    old_admin = api.bearer("old@example.com")
    assert api.call("GET", "/api/auth/me", headers=old_admin).body["client_id"] == old["client_id"]
    # Still one identity per e-mail and client: the old item names this client.
    dup = {"email": "old@example.com", "password": "long enough", "role": "viewer"}
    assert api.call("POST", "/api/auth/users", dup, old_admin).status == 409

    other = api.create_client("other@example.com")
    created = api.call("POST", "/api/auth/users", dup, api.bearer("other@example.com"))
    assert created.status == 201, created.body
    assert salt_of(_password_hash(api, other["client_id"], created.body["user_id"])) == salt_of(
        _password_hash(api, old["client_id"], old["admin_user_id"])
    )
    me = api.call("GET", "/api/auth/me", headers=api.bearer("old@example.com", "long enough")).body
    assert me["client_id"] == other["client_id"]
    assert api.call("GET", "/api/auth/me", headers=api.bearer("old@example.com")).body["client_id"] == old["client_id"]


def test_given_one_email_and_password_in_two_clients_then_client_id_picks_and_without_it_the_same_401(
    api: Api,
) -> None:
    a = api.create_client("twice@example.com", password="one shared password")
    b = api.create_client("twice@example.com", password="one shared password")
    body = {"email": "twice@example.com", "password": "one shared password"}
    ambiguous = api.call("POST", "/api/auth/login", body)
    wrong = api.call("POST", "/api/auth/login", {**body, "password": "not it"})
    unknown = api.call("POST", "/api/auth/login", {**body, "email": "nobody@example.com"})
    assert ambiguous.status == wrong.status == unknown.status == 401
    assert ambiguous.body["detail"] == wrong.body["detail"] == unknown.body["detail"]
    assert "client_id" in ambiguous.body["detail"]
    for client in (a, b):
        pair = api.call("POST", "/api/auth/login", {**body, "client_id": client["client_id"]})
        assert pair.status == 200, pair.body
        me = api.call("GET", "/api/auth/me", headers={"Authorization": f"Bearer {pair.body['access_token']}"})
        assert me.body["client_id"] == client["client_id"]
        refreshed = api.call("POST", "/api/auth/refresh", {"refresh_token": pair.body["refresh_token"]})
        assert refreshed.status == 200
    # client_id only selects: a client without this e-mail, or a malformed id, is the same 401.
    c = api.create_client("c-admin@example.com")
    for client_id in (c["client_id"], "cli_0000", "#", "x" * 64):
        reply = api.call("POST", "/api/auth/login", {**body, "client_id": client_id})
        assert reply.status == 401 and reply.body["detail"] == wrong.body["detail"], (client_id, reply.body)


def test_given_an_email_in_one_or_many_clients_when_logging_in_then_one_argon2_computation_and_the_same_reads(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        api.create_client("many@example.com", password=f"password number {n}")
    api.create_client("single@example.com", password="password number 0")
    argon2_calls: list[str] = []
    raw, dummy = passwords_module.hash_secret_raw, passwords_module.Passwords.verify_dummy
    monkeypatch.setattr(passwords_module, "hash_secret_raw", lambda *a: argon2_calls.append("raw") or raw(*a))
    monkeypatch.setattr(
        passwords_module.Passwords, "verify_dummy", lambda s, p: argon2_calls.append("dummy") or dummy(s, p)
    )
    calls: list[str] = []
    events = table(api.provisioned.resources["Table"].ref).meta.client.meta.events  # what the repositories use
    events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name), unique_id="count")

    def login(email: str, password: str, expected: int) -> tuple[list[str], list[str]]:
        argon2_calls.clear()
        calls.clear()
        assert api.login(email, password).status == expected
        return list(argon2_calls), list(calls)

    try:
        many_wrong = login("many@example.com", "not a password of any", 401)
        single_wrong = login("single@example.com", "not a password of any", 401)
        many_right = login("many@example.com", "password number 1", 200)
        single_right = login("single@example.com", "password number 0", 200)
        unknown = login("nobody@example.com", "not a password of any", 401)
    finally:
        events.unregister("before-call.dynamodb", unique_id="count")
    assert many_wrong == single_wrong and many_right == single_right, (many_wrong, single_wrong)
    assert many_wrong[0] == many_right[0] == ["raw"] and unknown[0] == ["dummy"]
    assert many_wrong[1].count("Query") == many_wrong[1].count("BatchGetItem") == 1, many_wrong


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
