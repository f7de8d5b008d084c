"""Forecast runs: start, read, list, cancel, results, a hierarchy run's nodes, export."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import Cursor, Limit, current_tenant, requires
from skucast.schemas.forecast import (
    CreateRunRequest,
    ExportLink,
    ExportRequest,
    NodeList,
    NodeResult,
    ResultList,
    Run,
    RunComparison,
    RunList,
    RunStatusQuery,
    SkuResult,
)
from skucast.services import compare, exports, hierarchy, runs
from skucast.settings import get_settings

router = APIGatewayRouter()
NodeLevel = Annotated[str | None, Query(min_length=1, max_length=64, alias="level")]
DemandClass = Annotated[
    str | None, Query(pattern="^(smooth|erratic|intermittent|lumpy|new|inactive)$", alias="demand_class")
]


@router.post(
    "/runs",
    summary="Start a forecast run",
    tags=["runs"],
    middlewares=[requires("analyst")],
    responses={
        202: {"description": "accepted", "content": {"application/json": {"model": Run}}},
        409: {"description": "the tier's concurrent-run limit is reached"},
    },
)
def start_run(request: Annotated[CreateRunRequest, Body()]) -> Response[Run]:
    key = router.current_event.headers.get("Idempotency-Key") or router.current_event.headers.get("idempotency-key")
    run = runs.create_run(get_settings(), current_tenant(router), request, idempotency_key=key)
    return Response(
        status_code=202,
        content_type="application/json",
        body=run,
        headers={"Location": f"/api/v1/forecast/runs/{run.run_id}"},
    )


@router.get("/runs", summary="List runs, newest first", tags=["runs"], middlewares=[requires("viewer")])
def list_runs(
    limit: Limit = 100, cursor: Cursor = None, status: Annotated[RunStatusQuery | None, Query()] = None
) -> RunList:
    return runs.list_runs(get_settings(), current_tenant(router), limit, cursor, status)


@router.get(
    "/runs/<run_id>",
    summary="A run with its progress and summary",
    tags=["runs"],
    middlewares=[requires("viewer")],
)
def get_run(run_id: str) -> Run:
    return runs.get_run(get_settings(), current_tenant(router), run_id)


@router.post(
    "/runs/<run_id>/cancel",
    summary="Cancel a run",
    tags=["runs"],
    middlewares=[requires("analyst")],
    responses={
        202: {"description": "cancelled", "content": {"application/json": {"model": Run}}},
        409: {"description": "the run has already finished"},
    },
)
def cancel_run(run_id: str) -> Response[Run]:
    run = runs.cancel_run(get_settings(), current_tenant(router), run_id)
    return Response(status_code=202, content_type="application/json", body=run)


@router.get(
    "/runs/<run_id>/results",
    summary="A run's results, page by page",
    tags=["runs"],
    middlewares=[requires("viewer")],
)
def list_results(
    run_id: str, limit: Limit = 100, cursor: Cursor = None, demand_class: DemandClass = None
) -> ResultList:
    return runs.list_results(get_settings(), current_tenant(router), run_id, limit, cursor, demand_class)


@router.get(
    "/runs/<run_id>/nodes",
    summary="A hierarchy run's reconciled nodes, one level (?level=total|<attribute>) or all, page by page",
    tags=["runs"],
    middlewares=[requires("viewer")],
)
def list_nodes(run_id: str, limit: Limit = 100, cursor: Cursor = None, level: NodeLevel = None) -> NodeList:
    return hierarchy.list_nodes(get_settings(), current_tenant(router), run_id, level, limit, cursor)


@router.get(
    "/runs/<run_id>/nodes/<node_id>",
    summary="One node of a hierarchy run, with its children's ids",
    tags=["runs"],
    middlewares=[requires("viewer")],
)
def get_node(run_id: str, node_id: str) -> NodeResult:
    return hierarchy.get_node(get_settings(), current_tenant(router), run_id, node_id)


@router.get(
    "/runs/<run_id>/results/<sku>",
    summary="One SKU's result (its ETag in the ETag header)",
    tags=["runs"],
    middlewares=[requires("viewer")],
    responses={200: {"description": "the result", "content": {"application/json": {"model": SkuResult}}}},
)
def get_result(run_id: str, sku: str) -> Response[SkuResult]:
    result = runs.get_result(get_settings(), current_tenant(router), run_id, sku)
    return Response(status_code=200, content_type="application/json", body=result, headers={"ETag": result.etag or ""})


@router.post(
    "/runs/<run_id>/export",
    summary="Export a finished run (presigned download)",
    tags=["runs"],
    middlewares=[requires("viewer")],
    responses={
        409: {
            "description": "the run has not finished, or a big run's export is being prepared "
            "(problem type export-preparing, with Retry-After: ask again then)"
        },
        422: {"description": "a `level` on a run without a hierarchy, or not a level of its hierarchy"},
    },
)
def export_run(run_id: str, request: Annotated[ExportRequest, Body()]) -> ExportLink:
    return exports.export_run(get_settings(), current_tenant(router), run_id, request.format, request.level)


@router.get(
    "/runs/<run_id>/compare",
    summary="Per-SKU and total deltas of this run against another (e.g. a scenario against its base)",
    tags=["runs"],
    middlewares=[requires("viewer")],
    responses={409: {"description": "one of the runs has not finished"}},
)
def compare_runs(
    run_id: str,
    to: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="the run compared against; default, for a scenario run, its base run (else 422)",
        ),
    ] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> RunComparison:
    return compare.compare_runs(get_settings(), current_tenant(router), run_id, to, limit, cursor)
