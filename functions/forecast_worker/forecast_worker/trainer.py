"""Entry point of TrainFunction: trains one training shard of a run's global model per SQS record."""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from skucast.observability import logger
from skucast.schemas.messages import TrainMessage
from skucast.services import training
from skucast.settings import get_settings
from skucast.sqs import batch_handler


def record_handler(record: SQSRecord) -> None:
    message = TrainMessage.model_validate_json(record.body)
    logger.append_keys(client_id=message.client_id, run_id=message.run_id, shard_id=message.shard_id)
    training.train_shard(message, get_settings())


handler = batch_handler(record_handler)
