"""Entry point of MethodNotAllowedFunction: the answer for a method a resource does not define.

API Gateway REST routes a request to its resource's own method and, for any other method, to the
resource's ANY method: template.yaml gives every resource path of the API one, routed here. So a
wrong method on a real route is 405 with `Allow` (RFC 9110) and a problem document (RFC 9457),
and OPTIONS is 204 with `Allow` (the methods a path has; no CORS headers, see README). HEAD is
not derived from GET by API Gateway REST: it is a 405 like any method a path does not define.

The methods of each path come from allowed_methods.json, generated from template.yaml
(`make allowed-methods`; tests/infra checks it is current).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from skucast.errors import MethodNotAllowed, NotFound, ProblemError
from skucast.observability import logger

PROBLEM_JSON = "application/problem+json"
# Resource path (as API Gateway's `resource`, e.g. /api/v1/forecast/runs/{run_id}) -> its methods.
ALLOWED: dict[str, list[str]] = json.loads(
    (Path(__file__).parent / "allowed_methods.json").read_text(encoding="utf-8")
)


def allow(methods: list[str]) -> list[str]:
    """What `Allow` lists for a path with these methods: them, and OPTIONS (answered here)."""
    return methods if "OPTIONS" in methods else [*methods, "OPTIONS"]


def _problem(error: ProblemError, request_id: str | None) -> dict[str, Any]:
    return {
        "statusCode": error.status,
        "headers": {"Content-Type": PROBLEM_JSON, **error.headers},
        "body": json.dumps(error.to_problem(request_id)),
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    method = str(event.get("httpMethod") or "")
    resource = str(event.get("resource") or "")
    request_id = (event.get("requestContext") or {}).get("requestId")
    methods = ALLOWED.get(resource)
    if methods is None:
        # An ANY event on a path with no methods: tests/infra forbids it; answer as API Gateway
        # answers a path it does not serve.
        logger.error("ANY method on a resource with no methods", resource=resource)
        return _problem(NotFound("No such route."), request_id)
    if method in methods:
        # API Gateway takes a resource's own method before its ANY method: never routed here.
        logger.error("a defined method reached the ANY method", resource=resource, method=method)
        return _problem(ProblemError("The service failed to answer."), request_id)
    allowed = allow(methods)
    if method == "OPTIONS":
        return {"statusCode": 204, "headers": {"Allow": ", ".join(allowed)}, "body": ""}
    detail = f"{method} is not a method of {resource}; its methods are {', '.join(allowed)}."
    return _problem(MethodNotAllowed(detail, allow=allowed), request_id)
