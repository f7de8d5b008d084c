"""Entry point of SchedulerFunction (EventBridge schedules; the rule's Input names the task)."""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from skucast.auth.settings import get_auth_settings
from skucast.observability import logger, metrics, tracer
from skucast.services import key_rotation, scheduling
from skucast.settings import get_settings


class ScheduledTask(BaseModel):
    task: Literal["reforecast", "sweep", "signing-key"]


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = ScheduledTask.model_validate(event).task
    settings = get_settings()
    if task == "reforecast":
        return {"task": task, "started": scheduling.start_due_reforecasts(settings)}
    if task == "signing-key":
        rotation = key_rotation.rotate_if_due(settings.signing_keys_secret_id, get_auth_settings())
        return {"task": task, "rotated": rotation.rotated}
    return {"task": task, **scheduling.sweep(settings)}
