"""Health (the process answers) and readiness (every dependency answers)."""

from __future__ import annotations

from typing import Any

from skucast import __version__
from skucast.repositories import probes
from skucast.settings import Settings


def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


def readiness(settings: Settings) -> tuple[bool, dict[str, Any]]:
    checks = {
        "dynamodb": "ok" if probes.table_ready(settings.table_name) else "unavailable",
        "sqs": "ok" if all(probes.queue_ready(url) for url in _queues_the_api_sends_to(settings)) else "unavailable",
        "s3": "ok" if probes.bucket_ready(settings.data_bucket) else "unavailable",
    }
    ready = all(v == "ok" for v in checks.values())
    return ready, {"status": "ready" if ready else "not_ready", "checks": checks}


def _queues_the_api_sends_to(settings: Settings) -> tuple[str, ...]:
    # runs are planned through PlanQueue, big exports written through ExportQueue; the API's
    # cancel and the planner send to ForecastQueue
    return (settings.plan_queue_url, settings.forecast_queue_url, settings.export_queue_url)
