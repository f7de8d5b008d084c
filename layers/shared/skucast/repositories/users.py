"""Users of a tenant, and the global e-mail index that login starts from.

Identities are per tenant: one e-mail may sign in to several tenants, as a separate user of each.
The partition `email_lookup_pk(digest)` holds one item per identity, `email_identity_sk(client_id)`
(schema 2: client_id, user_id and the salt all of the e-mail's password hashes share). Schema 1,
from when e-mails were unique across the platform, was one item `LOOKUP_SK` (client_id,
user_id); `identities` reads it as an identity without a stored salt, and creating a user checks
it so that a tenant still never holds one e-mail twice.
"""

from __future__ import annotations

import base64
import time
from dataclasses import asdict, dataclass
from typing import Any, cast

from boto3.dynamodb.conditions import Attr, Key

from skucast.aws import table
from skucast.records import Role, UserRecord
from skucast.repositories import dynamo
from skucast.repositories.keys import (
    LOOKUP_SK,
    USER_PREFIX,
    email_identity_sk,
    email_lookup_pk,
    tenant_pk,
    user_id_of,
    user_sk,
)

MAX_IDENTITIES = 100  # identities of one e-mail that login reads (one BatchGetItem)


class EmailTaken(Exception):
    """This tenant already has a user who signs in with this e-mail."""


@dataclass(frozen=True)
class Identity:
    client_id: str
    user_id: str
    salt: bytes | None  # the e-mail's shared password salt; None on the schema-1 item


def user_record(item: dict[str, Any]) -> UserRecord:
    return UserRecord(
        user_id=str(item["user_id"]),
        email=str(item["email"]),
        role=cast(Role, str(item["role"])),
        password_hash=str(item["password_hash"]),
        created_at=str(item["created_at"]),
    )


def user_actions(client_id: str, user: UserRecord, email_digest: str, salt: bytes) -> list[dict[str, Any]]:
    """The writes that create a user: its item and its identity under the e-mail (new in this
    tenant), checking that a schema-1 lookup of the e-mail does not name this tenant."""
    item = {"pk": tenant_pk(client_id), "sk": user_sk(user.user_id), "schema_version": 1, **asdict(user)}
    identity = {
        "pk": email_lookup_pk(email_digest),
        "sk": email_identity_sk(client_id),
        "schema_version": 2,
        "client_id": client_id,
        "user_id": user.user_id,
        "salt": base64.b64encode(salt).decode("ascii"),
    }
    return [
        {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Put": {"Item": identity, "ConditionExpression": "attribute_not_exists(pk)"}},
        {
            "ConditionCheck": {
                "Key": {"pk": email_lookup_pk(email_digest), "sk": LOOKUP_SK},
                "ConditionExpression": "attribute_not_exists(pk) OR client_id <> :client",
                "ExpressionAttributeValues": {":client": client_id},
            }
        },
    ]


def create_user(table_name: str, client_id: str, user: UserRecord, email_digest: str, salt: bytes) -> None:
    try:
        dynamo.transact(table_name, user_actions(client_id, user, email_digest, salt))
    except dynamo.ConditionFailed:
        raise EmailTaken from None


def identities(table_name: str, email_digest: str, client_id: str | None = None) -> list[Identity]:
    """The identities signing in with this e-mail: of any tenant (the first MAX_IDENTITIES, one
    read however many), or only `client_id`'s (however many the e-mail has)."""
    query: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(email_lookup_pk(email_digest)),
        "ConsistentRead": True,
    }
    if client_id is None:
        query["Limit"] = MAX_IDENTITIES
    else:
        query["FilterExpression"] = Attr("client_id").eq(client_id)
    found: dict[str, Identity] = {}
    while True:
        reply = table(table_name).query(**query)
        for item in reply.get("Items", []):
            salt = base64.b64decode(str(item["salt"])) if item.get("salt") else None  # schema 1: none
            identity = Identity(str(item["client_id"]), str(item["user_id"]), salt)
            if identity.client_id not in found or identity.salt is not None:
                found[identity.client_id] = identity
        if client_id is None or "LastEvaluatedKey" not in reply:
            return list(found.values())
        query["ExclusiveStartKey"] = reply["LastEvaluatedKey"]


def get_users(table_name: str, wanted: list[Identity]) -> list[tuple[Identity, UserRecord]]:
    """The user items of these identities (one BatchGetItem, however many), in their order."""
    if not wanted:
        return []
    keys = {(tenant_pk(i.client_id), user_sk(i.user_id)): i for i in wanted[:MAX_IDENTITIES]}
    request: dict[str, Any] = {
        table_name: {"Keys": [{"pk": pk, "sk": sk} for pk, sk in keys], "ConsistentRead": True}
    }
    items: dict[tuple[str, str], dict[str, Any]] = {}
    client = table(table_name).meta.client
    for attempt in range(8):
        reply = client.batch_get_item(RequestItems=request)
        for item in reply.get("Responses", {}).get(table_name, []):
            items[(str(item["pk"]), str(item["sk"]))] = dict(item)
        request = reply.get("UnprocessedKeys") or {}
        if not request:
            break
        time.sleep(0.02 * 2**attempt)  # throttled: back off as the SDK would
    else:
        raise RuntimeError("DynamoDB left keys unprocessed after 8 attempts")
    return [(identity, user_record(items[key])) for key, identity in keys.items() if key in items]


def get_user(table_name: str, client_id: str, user_id: str) -> UserRecord | None:
    item = dynamo.get(table_name, tenant_pk(client_id), user_sk(user_id))
    return user_record(item) if item else None


def list_users(
    table_name: str, client_id: str, limit: int, after_user_id: str | None
) -> tuple[list[UserRecord], str | None]:
    after = user_sk(after_user_id) if after_user_id else None
    items, last = dynamo.page(table_name, tenant_pk(client_id), USER_PREFIX, limit, after)
    return [user_record(i) for i in items], (user_id_of(last) if last else None)


def set_password_hash(table_name: str, client_id: str, user_id: str, password_hash: str) -> None:
    """Rehash on login (parameters changed); only if the user still exists."""
    table(table_name).update_item(
        Key={"pk": tenant_pk(client_id), "sk": user_sk(user_id)},
        UpdateExpression="SET password_hash = :h",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":h": password_hash},
    )
