"""Forecast runs: one item per run under the tenant's partition."""

from __future__ import annotations

from typing import Any

from skucast.aws import table
from skucast.repositories.keys import run_sk, tenant_pk


def get_run(table_name: str, client_id: str, run_id: str) -> dict[str, Any] | None:
    item = table(table_name).get_item(Key={"pk": tenant_pk(client_id), "sk": run_sk(run_id)}).get("Item")
    return dict(item) if item else None
