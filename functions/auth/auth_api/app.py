"""Entry point of AuthApiFunction: one resolver, a router per area of /api/auth."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from auth_api import api_keys, clients, sessions, users
from skucast.api import create_app, problem_response
from skucast.errors import BadRequest
from skucast.observability import logger, metrics, tracer

app = create_app()
for area in (clients, sessions, users, api_keys):
    app.include_router(area.router, prefix="/api/auth")


@app.exception_handler(UnicodeDecodeError)
def _not_utf8(exc: UnicodeDecodeError) -> Response:
    # A body that is not UTF-8 fails inside Powertools' JSON parsing, before validation.
    # (Belongs in skucast.api.create_app for every function; kept here until it moves.)
    return problem_response(BadRequest("The request body is not UTF-8 JSON."), _request_id())


def _request_id() -> str | None:
    try:
        return app.current_event.request_context.request_id
    except (AttributeError, KeyError, TypeError):
        return None


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
