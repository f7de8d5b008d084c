"""Demand drivers (declare, list, delete, values in and out) and the tenant's calendar."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import current_tenant, requires
from skucast.schemas.demand import Upload
from skucast.schemas.drivers import (
    CalendarBody,
    CalendarOut,
    Driver,
    DriverList,
    DriverRequest,
    DriverValuesRequest,
    SkuDrivers,
)
from skucast.services import drivers, uploads
from skucast.settings import get_settings

router = APIGatewayRouter()


@router.put(
    "/drivers/<name>",
    summary="Declare a driver, or replace its settings (its values are kept)",
    tags=["drivers"],
    middlewares=[requires("admin")],
    responses={
        200: {"description": "replaced", "content": {"application/json": {"model": Driver}}},
        201: {"description": "created", "content": {"application/json": {"model": Driver}}},
    },
)
def declare_driver(name: str, request: Annotated[DriverRequest, Body()]) -> Response[Driver]:
    driver, created = drivers.declare(get_settings(), current_tenant(router), name, request)
    return Response(status_code=201 if created else 200, content_type="application/json", body=driver)


@router.get("/drivers", summary="The declared drivers", tags=["drivers"], middlewares=[requires("viewer")])
def list_drivers() -> DriverList:
    return drivers.list_drivers(get_settings(), current_tenant(router))


@router.delete(
    "/drivers/<name>",
    summary="Delete a driver and its values",
    tags=["drivers"],
    middlewares=[requires("admin")],
    responses={204: {"description": "deleted"}},
)
def delete_driver(name: str) -> Response[None]:
    drivers.delete(get_settings(), current_tenant(router), name)
    return Response(status_code=204)


@router.post(
    "/drivers/values",
    summary="Store driver values sent as JSON records (synchronous): the upload report",
    tags=["drivers"],
    middlewares=[requires("analyst")],
)
def post_driver_values(request: Annotated[DriverValuesRequest, Body()]) -> Upload:
    return uploads.ingest_driver_records(get_settings(), current_tenant(router), request)


@router.get(
    "/skus/<sku>/drivers",
    summary="A SKU's driver values",
    tags=["drivers"],
    middlewares=[requires("viewer")],
)
def get_sku_drivers(
    sku: str, start: Annotated[dt.date | None, Query()] = None, end: Annotated[dt.date | None, Query()] = None
) -> SkuDrivers:
    return drivers.get_sku_drivers(get_settings(), current_tenant(router), sku, start, end)


@router.get("/calendar", summary="The holiday codes and events", tags=["drivers"], middlewares=[requires("viewer")])
def get_calendar() -> CalendarOut:
    return drivers.get_calendar(get_settings(), current_tenant(router))


@router.put(
    "/calendar",
    summary="Replace the holiday codes and events",
    tags=["drivers"],
    middlewares=[requires("admin")],
)
def put_calendar(request: Annotated[CalendarBody, Body()]) -> CalendarOut:
    return drivers.put_calendar(get_settings(), current_tenant(router), request)
