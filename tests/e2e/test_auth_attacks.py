"""Attacks on identity over the local stack's real HTTP: identity fails closed.

- tokens signed by another environment's keyring (same kid or its own), forged claims, and
  tokens signed with this environment's real key but expired / for another audience or issuer;
- two refreshes of one token at once: at most one wins, and the login ends either way;
- a logged-out login and a deleted API key stop working on the very next request (no cache);
- password guessing is throttled per e-mail with 429 + Retry-After, even for the right password.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt

from skucast.auth.keyring import Keyring
from skucast.auth.tokens import issue_access_token
from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant

ME = "/api/auth/me"


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _refused(r: httpx.Response) -> bool:
    return r.status_code == 401 and r.headers["content-type"] == "application/problem+json"


def _live_keyring(stack: RunningStack) -> Keyring:
    secrets: Any = stack.aws_client("secretsmanager")
    secret_id = stack.describe()["resources"]["SigningKeysSecret"]
    return Keyring.parse(secrets.get_secret_value(SecretId=secret_id)["SecretString"])


def test_given_tokens_not_signed_by_this_environment_then_401(stack: RunningStack) -> None:
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        token = tenant.headers["Authorization"].split()[1]
        assert http.get(ME, headers=tenant.headers).status_code == 200
        claims, kid = _claims(token), jwt.get_unverified_header(token)["kid"]
        now = datetime.now(UTC)

        # Another environment (a staging stack, a developer's laptop) with a keyring of its own.
        other = Keyring().rotate(now, overlap_seconds=0)
        other_key = other.signing_key(now)
        assert other_key is not None
        same_claims = {
            "issuer": claims["iss"],
            "audience": claims["aud"],
            "subject": claims["sub"],
            "client_id": claims["client_id"],
            "role": claims["role"],
            "session_id": claims["sid"],
            "ttl_seconds": 900,
            "now": now,
        }
        foreign = issue_access_token(other_key, **same_claims)
        assert _refused(http.get(ME, headers=_bearer(foreign)))
        # ... even when it claims this environment's kid.
        forged_kid = jwt.encode(
            _claims(foreign), other_key.private_key, algorithm="EdDSA", headers={"kid": kid, "typ": "JWT"}
        )
        assert _refused(http.get(ME, headers=_bearer(forged_kid)))

        # A real signature over edited claims (another tenant, a higher role).
        head, payload, signature = token.split(".")
        for edit in ({"client_id": "cli_" + "0" * 20}, {"role": "admin", "sub": "usr_" + "1" * 20}):
            body = base64.urlsafe_b64encode(json.dumps({**claims, **edit}).encode()).decode().rstrip("=")
            assert _refused(http.get(ME, headers=_bearer(f"{head}.{body}.{signature}")))
        assert _refused(http.get(ME, headers=_bearer(f"{head}.{payload}.")))  # no signature
        none_alg = jwt.encode(claims, key=None, algorithm="none")
        assert _refused(http.get(ME, headers=_bearer(none_alg)))

        # This environment's real key, but expired, or for another audience or issuer.
        live = _live_keyring(stack).signing_key(now)
        assert live is not None and live.kid == kid
        assert http.get(ME, headers=_bearer(issue_access_token(live, **same_claims))).status_code == 200
        for change in (
            {"now": now - timedelta(hours=2)},
            {"audience": "another-api"},
            {"issuer": "https://elsewhere.example"},
        ):
            assert _refused(http.get(ME, headers=_bearer(issue_access_token(live, **{**same_claims, **change}))))
        assert http.get(ME, headers=tenant.headers).status_code == 200  # nothing above hurt the real login


def test_given_two_refreshes_of_one_token_at_once_then_at_most_one_wins_and_the_login_ends(
    stack: RunningStack,
) -> None:
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        for _ in range(3):  # a race is a race: try it a few times
            pair = http.post("/api/auth/login", json={"email": tenant.email, "password": tenant.password}).json()
            start = threading.Barrier(2)

            def refresh(_: int, token: str = pair["refresh_token"], start: threading.Barrier = start) -> httpx.Response:
                with stack.http() as client:
                    start.wait(timeout=30)
                    return client.post("/api/auth/refresh", json={"refresh_token": token})

            with ThreadPoolExecutor(max_workers=2) as pool:
                replies = list(pool.map(refresh, range(2)))
            assert sorted(r.status_code for r in replies) in ([200, 401], [401, 401]), [r.text for r in replies]
            # The loser presented a token that was no longer current: reuse, so the whole login
            # ends, including whatever the winner got.
            for r in replies:
                if r.status_code == 200:
                    won = r.json()
                    assert _refused(http.post("/api/auth/refresh", json={"refresh_token": won["refresh_token"]}))
                    assert _refused(http.get(ME, headers=_bearer(won["access_token"])))
            assert _refused(http.get(ME, headers=_bearer(pair["access_token"])))
        assert http.get(ME, headers=tenant.headers).status_code == 200  # another login lives on


def test_given_a_logout_or_a_deleted_api_key_then_the_very_next_request_is_refused(stack: RunningStack) -> None:
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        pair = http.post("/api/auth/login", json={"email": tenant.email, "password": tenant.password}).json()
        assert http.get(ME, headers=_bearer(pair["access_token"])).status_code == 200
        assert http.post("/api/auth/logout", json={"refresh_token": pair["refresh_token"]}).status_code == 204
        assert _refused(http.get(ME, headers=_bearer(pair["access_token"])))  # not valid for its 15 minutes

        key = tenant.create_api_key("analyst")
        as_key = {"X-Api-Key": key["api_key"]}
        runs = "/api/v1/forecast/runs"
        assert http.get(runs, headers=as_key).status_code == 200  # warm: any cache would hold it now
        assert http.delete(f"/api/auth/api-keys/{key['key_id']}", headers=tenant.headers).status_code == 204
        with ThreadPoolExecutor(max_workers=4) as pool:
            after = list(pool.map(lambda _: httpx.get(f"{stack.api}{runs}", headers=as_key, timeout=60), range(8)))
        assert all(_refused(r) for r in after), [r.status_code for r in after]
        assert http.get(runs, headers=tenant.headers).status_code == 200


def test_given_repeated_wrong_passwords_then_429_with_retry_after_even_for_the_right_one(
    stack: RunningStack,
) -> None:
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        neighbour = Tenant.sign_up(stack, http=http)
        guess = {"email": tenant.email, "password": "not the password"}
        statuses = [http.post("/api/auth/login", json=guess).status_code for _ in range(5)]
        assert statuses == [401] * 5  # the deployed limit: 5 failures per e-mail and window
        for body in (guess, {"email": tenant.email, "password": tenant.password}):
            r = http.post("/api/auth/login", json=body)
            assert r.status_code == 429, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert 1 <= int(r.headers["retry-after"]) <= 900 + 60, r.headers
        # Per e-mail: the neighbour on the same address (127.0.0.1) still signs in, and the
        # throttled user's live tokens still work.
        assert neighbour.login(neighbour.email, neighbour.password)
        assert http.get(ME, headers=tenant.headers).status_code == 200
        unknown = {"email": f"nobody-{uuid.uuid4().hex[:8]}@e2e.example", "password": "guess"}
        assert http.post("/api/auth/login", json=unknown).status_code == 401
