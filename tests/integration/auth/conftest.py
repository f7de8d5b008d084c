"""Auth handlers in-process against template-built moto resources, called as the gateway calls them.

`Api.call` runs the authorizer first for protected routes (as API Gateway does) and passes its
context on, so role checks and tenant scoping are exercised exactly as deployed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from skucast.auth.settings import get_auth_settings
from skucast.repositories import usage_plans
from skucast.services import auth as service
from skucast.services import key_rotation
from skucast.settings import get_settings
from skucast_local.emulator import Provisioned
from tests.conftest import FakeContext, load_event
from tests.integration.conftest import SERVICE_KEY

PUBLIC = {("POST", "/api/auth/clients"), ("POST", "/api/auth/login"), ("POST", "/api/auth/refresh"),
          ("POST", "/api/auth/logout"), ("GET", "/api/auth/jwks.json")}  # fmt: skip


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


class Api:
    def __init__(self, provisioned: Provisioned) -> None:
        self.provisioned = provisioned

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw_body: str | None = None,
        source_ip: str = "198.51.100.1",
    ) -> Reply:
        from auth_api.app import handler
        from auth_api.authorizer import handler as authorizer

        event = load_event("api_login.json")
        resource = "/api/auth/api-keys/{key_id}" if path.startswith("/api/auth/api-keys/") else path
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        event.update(resource=resource, path=path, httpMethod=method, headers=hdrs)
        event["multiValueHeaders"] = {k: [v] for k, v in hdrs.items()}
        event["body"] = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
        event["pathParameters"] = {"key_id": path.rsplit("/", 1)[1]} if resource != path else None
        event["requestContext"].update(resourcePath=resource, httpMethod=method)
        event["requestContext"]["identity"]["sourceIp"] = source_ip
        if (method, resource) not in PUBLIC:
            arn = f"arn:aws:execute-api:us-east-1:123456789012:local/prod/{method}{path}"
            request = {"type": "REQUEST", "methodArn": arn, **{k: v for k, v in event.items() if k != "body"}}
            try:
                answer = authorizer(request, FakeContext())  # type: ignore[arg-type]
            except Exception as exc:
                assert str(exc) == "Unauthorized"
                return Reply(401, {}, {"title": "Unauthorized"})
            event["requestContext"]["authorizer"] = {
                "principalId": answer["principalId"],
                **answer["context"],
            }
        response = handler(event, FakeContext())
        reply_headers = {k.lower(): str(v) for k, v in (response.get("headers") or {}).items()}
        for k, values in (response.get("multiValueHeaders") or {}).items():
            reply_headers[k.lower()] = str(values[-1])
        text = response.get("body")
        return Reply(response["statusCode"], reply_headers, json.loads(text) if text else None)

    # ------------------------------------------------------------ shortcuts
    def create_client(self, email: str, tier: str = "standard", password: str = "admin password 1") -> dict[str, Any]:
        reply = self.call(
            "POST", "/api/auth/clients",
            {"name": f"client of {email}", "tier": tier, "admin_email": email, "admin_password": password},
            {"X-Service-Key": SERVICE_KEY},
        )  # fmt: skip
        assert reply.status == 201, reply.body
        return dict(reply.body)

    def login(self, email: str, password: str = "admin password 1", source_ip: str = "198.51.100.1") -> Reply:
        return self.call("POST", "/api/auth/login", {"email": email, "password": password}, source_ip=source_ip)

    def bearer(self, email: str, password: str = "admin password 1") -> dict[str, str]:
        reply = self.login(email, password)
        assert reply.status == 200, reply.body
        return {"Authorization": f"Bearer {reply.body['access_token']}"}


@pytest.fixture
def api(provisioned: Provisioned, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    for name, value in provisioned.environments["AuthApiFunction"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SKUCAST_PASSWORD_MEMORY_KIB", "8")  # cheap Argon2 (one test checks the real cost)
    monkeypatch.setenv("SKUCAST_PASSWORD_ITERATIONS", "1")
    _forget()
    key_rotation.rotate(provisioned.resources["SigningKeysSecret"].ref, overlap_seconds=3600)
    yield Api(provisioned)
    _forget()


def _forget() -> None:
    get_settings.cache_clear()
    get_auth_settings.cache_clear()
    usage_plans._plan_ids.clear()
    service._parsed.clear()
    service._usage_keys.clear()
    service._last_forced_read[0] = 0.0
