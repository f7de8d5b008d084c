"""Users of a tenant, and the global e-mail lookup that login starts from."""

from __future__ import annotations

from typing import Any

from skucast.aws import table
from skucast.repositories import dynamo
from skucast.repositories.keys import LOOKUP_SK, USER_PREFIX, email_lookup_pk, tenant_pk, user_id_of, user_sk


class EmailTaken(Exception):
    """Another user (of any tenant) already signs in with this e-mail."""


def user_actions(client_id: str, user: dict[str, Any], email_digest: str) -> list[dict[str, Any]]:
    """The writes that create a user: its item and the e-mail lookup (which must be new)."""
    item = {"pk": tenant_pk(client_id), "sk": user_sk(user["user_id"]), "schema_version": 1, **user}
    lookup = {
        "pk": email_lookup_pk(email_digest),
        "sk": LOOKUP_SK,
        "client_id": client_id,
        "user_id": user["user_id"],
    }
    return [
        {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Put": {"Item": lookup, "ConditionExpression": "attribute_not_exists(pk)"}},
    ]


def create_user(table_name: str, client_id: str, user: dict[str, Any], email_digest: str) -> None:
    try:
        dynamo.transact(table_name, user_actions(client_id, user, email_digest))
    except dynamo.ConditionFailed:
        raise EmailTaken from None


def find_login(table_name: str, email_digest: str) -> tuple[str, str] | None:
    """(client_id, user_id) of the user signing in with this e-mail."""
    item = dynamo.get(table_name, email_lookup_pk(email_digest), LOOKUP_SK)
    return (str(item["client_id"]), str(item["user_id"])) if item else None


def get_user(table_name: str, client_id: str, user_id: str) -> dict[str, Any] | None:
    return dynamo.get(table_name, tenant_pk(client_id), user_sk(user_id))


def list_users(
    table_name: str, client_id: str, limit: int, after_user_id: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    after = user_sk(after_user_id) if after_user_id else None
    items, last = dynamo.page(table_name, tenant_pk(client_id), USER_PREFIX, limit, after)
    return items, (user_id_of(last) if last else None)


def set_password_hash(table_name: str, client_id: str, user_id: str, password_hash: str) -> None:
    """Rehash on login (parameters changed); only if the user still exists."""
    table(table_name).update_item(
        Key={"pk": tenant_pk(client_id), "sk": user_sk(user_id)},
        UpdateExpression="SET password_hash = :h",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":h": password_hash},
    )
