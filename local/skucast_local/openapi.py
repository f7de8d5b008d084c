"""Builds the OpenAPI 3.1 document from every API function's resolver, as template.yaml routes them.

Each function's code is deployed alone, so no single Lambda can import the others' routes at run
time: the document is generated here (`make openapi`) and committed beside the docs handler; a
test fails when it drifts from the code or from the template.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer

from skucast_local import generated
from skucast_local.template import Template

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "functions" / "forecast_api" / "forecast_api" / "openapi.json"
TENANT_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKey": []}]
SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": HTTPBearer(bearerFormat="JWT", description="Access token from POST /api/auth/login (15 minutes)."),
    "apiKey": APIKey.model_validate(
        {
            "in": APIKeyIn.header,
            "name": "X-Api-Key",
            "description": "A tenant integration key (POST /api/auth/api-keys).",
        }
    ),
    "serviceKey": APIKey.model_validate(
        {"in": APIKeyIn.header, "name": "X-Service-Key", "description": "The platform operator's key."}
    ),
}


PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem document",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "request_id": {"type": ["string", "null"]},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "code", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}
PROBLEMS = {
    "400": "Malformed request",
    "401": "Not authenticated",
    "403": "Role too low",
    "404": "Not found (including every resource of another tenant)",
    "409": "Conflict",
    "413": "Body or file too large",
    "422": "Well-formed but invalid",
    "429": "Throttled (see Retry-After)",
}
# Answers that are not JSON models: the documentation page, and the document itself.
MEDIA = {
    ("get", "/api/docs"): {"text/html": {"schema": {"type": "string"}}},
    ("get", "/api/openapi.json"): {"application/json": {"schema": {"type": "object"}}},
}


def _problem_responses(operation: dict[str, Any], codes: list[str]) -> None:
    """Every 4xx is a problem document (Powertools would give a route's own error answers the
    route's return model); a route's own description of the error is kept."""
    responses = operation.setdefault("responses", {})
    for code in sorted({*codes, *(c for c in responses if c.startswith("4"))}):
        responses[code] = {
            "description": (responses.get(code) or {}).get("description") or PROBLEMS.get(code, "Client error"),
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }


def _document_success(app: Any) -> None:
    """A route that lists its error answers gets its success answer documented too (Powertools
    documents the return model only for routes that list no `responses`)."""
    for route in [*app._static_routes, *app._dynamic_routes]:
        if route.responses and not any(200 <= int(code) < 300 for code in route.responses):
            route.responses = {route.status_code: {"description": "Successful Response"}, **route.responses}


def _resolvers(template: Template) -> list[Any]:
    """The resolver (`app`) of every function that serves API routes."""
    serving = sorted({r.function for r in template.routes})
    apps = []
    for name in serving:
        fn = template.functions[name]
        sys.path.insert(0, str(template.root / fn.code_uri))
        module = importlib.import_module(fn.handler.rsplit(".", 1)[0])
        apps.append(module.app)
    return apps


def build(template: Template) -> dict[str, Any]:
    from skucast import __version__

    merge = OpenAPIMerge(
        title="skucast API",
        version=__version__,
        description="Multi-tenant demand forecasting. Errors are RFC 9457 problem documents.",
        security_schemes=SECURITY_SCHEMES,
        on_conflict="error",
    )
    for app in _resolvers(template):
        _document_success(app)
        merge.add_schema(
            json.loads(app.get_openapi_json_schema(title="skucast API", security_schemes=SECURITY_SCHEMES))
        )
    document: dict[str, Any] = json.loads(merge.get_openapi_json_schema())
    protected = {(r.method.lower(), r.path) for r in template.routes if r.authorizer}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            # Our errors are problem documents, not Powertools' HTTPValidationError. A body may be
            # malformed (400) or larger than the gateway takes (413).
            with_body = method in ("post", "put", "patch")
            codes = ["400", "413", "422"] if with_body else ["422"] if "{" in path else []
            if (method, path) in protected:
                operation["security"] = TENANT_SECURITY
                codes = ["400", "401", "403", "404", "422", "429", *(["413"] if with_body else [])]
            elif operation.get("security"):
                codes = ["401", *codes]
            responses = operation.get("responses", {})
            responses.pop("422", None)
            if "204" in responses:
                responses["204"].pop("content", None)  # no body
            if (method, path) in MEDIA:
                responses["200"]["content"] = MEDIA[(method, path)]
            _problem_responses(operation, codes)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    # Powertools' own validation-error schemas: nothing refers to them (ResponseValidationError
    # would leave a dangling $ref to ValidationError once that is removed).
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(unused, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    return document


def render(template: Template) -> str:
    return json.dumps(build(template), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    return generated.main(argv, 'Generate the OpenAPI document.', OUTPUT, render)


if __name__ == "__main__":
    sys.exit(main())
