"""Integration API keys: the tenant's item (no secret) and the global lookup by the key's hash."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, cast

from skucast.records import ApiKeyGrant, ApiKeyRecord, ApiKeyRole
from skucast.repositories import dynamo
from skucast.repositories.keys import (
    API_KEY_PREFIX,
    LOOKUP_SK,
    api_key_id_of,
    api_key_sk,
    credential_lookup_pk,
    tenant_pk,
)


def create_api_key(table_name: str, client_id: str, key: ApiKeyRecord, secret_digest: str) -> None:
    item = {
        "pk": tenant_pk(client_id),
        "sk": api_key_sk(key.key_id),
        "schema_version": 1,
        "secret_digest": secret_digest,
        **asdict(key),
    }
    lookup = {
        "pk": credential_lookup_pk(secret_digest),
        "sk": LOOKUP_SK,
        "kind": "api_key",
        "client_id": client_id,
        "key_id": key.key_id,
        "role": key.role,
    }
    dynamo.transact(
        table_name,
        [
            {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"Item": lookup, "ConditionExpression": "attribute_not_exists(pk)"}},
        ],
    )


def _role(item: dict[str, Any]) -> ApiKeyRole:
    return cast(ApiKeyRole, str(item["role"]))


def api_key_record(item: dict[str, Any]) -> ApiKeyRecord:
    return ApiKeyRecord(str(item["key_id"]), str(item["name"]), _role(item), str(item["created_at"]))


def api_key_grant(item: dict[str, Any]) -> ApiKeyGrant:
    """The lookup item of a key's secret digest as what it grants."""
    return ApiKeyGrant(str(item["client_id"]), str(item["key_id"]), _role(item))


def list_api_keys(
    table_name: str, client_id: str, limit: int, after_key_id: str | None
) -> tuple[list[ApiKeyRecord], str | None]:
    after = api_key_sk(after_key_id) if after_key_id else None
    items, last = dynamo.page(table_name, tenant_pk(client_id), API_KEY_PREFIX, limit, after)
    return [api_key_record(i) for i in items], (api_key_id_of(last) if last else None)


def delete_api_key(table_name: str, client_id: str, key_id: str) -> bool:
    """Remove the key and its lookup together; False when the tenant has no such key."""
    item = dynamo.get(table_name, tenant_pk(client_id), api_key_sk(key_id))
    if item is None:
        return False
    try:
        dynamo.transact(
            table_name,
            [
                {
                    "Delete": {
                        "Key": {"pk": item["pk"], "sk": item["sk"]},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
                {"Delete": {"Key": {"pk": credential_lookup_pk(item["secret_digest"]), "sk": LOOKUP_SK}}},
            ],
        )
    except dynamo.ConditionFailed:
        return False  # deleted concurrently
    return True


def find_api_key(table_name: str, secret_digest: str) -> ApiKeyGrant | None:
    item = dynamo.get(table_name, credential_lookup_pk(secret_digest), LOOKUP_SK)
    return api_key_grant(item) if item and item.get("kind") == "api_key" else None
