from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import requires_operator
from skucast.schemas.monitoring import Health, Readiness
from skucast.services import monitoring
from skucast.settings import get_settings

router = APIGatewayRouter()


@router.get("/health", summary="Liveness", tags=["monitoring"])
def health() -> Health:
    return Health.model_validate(monitoring.health())


@router.get(
    "/ready",
    summary="Readiness of every dependency (operator)",
    tags=["monitoring"],
    middlewares=[requires_operator()],
    security=[{"serviceKey": []}],
    responses={200: {"description": "ready"}, 503: {"description": "a dependency is unavailable"}},
)
def ready() -> Response[Readiness]:
    ok, body = monitoring.readiness(get_settings())
    return Response(status_code=200 if ok else 503, content_type="application/json", body=Readiness(**body))
