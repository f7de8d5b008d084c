"""The forecasting methods and the demand classes each serves."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from skucast.api import requires
from skucast.forecasting.catalogue import list_methods
from skucast.schemas.forecast import Method, MethodList

router = APIGatewayRouter()


@router.get(
    "/methods",
    summary="Forecasting methods by demand class",
    tags=["methods"],
    middlewares=[requires("viewer")],
)
def methods() -> MethodList:
    return MethodList(
        items=[
            Method(name=m.name, description=m.description, demand_classes=list(m.demand_classes))
            for m in list_methods()
        ]
    )
