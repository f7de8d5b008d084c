"""Planner adjustments of a run's results: adjust (If-Match) and list."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import Cursor, Limit, current_principal, current_tenant, requires
from skucast.schemas.forecast import AdjustmentList, AdjustmentRequest, SkuResult
from skucast.services import adjustments
from skucast.settings import get_settings

router = APIGatewayRouter()
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The ETag of the result as you read it (GET .../results/{sku}, or a results list item's etag).",
    ),
]


@router.post(
    "/runs/<run_id>/results/<sku>/adjustments",
    summary="Adjust a result's final forecast over a date range",
    tags=["adjustments"],
    middlewares=[requires("analyst")],
    responses={
        201: {
            "description": "the result with its new final forecast (and ETag)",
            "content": {"application/json": {"model": SkuResult}},
        },
        409: {"description": "the run has not finished, or the SKU has no forecast in it, or a limit is reached"},
        412: {"description": "If-Match is not the result's current ETag: read it again"},
        428: {"description": "If-Match is missing"},
    },
)
def adjust(
    run_id: str, sku: str, request: Annotated[AdjustmentRequest, Body()], if_match: IfMatch = None
) -> Response[SkuResult]:
    caller = current_principal(router)
    result = adjustments.adjust(
        get_settings(), caller.client_id, run_id, sku, request, if_match, by=caller.subject, by_kind=caller.kind
    )
    return Response(status_code=201, content_type="application/json", body=result, headers={"ETag": result.etag or ""})


@router.get(
    "/runs/<run_id>/results/<sku>/adjustments",
    summary="Every adjustment of a result, carried ones first, with each period's final before and after",
    tags=["adjustments"],
    middlewares=[requires("viewer")],
)
def list_adjustments(run_id: str, sku: str, limit: Limit = 100, cursor: Cursor = None) -> AdjustmentList:
    return adjustments.list_adjustments(get_settings(), current_tenant(router), run_id, sku, limit, cursor)
