"""The tenant's scheduled reforecast."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import current_tenant, requires
from skucast.schemas.forecast import Schedule, ScheduleBody
from skucast.services import scheduling
from skucast.settings import get_settings

router = APIGatewayRouter()


@router.get(
    "/schedule", summary="The scheduled reforecast", tags=["schedule"], middlewares=[requires("viewer")]
)
def get_schedule() -> Schedule:
    return scheduling.get_schedule(get_settings(), current_tenant(router))


@router.put("/schedule", summary="Set the scheduled reforecast", tags=["schedule"], middlewares=[requires("admin")])
def put_schedule(body: Annotated[ScheduleBody, Body()]) -> Schedule:
    return scheduling.put_schedule(get_settings(), current_tenant(router), body)
