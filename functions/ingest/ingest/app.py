"""Entry point of IngestFunction (S3 ObjectCreated notifications, invoked asynchronously).

The tenant and upload come from the object key, which the presigned POST pinned under the
tenant's prefix; the upload record is then loaded by that key. Nothing else in the event is trusted.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext

from skucast.observability import logger, metrics, tracer
from skucast.services import uploads
from skucast.settings import get_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    settings = get_settings()
    handled = 0
    for record in S3Event(event).records:
        if record.s3.bucket.name != settings.data_bucket:
            logger.warning("object from an unexpected bucket ignored")
            continue
        # An exception propagates: Lambda retries the event (then its DLQ); the claim lets the
        # retry redo a half-done ingest safely.
        handled += uploads.ingest_object(
            record.s3.get_object.key, settings, lambda: context.get_remaining_time_in_millis() / 1000
        )
    return {"ingested": handled}
