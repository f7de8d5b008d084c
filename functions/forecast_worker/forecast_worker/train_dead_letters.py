"""Entry point of TrainDeadLetterFunction: a training shard that failed every retry is settled
FAILED against its run, so the run goes on (its SKUs `training_failed`, the run PARTIAL) instead
of waiting forever. A message that is no training message is parked for a person (alarmed)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from skucast.observability import logger
from skucast.repositories import queues
from skucast.schemas.messages import TrainMessage
from skucast.services import training
from skucast.settings import get_settings
from skucast.sqs import batch_handler


def record_handler(record: SQSRecord) -> None:
    try:
        message = TrainMessage.model_validate_json(record.body)
    except ValidationError:
        logger.error("unreadable training dead letter parked", extra={"message_id": record.message_id})
        queues.park(get_settings().parked_queue_url, record.body)
        return
    logger.append_keys(client_id=message.client_id, run_id=message.run_id, shard_id=message.shard_id)
    training.record_dead_letter(message, get_settings())


handler = batch_handler(record_handler)
