"""Entry point of AuthorizerFunction (REQUEST authorizer): bearer JWT or X-Api-Key.

The answer allows the whole stage (results are not cached, and roles are checked per route by
the functions), carries the principal in `context` (read by skucast.api.current_principal) and
the client's usage-plan key as `usageIdentifierKey`. Any failure is "Unauthorized" (401): a
Lambda authorizer can only say that by raising with this exact message.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from skucast.auth.settings import get_auth_settings
from skucast.auth.tokens import InvalidToken
from skucast.errors import ProblemError
from skucast.observability import logger
from skucast.services import auth
from skucast.settings import get_settings


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else ""


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = APIGatewayAuthorizerRequestEvent(event)
    try:
        headers = request.headers  # case-insensitive
        who = auth.authorize(
            get_settings(),
            get_auth_settings(),
            bearer=_bearer(headers.get("authorization")),
            api_key=headers.get("x-api-key"),
        )
        arn = request.parsed_arn
    except (InvalidToken, ProblemError) as exc:
        logger.info("credential refused", extra={"reason": str(exc)})
        raise Exception("Unauthorized") from None  # API Gateway matches this exact message
    except Exception:
        logger.exception("authorizer failed")
        raise Exception("Unauthorized") from None
    response = APIGatewayAuthorizerResponse(
        principal_id=who.subject,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context={"client_id": who.client_id, "role": who.role, "subject": who.subject, "kind": who.kind},
        usage_identifier_key=who.usage_key,
        partition=arn.partition,
    )
    response.allow_all_routes()
    return response.asdict()
