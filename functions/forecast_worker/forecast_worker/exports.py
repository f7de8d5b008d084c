"""Entry point of ExportFunction: writes a big run's export object, off the request path."""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from skucast.observability import logger
from skucast.schemas.messages import ExportMessage
from skucast.services import exports
from skucast.settings import get_settings
from skucast.sqs import batch_handler


def record_handler(record: SQSRecord) -> None:
    message = ExportMessage.model_validate_json(record.body)
    logger.append_keys(client_id=message.client_id, run_id=message.run_id, export_format=message.format)
    exports.prepare_export(get_settings(), message)


handler = batch_handler(record_handler)
