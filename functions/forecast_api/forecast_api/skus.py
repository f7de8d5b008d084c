"""The tenant's SKUs: catalog (demand class and history span) and stored daily demand."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import Cursor, Limit, current_tenant, requires
from skucast.schemas.demand import DemandClassName, Sku, SkuDemand, SkuList
from skucast.services import demand
from skucast.settings import get_settings

router = APIGatewayRouter()


@router.get("/skus", summary="The SKU catalog", tags=["skus"], middlewares=[requires("viewer")])
def list_skus(
    limit: Limit = 100,
    cursor: Cursor = None,
    demand_class: Annotated[DemandClassName | None, Query()] = None,
) -> SkuList:
    return demand.list_skus(get_settings(), current_tenant(router), limit, cursor, demand_class)


@router.get("/skus/<sku>", summary="One SKU of the catalog", tags=["skus"], middlewares=[requires("viewer")])
def get_sku(sku: str) -> Sku:
    return demand.get_sku(get_settings(), current_tenant(router), sku)


@router.get(
    "/skus/<sku>/demand",
    summary="A SKU's stored daily demand",
    tags=["skus"],
    middlewares=[requires("viewer")],
)
def get_demand(
    sku: str, start: Annotated[dt.date | None, Query()] = None, end: Annotated[dt.date | None, Query()] = None
) -> SkuDemand:
    return demand.get_demand(get_settings(), current_tenant(router), sku, start, end)
