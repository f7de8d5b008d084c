"""Login sessions and their refresh tokens.

A session item (under the tenant) holds the digest of the one refresh token that may be used
next. Every refresh token ever issued also has a lookup item (by digest, until the session's
absolute expiry), so presenting an old one is recognised as reuse. Rotation is one transaction
conditioned on the session's current digest: of two concurrent refreshes, at most one wins.
"""

from __future__ import annotations

from typing import Any

from skucast.aws import table
from skucast.repositories import dynamo
from skucast.repositories.keys import LOOKUP_SK, credential_lookup_pk, session_sk, tenant_pk


class NotCurrent(Exception):
    """The refresh token was already rotated (or the session was revoked)."""


def _lookup(client_id: str, session_id: str, digest: str, expires_at: int) -> dict[str, Any]:
    return {
        "pk": credential_lookup_pk(digest),
        "sk": LOOKUP_SK,
        "kind": "refresh",
        "client_id": client_id,
        "session_id": session_id,
        "expires_at": expires_at,
    }


def start_session(
    table_name: str, client_id: str, session_id: str, user_id: str, digest: str, expires_at: int, now: str
) -> None:
    session = {
        "pk": tenant_pk(client_id),
        "sk": session_sk(session_id),
        "schema_version": 1,
        "session_id": session_id,
        "user_id": user_id,
        "current_digest": digest,
        "revoked": False,
        "created_at": now,
        "expires_at": expires_at,
    }
    dynamo.transact(
        table_name,
        [
            {"Put": {"Item": session, "ConditionExpression": "attribute_not_exists(pk)"}},
            {
                "Put": {
                    "Item": _lookup(client_id, session_id, digest, expires_at),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ],
    )


def find_refresh_token(table_name: str, digest: str) -> dict[str, Any] | None:
    item = dynamo.get(table_name, credential_lookup_pk(digest), LOOKUP_SK)
    return item if item and item.get("kind") == "refresh" else None


def get_session(table_name: str, client_id: str, session_id: str) -> dict[str, Any] | None:
    return dynamo.get(table_name, tenant_pk(client_id), session_sk(session_id))


def rotate(table_name: str, client_id: str, session_id: str, old_digest: str, new_digest: str, expires_at: int) -> None:
    """Make `new_digest` the session's current token, if `old_digest` still is. Else NotCurrent."""
    try:
        dynamo.transact(
            table_name,
            [
                {
                    "Update": {
                        "Key": {"pk": tenant_pk(client_id), "sk": session_sk(session_id)},
                        "UpdateExpression": "SET current_digest = :new",
                        "ConditionExpression": "current_digest = :old AND revoked = :false",
                        "ExpressionAttributeValues": {
                            ":new": new_digest,
                            ":old": old_digest,
                            ":false": False,
                        },
                    }
                },
                {
                    "Put": {
                        "Item": _lookup(client_id, session_id, new_digest, expires_at),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ],
        )
    except dynamo.ConditionFailed:
        raise NotCurrent from None


def revoke_session(table_name: str, client_id: str, session_id: str, now: str) -> None:
    """Revoke a whole login: its refresh tokens and (checked by the authorizer) its access tokens."""
    table(table_name).update_item(
        Key={"pk": tenant_pk(client_id), "sk": session_sk(session_id)},
        UpdateExpression="SET revoked = :true, revoked_at = if_not_exists(revoked_at, :now)",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":true": True, ":now": now},
    )
