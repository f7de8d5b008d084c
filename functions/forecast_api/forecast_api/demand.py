"""Demand as JSON records: the synchronous door into the same validation and merge as files."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import current_tenant, requires
from skucast.schemas.demand import DemandRecordsRequest, Upload
from skucast.services import uploads
from skucast.settings import get_settings

router = APIGatewayRouter()


@router.post(
    "/demand",
    summary="Send up to 10,000 demand records; answers the upload report",
    tags=["demand"],
    middlewares=[requires("analyst")],
    responses={
        409: {"description": "another upload of this client is being merged: retry in a few seconds"},
        413: {"description": "more than 10,000 records"},
    },
)
def post_demand(request: Annotated[DemandRecordsRequest, Body()]) -> Upload:
    return uploads.ingest_demand_records(get_settings(), current_tenant(router), request)
