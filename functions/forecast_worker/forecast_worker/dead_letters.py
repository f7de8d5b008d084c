"""Entry point of DeadLetterFunction: a batch that failed every retry is recorded against its run,
so the run finishes (PARTIAL, those SKUs marked) instead of waiting forever.

A message that is no batch at all is moved to ForecastParkedQueue (alarmed) for a person to look
at: nothing is dropped silently.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from skucast.observability import logger
from skucast.repositories import queues
from skucast.schemas.messages import BatchMessage
from skucast.services import batches
from skucast.settings import get_settings
from skucast.sqs import batch_handler


def record_handler(record: SQSRecord) -> None:
    try:
        message = BatchMessage.model_validate_json(record.body)
    except ValidationError:
        logger.error("unreadable dead letter parked", extra={"message_id": record.message_id})
        queues.park(get_settings().parked_queue_url, record.body)
        return
    logger.append_keys(client_id=message.client_id, run_id=message.run_id, batch_id=message.batch_id)
    batches.record_dead_letter(message, get_settings())


handler = batch_handler(record_handler)
