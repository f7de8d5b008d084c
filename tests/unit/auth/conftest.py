"""Unit tests of auth: settings from a fake environment, repositories replaced by in-memory fakes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from skucast.auth.keyring import Keyring, SigningKey
from skucast.auth.settings import get_auth_settings
from skucast.records import ApiKeyGrant
from skucast.services import auth as service
from skucast.settings import get_settings, required_variables

ISSUER = "skucast-unit-prod"
AUDIENCE = "skucast-api"
ENV = {
    "SKUCAST_STAGE": "prod",
    "SKUCAST_TABLE_NAME": "table",
    "SKUCAST_DATA_BUCKET": "bucket",
    "SKUCAST_PLAN_QUEUE_URL": "https://sqs/plan",
    "SKUCAST_FORECAST_QUEUE_URL": "https://sqs/forecast",
    "SKUCAST_TRAIN_QUEUE_URL": "https://sqs/train",
    "SKUCAST_SIGNING_KEYS_SECRET_ID": "signing-keys",
    "SKUCAST_SERVICE_KEY_SECRET_ID": "service-key",
    "SKUCAST_USAGE_PLAN_PREFIX": "unit-",
    "SKUCAST_TOKEN_ISSUER": ISSUER,
    "SKUCAST_PASSWORD_MEMORY_KIB": "8",
    "SKUCAST_PASSWORD_ITERATIONS": "1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}


@dataclass
class FakeStore:
    """What the authorizer reads: the keyring, live sessions, clients' usage keys, API keys."""

    keyring: Keyring
    sessions: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    api_keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    keyring_reads: int = 0

    @property
    def key(self) -> SigningKey:
        signer = self.keyring.signing_key(datetime.now(UTC))
        assert signer is not None
        return signer


def _grant(item: dict[str, Any] | None) -> ApiKeyGrant | None:
    return service.api_keys_repo.api_key_grant(item) if item else None


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStore]:
    for name in required_variables():  # settings other issues add get a placeholder
        monkeypatch.setenv(name, f"unit-{name.lower()}")
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    get_auth_settings.cache_clear()
    service._parsed.clear()
    service._usage_keys.clear()
    service._last_forced_read[0] = 0.0
    fake = FakeStore(keyring=Keyring().rotate(datetime.now(UTC), overlap_seconds=3600))

    def keyring_text(secret_id: str, max_age: int, force: bool = False) -> str:
        fake.keyring_reads += 1
        return fake.keyring.dumps()

    monkeypatch.setattr(service.signing_keys, "keyring_text", keyring_text)
    monkeypatch.setattr(
        service.sessions_repo,
        "get_session",
        lambda table, client_id, sid: fake.sessions.get((client_id, sid)),
    )
    monkeypatch.setattr(service.clients_repo, "get_client", lambda table, client_id: fake.clients.get(client_id))
    monkeypatch.setattr(service.api_keys_repo, "find_api_key", lambda table, digest: _grant(fake.api_keys.get(digest)))
    yield fake
    get_settings.cache_clear()
    get_auth_settings.cache_clear()
