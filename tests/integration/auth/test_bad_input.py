"""Malformed and hostile input to every auth route is a 4xx problem document, never a 5xx."""

from __future__ import annotations

import pytest

from tests.integration.auth.conftest import Api
from tests.integration.conftest import SERVICE_KEY

BODIES = [
    pytest.param(None, id="no-body"),
    pytest.param("not json", id="not-json"),
    pytest.param("{", id="truncated-json"),
    pytest.param("[]", id="array"),
    pytest.param('"a string"', id="string"),
    pytest.param("null", id="null"),
    pytest.param("{}", id="empty-object"),
    pytest.param('{"email": 1, "password": [], "name": {}, "role": 7}', id="wrong-types"),
    pytest.param('{"email": "' + "a" * 2_000_000 + '@x.com", "password": "x"}', id="huge-field"),
    pytest.param('{"email": "a\\ud800@x.com", "password": "p\\udfff", "name": "\\u0000"}', id="lone-surrogates"),
    pytest.param('{"email": "\\u202eadmin@x.com", "password": "long enough"}', id="bidi-override"),
    pytest.param('{"email": "\\uff41\\uff44@\\uff58.\\uff43\\uff4f\\uff4d", "password": ""}', id="fullwidth"),
    pytest.param('{"email": "admin@xn--.com", "password": "long enough"}', id="bad-punycode"),
    pytest.param('{"refresh_token": "' + "r" * 600 + '"}', id="long-token"),
]
ROUTES = [
    ("POST", "/api/auth/clients"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/refresh"),
    ("POST", "/api/auth/logout"),
    ("POST", "/api/auth/users"),
    ("POST", "/api/auth/api-keys"),
]


@pytest.fixture
def admin_headers(api: Api) -> dict[str, str]:
    api.create_client("bad-input@example.com")
    return {**api.bearer("bad-input@example.com"), "X-Service-Key": SERVICE_KEY}


def test_given_bad_bodies_when_posting_to_each_route_then_4xx_problem(api: Api, admin_headers: dict[str, str]) -> None:
    # One test over the whole matrix: each moto set-up costs more than all these calls.
    for case in BODIES:
        (raw,) = case.values
        assert raw is None or isinstance(raw, str)
        for method, path in ROUTES:
            if raw is None:
                reply = api.call(method, path, headers=admin_headers)
            else:
                reply = api.call(method, path, raw_body=raw, headers=admin_headers)
            where = (case.id, path, reply.status, reply.body)
            assert 400 <= reply.status < 500, where
            assert reply.headers["content-type"] == "application/problem+json", where
            assert "Traceback" not in str(reply.body)


def test_given_a_bad_key_id_when_deleting_then_404(api: Api, admin_headers: dict[str, str]) -> None:
    for key_id in ("key_nope", "key_0123456789abcdef0123", "%23CLIENT%23x", "key_" + "f" * 500):
        assert api.call("DELETE", f"/api/auth/api-keys/{key_id}", headers=admin_headers).status == 404
