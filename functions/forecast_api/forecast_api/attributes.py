"""Item attributes (JSON door, names, a SKU's versioned attributes) and hierarchy declarations."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import current_tenant, requires
from skucast.schemas.attributes import (
    AttributeNames,
    AttributeRecordsRequest,
    Hierarchy,
    HierarchyList,
    HierarchyRequest,
    SkuAttributes,
)
from skucast.schemas.demand import Upload
from skucast.services import attributes, uploads
from skucast.settings import get_settings

router = APIGatewayRouter()


@router.post(
    "/attributes",
    summary="Store item attributes sent as JSON records (synchronous): the upload report",
    tags=["attributes"],
    middlewares=[requires("analyst")],
)
def post_attributes(request: Annotated[AttributeRecordsRequest, Body()]) -> Upload:
    return uploads.ingest_attribute_records(get_settings(), current_tenant(router), request)


@router.get(
    "/attributes",
    summary="The attribute names SKUs hold, and the tenant's attribute version",
    tags=["attributes"],
    middlewares=[requires("viewer")],
)
def list_attributes() -> AttributeNames:
    return attributes.list_names(get_settings(), current_tenant(router))


@router.get(
    "/skus/<sku>/attributes",
    summary="A SKU's attributes, now or as of an attribute version, with its kept changes",
    tags=["attributes"],
    middlewares=[requires("viewer")],
)
def get_sku_attributes(
    sku: str,
    version: Annotated[
        int | None, Query(ge=0, description="an attribute version: the attributes as they were then")
    ] = None,
) -> SkuAttributes:
    return attributes.get_sku_attributes(get_settings(), current_tenant(router), sku, version)


@router.put(
    "/hierarchies/<name>",
    summary="Declare a hierarchy (attribute levels, top to bottom), or replace its levels",
    tags=["attributes"],
    middlewares=[requires("admin")],
    responses={
        200: {"description": "replaced", "content": {"application/json": {"model": Hierarchy}}},
        201: {"description": "created", "content": {"application/json": {"model": Hierarchy}}},
    },
)
def declare_hierarchy(name: str, request: Annotated[HierarchyRequest, Body()]) -> Response[Hierarchy]:
    hierarchy, created = attributes.declare_hierarchy(get_settings(), current_tenant(router), name, request)
    return Response(status_code=201 if created else 200, content_type="application/json", body=hierarchy)


@router.get("/hierarchies", summary="The declared hierarchies", tags=["attributes"], middlewares=[requires("viewer")])
def list_hierarchies() -> HierarchyList:
    return attributes.list_hierarchies(get_settings(), current_tenant(router))


@router.delete(
    "/hierarchies/<name>",
    summary="Delete a hierarchy declaration",
    tags=["attributes"],
    middlewares=[requires("admin")],
    responses={204: {"description": "deleted"}},
)
def delete_hierarchy(name: str) -> Response[None]:
    attributes.delete_hierarchy(get_settings(), current_tenant(router), name)
    return Response(status_code=204)
