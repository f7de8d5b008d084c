"""The one shape of every SQS-triggered entry point: Powertools BatchProcessor with partial batch
responses, so a record whose handler raises is reported in batchItemFailures and only it is
retried (and, after maxReceiveCount, dead-lettered) while the rest of the batch succeeds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from skucast.observability import logger, metrics, tracer

LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def batch_handler(record_handler: Callable[[SQSRecord], None]) -> LambdaHandler:
    processor = BatchProcessor(event_type=EventType.SQS)

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return dict(
            process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
        )

    return handler
