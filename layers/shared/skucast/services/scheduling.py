"""Scheduled reforecasts and the sweeper of stalled runs.

Schedules (PUT /schedule) and runs are written from issue 6 on; until then both lists are empty
and these report what they found.
"""

from __future__ import annotations

from datetime import UTC, datetime

from skucast.observability import logger
from skucast.repositories import worklists
from skucast.settings import Settings


def start_due_reforecasts(settings: Settings) -> int:
    due = worklists.due_schedules(settings.table_name, datetime.now(UTC))
    logger.info("due schedules", extra={"count": len(due)})
    return len(due)


def sweep_stalled_runs(settings: Settings) -> int:
    stalled = worklists.stalled_runs(settings.table_name, datetime.now(UTC))
    logger.info("stalled runs", extra={"count": len(stalled)})
    return len(stalled)
