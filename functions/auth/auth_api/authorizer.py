"""Entry point of AuthorizerFunction (REQUEST authorizer).

Until credentials exist (issue 3) every request to a protected route is refused; raising
"Unauthorized" is how a Lambda authorizer makes API Gateway answer 401.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from skucast.observability import logger


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    raise Exception("Unauthorized")  # noqa: TRY002 (API Gateway matches this exact message)
