"""Clients (tenants): the profile item, created together with the first admin user."""

from __future__ import annotations

from typing import Any

from skucast.records import UserRecord
from skucast.repositories import dynamo
from skucast.repositories.keys import CLIENT_PROFILE_SK, tenant_pk
from skucast.repositories.users import user_actions


def create_client(
    table_name: str, client: dict[str, Any], admin: UserRecord, email_digest: str, salt: bytes
) -> None:
    """Profile + admin user + its identity under the e-mail, all or nothing."""
    profile = {"pk": tenant_pk(client["client_id"]), "sk": CLIENT_PROFILE_SK, "schema_version": 1, **client}
    actions = [
        {"Put": {"Item": profile, "ConditionExpression": "attribute_not_exists(pk)"}},
        *user_actions(client["client_id"], admin, email_digest, salt),
    ]
    # A new tenant has no user yet, so no condition can fail but an id collision (80 random
    # bits, never expected): dynamo.ConditionFailed goes up as the bug it would be.
    dynamo.transact(table_name, actions)


def get_client(table_name: str, client_id: str) -> dict[str, Any] | None:
    return dynamo.get(table_name, tenant_pk(client_id), CLIENT_PROFILE_SK)
