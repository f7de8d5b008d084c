"""Forecasting one batch of a run (the worker's use case)."""

from __future__ import annotations

from skucast.observability import logger
from skucast.repositories import runs
from skucast.schemas.messages import BatchMessage
from skucast.settings import Settings


def process_batch(message: BatchMessage, settings: Settings) -> None:
    run = runs.get_run(settings.table_name, message.client_id, message.run_id)
    if run is None:
        # A run that no longer exists (or never did) has nothing left to compute: acknowledge.
        logger.warning("batch for an unknown run dropped")
        return
    raise NotImplementedError("run batches are processed from issue 6 on")
