"""Integration API keys of the caller's client (admin). The secret is shown once, at creation."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import Cursor, Limit, current_tenant, requires
from skucast.schemas.auth import ApiKeyList, CreateApiKeyRequest, CreatedApiKey
from skucast.services import auth
from skucast.settings import get_settings

router = APIGatewayRouter()


@router.post(
    "/api-keys",
    summary="Create an API key",
    tags=["auth"],
    middlewares=[requires("admin")],
    responses={201: {"description": "created", "content": {"application/json": {"model": CreatedApiKey}}}},
)
def create_api_key(request: Annotated[CreateApiKeyRequest, Body()]) -> Response[CreatedApiKey]:
    created = auth.create_api_key(get_settings(), current_tenant(router), request)
    return Response(status_code=201, content_type="application/json", body=created)


@router.get("/api-keys", summary="List API keys (without secrets)", tags=["auth"], middlewares=[requires("admin")])
def list_api_keys(
    limit: Limit = 100,
    cursor: Cursor = None,
) -> ApiKeyList:
    return auth.list_api_keys(get_settings(), current_tenant(router), limit, cursor)


@router.delete(
    "/api-keys/<key_id>",
    summary="Revoke an API key",
    tags=["auth"],
    middlewares=[requires("admin")],
    responses={204: {"description": "revoked; the key stops working on the next request"}},
)
def revoke_api_key(key_id: str) -> Response[None]:
    auth.revoke_api_key(get_settings(), current_tenant(router), key_id)
    return Response(status_code=204, body=None)
