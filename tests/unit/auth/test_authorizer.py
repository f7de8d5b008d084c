"""The Lambda authorizer: what it accepts, and every way a credential is refused (401)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auth_api.authorizer import handler
from skucast.auth.tokens import digest
from tests.conftest import FakeContext, load_event
from tests.unit.auth.conftest import AUDIENCE, ISSUER, FakeStore

CLIENT, USER, SESSION = "cli_0123456789abcdef0123", "usr_0123456789abcdef0123", "ses_0123456789abcdef0123"
API_KEY = "sk_" + "k" * 43


@pytest.fixture
def live(store: FakeStore) -> FakeStore:
    store.clients[CLIENT] = {"client_id": CLIENT, "usage_key": "usage-key-of-the-client"}
    store.sessions[(CLIENT, SESSION)] = {"user_id": USER, "revoked": False}
    store.api_keys[digest(API_KEY)] = {"client_id": CLIENT, "key_id": "key_1", "role": "viewer"}
    return store


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": USER,
        "client_id": CLIENT,
        "role": "analyst",
        "sid": SESSION,
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": "j1",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _token(store: FakeStore, **overrides: Any) -> str:
    return jwt.encode(_claims(**overrides), store.key.private_key, algorithm="EdDSA", headers={"kid": store.key.kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _event(headers: dict[str, str]) -> dict[str, Any]:
    event = load_event("authorizer_request.json")
    event["headers"] = headers
    event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    return event


def _authorize(headers: dict[str, str]) -> dict[str, Any]:
    return handler(_event(headers), FakeContext("AuthorizerFunction", remaining_ms=10_000))  # type: ignore[arg-type]


def _refused(headers: dict[str, str]) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        _authorize(headers)


def test_given_a_valid_bearer_token_when_authorizing_then_the_stage_is_allowed_with_the_principal(
    live: FakeStore,
) -> None:
    answer = _authorize({"authorization": f"bearer {_token(live)}"})  # header and scheme in any case
    assert answer["principalId"] == USER
    assert answer["context"] == {"client_id": CLIENT, "role": "analyst", "subject": USER, "kind": "user"}
    assert answer["usageIdentifierKey"] == "usage-key-of-the-client"
    (statement,) = answer["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == ["arn:aws:execute-api:us-east-1:123456789012:local/prod/*/*"]


def test_given_a_valid_api_key_when_authorizing_then_its_role_and_client_come_from_the_key(
    live: FakeStore,
) -> None:
    answer = _authorize({"X-API-KEY": API_KEY})
    assert answer["context"] == {"client_id": CLIENT, "role": "viewer", "subject": "key_1", "kind": "api_key"}
    assert answer["usageIdentifierKey"] == "usage-key-of-the-client"


def test_given_no_credential_when_authorizing_then_unauthorized(live: FakeStore) -> None:
    _refused({})
    _refused({"Authorization": "Basic dXNlcjpwYXNz"})
    _refused({"Authorization": "Bearer"})


def test_given_a_bad_signature_when_authorizing_then_unauthorized(live: FakeStore) -> None:
    forged = jwt.encode(_claims(), Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": live.key.kid})
    _refused({"Authorization": f"Bearer {forged}"})
    header, _payload, signature = _token(live).split(".")
    tampered = _b64(json.dumps(_claims(role="admin")).encode())
    _refused({"Authorization": f"Bearer {header}.{tampered}.{signature}"})


def test_given_alg_none_when_authorizing_then_unauthorized(live: FakeStore) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": live.key.kid}).encode())
    unsigned = f"{header}.{_b64(json.dumps(_claims()).encode())}."
    _refused({"Authorization": f"Bearer {unsigned}"})


def test_given_hs256_signed_with_the_public_key_when_authorizing_then_unauthorized(live: FakeStore) -> None:
    public_pem = live.key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': live.key.kid}).encode())}."
        f"{_b64(json.dumps(_claims()).encode())}"
    )
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    _refused({"Authorization": f"Bearer {signing_input}.{_b64(mac)}"})


@pytest.mark.parametrize(
    "overrides",
    [
        # Times relative to when the test runs (parameters are built at collection, maybe minutes before).
        pytest.param({"exp": lambda now: now - 60}, id="expired"),
        pytest.param({"nbf": lambda now: now + 120}, id="nbf-in-future"),
        pytest.param({"aud": "another-api"}, id="wrong-aud"),
        pytest.param({"iss": "someone-else"}, id="wrong-iss"),
        pytest.param({"exp": None}, id="missing-exp"),
        pytest.param({"iss": None}, id="missing-iss"),
        pytest.param({"aud": None}, id="missing-aud"),
        pytest.param({"sub": None}, id="missing-sub"),
        pytest.param({"role": "owner"}, id="unknown-role"),
        pytest.param({"client_id": None}, id="missing-client"),
    ],
)
def test_given_bad_claims_when_authorizing_then_unauthorized(live: FakeStore, overrides: dict[str, Any]) -> None:
    now = int(time.time())
    claims = {k: v(now) if callable(v) else v for k, v in overrides.items()}
    _refused({"Authorization": f"Bearer {_token(live, **claims)}"})


def test_given_an_unknown_kid_when_authorizing_then_unauthorized_after_one_keyring_reread(
    live: FakeStore,
) -> None:
    token = jwt.encode(_claims(), live.key.private_key, algorithm="EdDSA", headers={"kid": "not-in-the-ring"})
    reads = live.keyring_reads
    _refused({"Authorization": f"Bearer {token}"})
    assert live.keyring_reads == reads + 2  # the cached read, then one forced re-read
    _refused({"Authorization": f"Bearer {token}"})
    assert live.keyring_reads == reads + 3  # no second forced read within the refetch interval


def test_given_a_revoked_login_when_authorizing_its_access_token_then_unauthorized(live: FakeStore) -> None:
    token = _token(live)
    live.sessions[(CLIENT, SESSION)]["revoked"] = True
    _refused({"Authorization": f"Bearer {token}"})


def test_given_a_deleted_or_unknown_api_key_when_authorizing_then_unauthorized(live: FakeStore) -> None:
    live.api_keys.clear()
    _refused({"X-Api-Key": API_KEY})
    _refused({"X-Api-Key": "not-even-our-format"})


def test_given_a_client_without_usage_key_when_authorizing_then_unauthorized(live: FakeStore) -> None:
    live.clients.clear()
    _refused({"Authorization": f"Bearer {_token(live)}"})


def test_given_the_repository_fails_when_authorizing_then_unauthorized_not_a_crash(
    live: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("DynamoDB is down")

    from skucast.services import auth as service

    monkeypatch.setattr(service.sessions_repo, "get_session", broken)
    _refused({"Authorization": f"Bearer {_token(live)}"})


def test_given_a_rotation_newer_than_the_cache_when_authorizing_then_the_new_key_verifies(
    live: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from skucast.services import auth as service

    cached = live.keyring.dumps()
    live.keyring = live.keyring.rotate(datetime.now(UTC), overlap_seconds=3600)
    monkeypatch.setattr(
        service.signing_keys,
        "keyring_text",
        lambda secret_id, max_age, force=False: live.keyring.dumps() if force else cached,
    )
    answer = _authorize({"Authorization": f"Bearer {_token(live)}"})
    assert answer["context"]["subject"] == USER
