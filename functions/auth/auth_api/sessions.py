"""Login, token refresh and logout, the caller's identity, and the public signing keys."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import current_principal, requires
from skucast.auth.settings import get_auth_settings
from skucast.schemas.auth import Jwks, LoginRequest, Me, RefreshRequest, TokenPair
from skucast.services import auth
from skucast.settings import get_settings

router = APIGatewayRouter()


@router.post(
    "/login",
    summary="Sign in with e-mail and password",
    tags=["auth"],
    responses={
        200: {"description": "signed in", "content": {"application/json": {"model": TokenPair}}},
        401: {"description": "wrong e-mail address or password"},
        429: {"description": "too many failed sign-ins (see Retry-After)"},
    },
)
def login(request: Annotated[LoginRequest, Body()]) -> TokenPair:
    source_ip = router.current_event.request_context.identity.source_ip or ""
    return auth.login(get_settings(), get_auth_settings(), request, source_ip)


@router.post(
    "/refresh",
    summary="Exchange a refresh token for a new pair",
    tags=["auth"],
    responses={
        200: {"description": "the new pair", "content": {"application/json": {"model": TokenPair}}},
        401: {"description": "unknown, expired or already used (the whole login is then revoked)"},
    },
)
def refresh(request: Annotated[RefreshRequest, Body()]) -> TokenPair:
    return auth.refresh(get_settings(), request.refresh_token)


@router.post(
    "/logout",
    summary="End the login the refresh token belongs to",
    tags=["auth"],
    responses={204: {"description": "signed out"}},
)
def logout(request: Annotated[RefreshRequest, Body()]) -> Response[None]:
    auth.logout(get_settings(), request.refresh_token)
    return Response(status_code=204, body=None)


@router.get("/me", summary="The caller", tags=["auth"], middlewares=[requires("viewer")])
def me() -> Me:
    return auth.me(get_settings(), current_principal(router))


@router.get("/jwks.json", summary="Public keys that verify access tokens", tags=["auth"])
def jwks() -> Jwks:
    return auth.jwks(get_settings())
