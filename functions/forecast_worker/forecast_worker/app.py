"""Entry point of ForecastWorkerFunction: forecasts one batch of a run per SQS record."""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from skucast.observability import logger
from skucast.schemas.messages import BatchMessage
from skucast.services import batches
from skucast.settings import get_settings
from skucast.sqs import batch_handler


def record_handler(record: SQSRecord) -> None:
    message = BatchMessage.model_validate_json(record.body)
    logger.append_keys(client_id=message.client_id, run_id=message.run_id, batch_id=message.batch_id)
    batches.process_batch(message, get_settings())


handler = batch_handler(record_handler)
