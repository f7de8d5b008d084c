"""The tenant's SKUs: catalog (demand class and history span) and stored daily demand."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import Cursor, Limit, current_tenant, requires
from skucast.schemas.demand import DemandClassName, Sku, SkuDemand, SkuList
from skucast.services import attributes, demand
from skucast.settings import get_settings

router = APIGatewayRouter()


@router.get(
    "/skus",
    summary="The SKU catalog",
    description="Filter by item attribute with `attr.<name>=<value>` query parameters (several: all must "
    "hold; values compared exactly as stored). A name no SKU holds matches nothing; a name that is not a "
    "valid attribute name is 422. A filtered page may be short (even empty) with a next_cursor: each "
    "request reads a bounded number of catalog pages. `prefix` keeps the SKUs whose name starts with it "
    "(compared exactly as stored, case included): a range of the catalog, read from its start.",
    tags=["skus"],
    middlewares=[requires("viewer")],
)
def list_skus(
    limit: Limit = 100,
    cursor: Cursor = None,
    demand_class: Annotated[DemandClassName | None, Query()] = None,
    prefix: Annotated[str, Query(max_length=1024)] = "",
) -> SkuList:
    filters = attributes.parse_filters(router.current_event.query_string_parameters)
    return demand.list_skus(get_settings(), current_tenant(router), limit, cursor, demand_class, filters, prefix)


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
