"""The HTTP layer shared by every API function: one resolver factory, problem documents, roles.

Handlers stay thin: parse (pydantic, via Powertools validation) -> one service call -> a model.
Every error leaves as an RFC 9457 problem document; anything unexpected is a logged 500.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from re import Match
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.errors import BadRequest, FieldError, Forbidden, ProblemError, Unauthorized, Unprocessable
from skucast.observability import logger

PROBLEM_JSON = "application/problem+json"
ROLE_RANK = {"viewer": 1, "analyst": 2, "admin": 3}
# The deepest nesting of arrays and objects a request body may have. Every body of the contract
# nests under 10 levels; Python's JSON parser recurses per level and fails with RecursionError
# near 1,000, so bodies are measured before they are parsed.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")

# The query parameters of every list route (skucast/pagination.py). A cursor's length is checked
# with its content, so every bad cursor is the same 400 (request validation would answer 422).
Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[str | None, Query(description="The next_cursor of the previous page (opaque).")]


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the authorizer verified it. The tenant comes only from here."""

    client_id: str
    role: str
    subject: str  # user id or API key id
    kind: str  # "user" | "api_key"


def problem_response(error: ProblemError, request_id: str | None) -> Response:
    return Response(
        status_code=error.status,
        content_type=PROBLEM_JSON,
        body=json.dumps(error.to_problem(request_id)),
        headers=error.headers,
    )


def _request_id(app: APIGatewayRestResolver) -> str | None:
    try:
        return app.current_event.request_context.request_id
    except (AttributeError, KeyError, TypeError):
        return None


def _field_errors(exc: RequestValidationError) -> list[FieldError]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        # Powertools prefixes the source ("body", "query", "path"); keep it readable.
        field = ".".join(loc[1:]) or (loc[0] if loc else "")
        out.append(FieldError(field=field, code=str(err.get("type", "invalid")), message=str(err.get("msg", ""))))
    return out[:100]


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in a JSON text (brackets inside strings do not count)."""
    depth = deepest = 0
    for bracket in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def bounded_json(text: str) -> Any:
    """`json.loads` for request bodies, refusing nesting deeper than MAX_JSON_DEPTH before parsing."""
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and json_depth(text) > MAX_JSON_DEPTH:
        raise BadRequest(f"The request body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels.")
    return json.loads(text)


class Resolver(APIGatewayRestResolver):
    """Powertools' REST resolver, with route parameters taken as API Gateway carries them.

    Powertools finds the route by matching `path` and would pass the groups it matched. On API
    Gateway (REST, proxy integration) `path` is the request path still percent-encoded, while
    `pathParameters` holds each template variable URL-decoded: `/skus/sp%20ace` arrives as
    path "/skus/sp%20ace" and pathParameters {"sku": "sp ace"}. So the values come from
    `pathParameters`: this is the one place path parameters are decoded (by API Gateway, or the
    local gateway that builds the same event), for every route."""

    def _convert_matches_into_route_keys(self, match: Match[str]) -> dict[str, str]:
        carried = self.current_event.path_parameters or {}
        missing = sorted(set(match.groupdict()) - set(carried))
        if missing:  # a route of this app with no resource of the same variables in template.yaml
            raise LookupError(f"the event has no pathParameters {missing} for {self.current_event.resource}")
        return {name: str(carried[name]) for name in match.groupdict()}


def create_app() -> APIGatewayRestResolver:
    # Every body is parsed by Powertools through this one deserializer.
    app = Resolver(enable_validation=True, json_body_deserializer=bounded_json)

    @app.exception_handler(ProblemError)
    def _problem(exc: ProblemError) -> Response:
        return problem_response(exc, _request_id(app))

    @app.exception_handler(UnicodeDecodeError)
    def _not_utf8(exc: UnicodeDecodeError) -> Response:
        # A body that is not UTF-8 fails inside Powertools' JSON parsing, before validation.
        return problem_response(BadRequest("The request body is not UTF-8 JSON."), _request_id(app))

    @app.exception_handler(RequestUnsupportedContentType)
    def _not_json(exc: RequestUnsupportedContentType) -> Response:
        # A body sent as text/plain, XML...: malformed for a JSON API, not a server error.
        return problem_response(BadRequest("The request body must be JSON (application/json)."), _request_id(app))

    @app.exception_handler(ValueError)
    def _unparsable(exc: ValueError) -> Response:
        # Powertools also parses form bodies; a multipart one without a boundary raises a bare
        # ValueError while parsing. Any other ValueError is a bug like any exception.
        if _raised_in(exc, "openapi_validation.py"):
            return problem_response(BadRequest("The request body cannot be parsed."), _request_id(app))
        return _bug(exc)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        errors = _field_errors(exc)
        if any(e.code == "json_invalid" for e in errors):
            return problem_response(BadRequest("The request body is not valid JSON."), _request_id(app))
        return problem_response(
            Unprocessable("The request is well-formed but not valid.", errors=errors), _request_id(app)
        )

    @app.not_found
    def _no_route(exc: NotFoundError) -> Response:
        from skucast.errors import NotFound

        return problem_response(NotFound("No such route."), _request_id(app))

    @app.exception_handler(Exception)
    def _bug(exc: Exception) -> Response:
        logger.exception("unhandled error")
        return problem_response(ProblemError("The service failed to answer."), _request_id(app))

    return app


def _raised_in(exc: BaseException, filename: str) -> bool:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_filename.endswith(filename)


def current_principal(app: APIGatewayRestResolver | APIGatewayRouter) -> Principal:
    """The verified caller; fails closed when the authorizer context is absent or incomplete.

    Takes the resolver or a router (a router shares its resolver's current event)."""
    context: dict[str, Any] = app.current_event.request_context.authorizer.raw_event or {}
    try:
        principal = Principal(
            client_id=str(context["client_id"]),
            role=str(context["role"]),
            subject=str(context["subject"]),
            kind=str(context["kind"]),
        )
    except KeyError:
        raise Unauthorized("No verified credential.") from None
    if principal.role not in ROLE_RANK or not principal.client_id:
        raise Unauthorized("No verified credential.")
    return principal


def current_tenant(app: APIGatewayRestResolver | APIGatewayRouter) -> str:
    """The verified caller's tenant id: how every route learns its tenant (never from the request)."""
    return current_principal(app).client_id


def requires(role: str) -> Callable[[APIGatewayRestResolver, NextMiddleware], Response]:
    """Route middleware: the caller's role must be at least `role` (viewer < analyst < admin)."""
    needed = ROLE_RANK[role]

    def middleware(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
        principal = current_principal(app)
        if ROLE_RANK[principal.role] < needed:
            raise Forbidden(f"This action needs the {role} role.")
        return next_middleware(app)

    return middleware


def configured_service_key() -> str:
    from skucast.repositories.secrets import service_key
    from skucast.settings import get_settings

    return service_key(get_settings())


def requires_operator(
    service_key: Callable[[], str] = configured_service_key,
) -> Callable[[APIGatewayRestResolver, NextMiddleware], Response]:
    """Route middleware: the X-Service-Key header must equal the configured key (constant time)."""

    def middleware(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
        presented = app.current_event.headers.get("x-service-key") or app.current_event.headers.get("X-Service-Key", "")
        if not presented or not hmac.compare_digest(presented.encode(), service_key().encode()):
            raise Unauthorized("A valid X-Service-Key is required.")
        return next_middleware(app)

    return middleware
