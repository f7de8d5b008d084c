"""Tenancy and authentication over the local stack's real HTTP (gateway, authorizer, usage plans)."""

from __future__ import annotations

from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant


def test_given_two_clients_when_each_admin_works_then_users_and_api_keys_behave(stack: RunningStack) -> None:
    with stack.http() as http:
        for tenant in (Tenant.sign_up(stack, http=http), Tenant.sign_up(stack, http=http)):
            me = http.get("/api/auth/me", headers=tenant.headers)
            assert me.status_code == 200, me.text
            assert me.json() == {
                "user_id": tenant.admin_user_id,
                "email": tenant.email,
                "client_id": tenant.client_id,
                "role": "admin",
                "kind": "user",
                "key_id": None,
            }
            analyst, _ = tenant.create_user("analyst")
            assert analyst["role"] == "analyst"
            key = tenant.create_api_key("analyst")
            assert key["api_key"].startswith("sk_") and set(key) == {
                "key_id", "name", "role", "api_key", "created_at",
            }  # fmt: skip
            listed = http.get("/api/auth/api-keys", headers=tenant.headers).json()["items"]
            assert [k["key_id"] for k in listed] == [key["key_id"]]
            assert "api_key" not in listed[0] and key["api_key"] not in str(listed)

            as_key = {"X-Api-Key": key["api_key"]}
            who = http.get("/api/auth/me", headers=as_key)
            assert who.status_code == 200
            assert who.json()["client_id"] == tenant.client_id and who.json()["kind"] == "api_key"

            deleted = http.delete(f"/api/auth/api-keys/{key['key_id']}", headers=tenant.headers)
            assert deleted.status_code == 204
            refused = http.get("/api/auth/me", headers=as_key)
            assert refused.status_code == 401
            assert refused.headers["content-type"] == "application/problem+json"
            again = http.delete(f"/api/auth/api-keys/{key['key_id']}", headers=tenant.headers)
            assert again.status_code == 404


def test_given_a_refresh_token_when_rotated_and_then_replayed_then_the_whole_login_dies(
    stack: RunningStack,
) -> None:
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        first = http.post("/api/auth/login", json={"email": tenant.email, "password": tenant.password}).json()
        second = http.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert second.status_code == 200, second.text
        newer = second.json()
        assert newer["token_type"] == "Bearer" and newer["expires_in"] == 900
        assert newer["refresh_token"] != first["refresh_token"]
        bearer = {"Authorization": f"Bearer {newer['access_token']}"}
        assert http.get("/api/auth/me", headers=bearer).status_code == 200

        replay = http.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert replay.status_code == 401 and replay.headers["content-type"] == "application/problem+json"
        assert http.post("/api/auth/refresh", json={"refresh_token": newer["refresh_token"]}).status_code == 401
        assert http.get("/api/auth/me", headers=bearer).status_code == 401
        assert http.get("/api/auth/me", headers=tenant.headers).status_code == 200  # another login lives on


def test_given_logout_when_refreshing_then_401(stack: RunningStack) -> None:
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        pair = http.post("/api/auth/login", json={"email": tenant.email, "password": tenant.password}).json()
        assert http.post("/api/auth/logout", json={"refresh_token": pair["refresh_token"]}).status_code == 204
        assert http.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401


def test_given_lower_roles_when_administering_then_403(stack: RunningStack) -> None:
    """An analyst may not create users; a viewer (here an API key) may not create API keys.

    (A viewer creating a run belongs to the runs issue.)
    """
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        _, analyst = tenant.create_user("analyst")
        body = {"email": "someone@e2e.example", "password": "long enough", "role": "viewer"}
        denied = http.post("/api/auth/users", json=body, headers=analyst)
        assert denied.status_code == 403 and denied.headers["content-type"] == "application/problem+json"
        viewer = {"X-Api-Key": tenant.create_api_key("viewer")["api_key"]}
        assert http.post("/api/auth/api-keys", json={"name": "x", "role": "viewer"}, headers=viewer).status_code == 403
        _, viewer_user = tenant.create_user("viewer")
        assert (
            http.post("/api/auth/api-keys", json={"name": "x", "role": "viewer"}, headers=viewer_user).status_code
            == 403
        )


def test_given_wrong_credentials_when_logging_in_then_one_answer_for_unknown_email_and_wrong_password(
    stack: RunningStack,
) -> None:
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        wrong = http.post("/api/auth/login", json={"email": tenant.email, "password": "not the password"})
        unknown = http.post("/api/auth/login", json={"email": "nobody@e2e.example", "password": "not the password"})
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json()["detail"] == unknown.json()["detail"]


def test_given_the_jwks_when_fetched_then_it_verifies_an_issued_token(stack: RunningStack) -> None:
    import jwt

    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        jwks = http.get("/api/auth/jwks.json").json()
        token = tenant.headers["Authorization"].split()[1]
        kid = jwt.get_unverified_header(token)["kid"]
        (jwk,) = [k for k in jwks["keys"] if k["kid"] == kid]
        key = jwt.PyJWK(jwk).key
        claims = jwt.decode(token, key, algorithms=["EdDSA"], audience="skucast-api")
        assert claims["client_id"] == tenant.client_id and claims["exp"] - claims["iat"] == 900


def test_given_bad_input_over_http_then_4xx_problem_documents_never_5xx(stack: RunningStack) -> None:
    json_header = {"Content-Type": "application/json"}
    cases = [
        ("/api/auth/login", b"not json"),
        ("/api/auth/login", b"{}"),
        ("/api/auth/login", b'{"email": "a\\ud800@x.com", "password": "x"}'),
        ("/api/auth/login", '{"email": "\u202eevil@x.com", "password": "x"}'.encode()),
        ("/api/auth/login", b'{"email": "zero\\u200bwidth@x.com", "password": "x"}'),
        ("/api/auth/login", b'{"email": "' + b"a" * 1_000_000 + b'@x.com", "password": "x"}'),
        ("/api/auth/login", b"\xff\xfe\x00binary"),
        ("/api/auth/refresh", b'{"refresh_token": 12}'),
        ("/api/auth/clients", b'{"name": "x"}'),
    ]
    with stack.http() as http:
        for path, body in cases:
            r = http.post(path, content=body, headers=json_header)
            assert 400 <= r.status_code < 500, (path, body[:60], r.status_code, r.text[:200])
            assert r.headers["content-type"] == "application/problem+json", (path, r.headers)
        huge = http.post("/api/auth/login", content=b"{" + b" " * (10 * 1024 * 1024 + 1) + b"}", headers=json_header)
        assert huge.status_code == 413
