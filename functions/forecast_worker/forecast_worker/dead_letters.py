"""Entry point of DeadLetterFunction: a batch that failed every retry is recorded against its run,
so the run finishes (PARTIAL, those SKUs marked) instead of waiting forever.

A message that is no batch at all is moved to ForecastParkedQueue (alarmed) for a person to look
at: nothing is dropped silently.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from skucast.observability import logger, metrics, tracer
from skucast.repositories import queues
from skucast.schemas.messages import BatchMessage
from skucast.services import batches
from skucast.settings import get_settings

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    try:
        message = BatchMessage.model_validate_json(record.body)
    except ValidationError:
        logger.error("unreadable dead letter parked", extra={"message_id": record.message_id})
        queues.park(get_settings().parked_queue_url, record.body)
        return
    logger.append_keys(client_id=message.client_id, run_id=message.run_id, batch_id=message.batch_id)
    batches.record_dead_letter(message, get_settings())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
