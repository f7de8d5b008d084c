"""What every auth route needs: settings, the verified caller, the operator key."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import Principal, current_principal


def caller(router: APIGatewayRouter) -> Principal:
    return current_principal(router)
