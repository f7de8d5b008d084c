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
        "sqs": "ok"
        if all(probes.queue_ready(url) for url in (settings.plan_queue_url, settings.forecast_queue_url))
        else "unavailable",
        "s3": "ok" if probes.bucket_ready(settings.data_bucket) else "unavailable",
    }
    ready = all(v == "ok" for v in checks.values())
    return ready, {"status": "ready" if ready else "not_ready", "checks": checks}
