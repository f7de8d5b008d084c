"""Users of the caller's client (admin)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import Cursor, Limit, current_tenant, requires
from skucast.auth.settings import get_auth_settings
from skucast.schemas.auth import CreateUserRequest, User, UserList
from skucast.services import auth
from skucast.settings import get_settings

router = APIGatewayRouter()


@router.post(
    "/users",
    summary="Create a user",
    tags=["auth"],
    middlewares=[requires("admin")],
    responses={
        201: {"description": "created", "content": {"application/json": {"model": User}}},
        409: {"description": "the e-mail address is already registered"},
    },
)
def create_user(request: Annotated[CreateUserRequest, Body()]) -> Response[User]:
    user = auth.create_user(get_settings(), get_auth_settings(), current_tenant(router), request)
    return Response(status_code=201, content_type="application/json", body=user)


@router.get("/users", summary="List users", tags=["auth"], middlewares=[requires("admin")])
def list_users(
    limit: Limit = 100,
    cursor: Cursor = None,
) -> UserList:
    return auth.list_users(get_settings(), current_tenant(router), limit, cursor)
