"""The OpenAPI document (generated at build time from every function's routes) and its viewer."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

router = APIGatewayRouter()
OPENAPI_FILE = Path(__file__).with_name("openapi.json")
_SWAGGER_ASSETS = Path(generate_swagger_html.__code__.co_filename).parent


@lru_cache(maxsize=1)
def _document() -> str:
    return OPENAPI_FILE.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _page() -> str:
    js = (_SWAGGER_ASSETS / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    css = (_SWAGGER_ASSETS / "swagger-ui.min.css").read_text(encoding="utf-8")
    # Assets inline: the page works with no network, as the document does.
    return generate_swagger_html(_document().replace("</", "<\\/"), js, css, "", None)


@router.get("/openapi.json", summary="The OpenAPI 3.1 document of this API", tags=["documentation"])
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type="application/json", body=_document())


@router.get("/docs", summary="Interactive API documentation", tags=["documentation"])
def docs_page() -> Response[str]:
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=_page())
