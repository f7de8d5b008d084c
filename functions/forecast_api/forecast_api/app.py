"""Entry point of ForecastApiFunction: one resolver, a router per area."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from forecast_api import (
    accuracy,
    adjustments,
    alerts,
    attributes,
    demand,
    docs,
    drivers,
    methods,
    monitoring,
    runs,
    schedule,
    skus,
    uploads,
)
from skucast.api import create_app
from skucast.observability import logger, metrics, tracer

app = create_app()
app.include_router(monitoring.router, prefix="/api/monitoring")
app.include_router(docs.router, prefix="/api")
for area in (runs, adjustments, accuracy, alerts, methods, schedule, uploads, demand, skus, drivers, attributes):
    app.include_router(area.router, prefix="/api/v1/forecast")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
