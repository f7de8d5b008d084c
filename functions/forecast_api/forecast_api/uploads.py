"""Demand uploads: create (presigned POST), read, list."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import Cursor, Limit, current_tenant, requires
from skucast.schemas.demand import CreateUploadRequest, Upload, UploadList, UploadTicket
from skucast.services import uploads
from skucast.settings import get_settings

router = APIGatewayRouter()


@router.post(
    "/uploads",
    summary="Start an upload: a presigned POST for the demand file",
    tags=["demand"],
    middlewares=[requires("analyst")],
    responses={201: {"description": "created", "content": {"application/json": {"model": UploadTicket}}}},
)
def create_upload(request: Annotated[CreateUploadRequest, Body()]) -> Response[UploadTicket]:
    ticket = uploads.create_upload(get_settings(), current_tenant(router), request)
    return Response(
        status_code=201,
        content_type="application/json",
        body=ticket,
        headers={"Location": f"/api/v1/forecast/uploads/{ticket.upload_id}"},
    )


@router.get("/uploads", summary="List uploads, newest first", tags=["demand"], middlewares=[requires("viewer")])
def list_uploads(limit: Limit = 100, cursor: Cursor = None) -> UploadList:
    return uploads.list_uploads(get_settings(), current_tenant(router), limit, cursor)


@router.get(
    "/uploads/<upload_id>",
    summary="An upload's status and report",
    tags=["demand"],
    middlewares=[requires("viewer")],
)
def get_upload(upload_id: str) -> Upload:
    return uploads.get_upload(get_settings(), current_tenant(router), upload_id)
