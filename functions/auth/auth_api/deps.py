"""What every auth route needs: settings, the verified caller, the operator key."""

from __future__ import annotations

from typing import cast

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import Principal, current_principal
from skucast.repositories.secrets import secret_string
from skucast.settings import get_settings


def caller(router: APIGatewayRouter) -> Principal:
    # current_principal only reads current_event, which a router shares with its resolver.
    return current_principal(cast(APIGatewayRestResolver, router))


def service_key() -> str:
    settings = get_settings()
    return secret_string(settings.service_key_secret_id, settings.secret_cache_seconds)
