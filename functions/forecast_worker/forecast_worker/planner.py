"""Entry point of PlannerFunction: splits a QUEUED run into batches and sends the first ones."""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from skucast.observability import logger
from skucast.schemas.messages import PlanMessage
from skucast.services import batches
from skucast.settings import get_settings
from skucast.sqs import batch_handler


def record_handler(record: SQSRecord) -> None:
    message = PlanMessage.model_validate_json(record.body)
    logger.append_keys(client_id=message.client_id, run_id=message.run_id)
    batches.plan_run(message, get_settings())


handler = batch_handler(record_handler)
