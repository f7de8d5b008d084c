"""Entry point of PlannerFunction: splits a QUEUED run into batches and sends the first ones."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from skucast.observability import logger, metrics, tracer
from skucast.schemas.messages import PlanMessage
from skucast.services import batches
from skucast.settings import get_settings

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    message = PlanMessage.model_validate_json(record.body)
    logger.append_keys(client_id=message.client_id, run_id=message.run_id)
    batches.plan_run(message, get_settings())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
