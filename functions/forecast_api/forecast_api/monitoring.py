from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import requires_operator
from skucast.repositories.secrets import secret_string
from skucast.schemas.monitoring import Health, Readiness
from skucast.services import monitoring
from skucast.settings import get_settings

router = APIGatewayRouter()


def _service_key() -> str:
    settings = get_settings()
    return secret_string(settings.service_key_secret_id, settings.secret_cache_seconds)


@router.get("/health", summary="Liveness", tags=["monitoring"])
def health() -> Health:
    return Health.model_validate(monitoring.health())


@router.get(
    "/ready",
    summary="Readiness of every dependency (operator)",
    tags=["monitoring"],
    middlewares=[requires_operator(_service_key)],
    security=[{"serviceKey": []}],
    responses={200: {"description": "ready"}, 503: {"description": "a dependency is unavailable"}},
)
def ready() -> Response[Readiness]:
    ok, body = monitoring.readiness(get_settings())
    return Response(status_code=200 if ok else 503, content_type="application/json", body=Readiness(**body))
