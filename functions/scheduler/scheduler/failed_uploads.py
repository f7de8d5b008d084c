"""Entry point of IngestDeadLetterFunction (SQS: IngestDLQ): an upload whose S3 event failed every
retry is failed with a problem the tenant reads on GET /uploads/{id}, instead of staying
AWAITING_FILE or PROCESSING for ever (services/upload_failures.py). Its demand is not touched.

An upload a live invocation still holds raises, so the message is retried after the queue's
visibility timeout. A message that carries no S3 event is moved to ForecastParkedQueue (alarmed)
for a person to look at: nothing is dropped silently.

It lives in the scheduler's package, with the sweeper that fails stalled uploads the same way,
because that package is small (no pyarrow or numpy), and so is what this needs.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from skucast.observability import logger
from skucast.repositories import queues
from skucast.services import upload_failures
from skucast.settings import get_settings
from skucast.sqs import batch_handler


def record_handler(record: SQSRecord) -> None:
    settings = get_settings()
    try:
        upload_failures.record_dead_letter(settings, record.body)
    except upload_failures.Unreadable as exc:
        logger.error("unreadable ingest dead letter parked", extra={"message_id": record.message_id, "why": str(exc)})
        queues.park(settings.parked_queue_url, record.body)


handler = batch_handler(record_handler)
