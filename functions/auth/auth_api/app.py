"""Entry point of AuthApiFunction: one resolver, a router per area of /api/auth."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from auth_api import api_keys, clients, sessions, users
from skucast.api import create_app
from skucast.observability import logger, metrics, tracer

app = create_app()
for area in (clients, sessions, users, api_keys):
    app.include_router(area.router, prefix="/api/auth")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
