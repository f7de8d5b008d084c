"""POST /api/auth/clients: the platform operator signs a client up."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import requires_operator
from skucast.auth.settings import get_auth_settings
from skucast.schemas.auth import CreateClientRequest, CreatedClient
from skucast.services import auth
from skucast.settings import get_settings

router = APIGatewayRouter()


@router.post(
    "/clients",
    summary="Create a client, its first admin and its usage-plan key (operator)",
    tags=["auth"],
    middlewares=[requires_operator()],
    security=[{"serviceKey": []}],
    responses={
        201: {"description": "created", "content": {"application/json": {"model": CreatedClient}}},
        409: {"description": "the admin e-mail address is already registered"},
    },
)
def create_client(request: Annotated[CreateClientRequest, Body()]) -> Response[CreatedClient]:
    created = auth.create_client(get_settings(), get_auth_settings(), request)
    return Response(status_code=201, content_type="application/json", body=created)
