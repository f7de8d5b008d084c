"""Accuracy against actuals: a run's, and the tenant's over time (issue #20, items 1-2)."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import Cursor, Limit, current_tenant, requires
from skucast.schemas.accuracy import AccuracyList, RunAccuracy
from skucast.services import scoring
from skucast.settings import get_settings

router = APIGatewayRouter()
DATE = r"^\d{4}-\d{2}-\d{2}$"  # an ISO date, nothing looser (a number is not a date)


@router.get(
    "/runs/<run_id>/accuracy",
    summary="A run's forecast, naive benchmark and final forecast scored against the actuals that arrived",
    tags=["accuracy"],
    middlewares=[requires("viewer")],
)
def run_accuracy(run_id: str) -> RunAccuracy:
    return scoring.run_accuracy(get_settings(), current_tenant(router), run_id)


@router.get(
    "/accuracy",
    summary="The tenant's forecast accuracy per calendar month of the actuals, by run, class or method",
    tags=["accuracy"],
    middlewares=[requires("viewer")],
)
def tenant_accuracy(
    limit: Limit = 100,
    cursor: Cursor = None,
    start: Annotated[str | None, Query(alias="from", pattern=DATE, description="YYYY-MM-DD")] = None,
    end: Annotated[str | None, Query(alias="to", pattern=DATE, description="YYYY-MM-DD")] = None,
    by: Annotated[Literal["run", "class", "method"], Query()] = "run",
) -> AccuracyList:
    return scoring.tenant_accuracy(get_settings(), current_tenant(router), start, end, by, limit, cursor)
