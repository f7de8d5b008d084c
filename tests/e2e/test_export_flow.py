"""A big run's export through the local stack: prepared by ExportFunction, awaited by the client.

The stack is started with a low SKUCAST_EXPORT_SYNC_MAX_SKUS so a few SKUs count as big.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from skucast_client import Client

from skucast_local.sample_data import generate
from tests.e2e.conftest import RunningStack, start_stack, stop_stack
from tests.e2e.routes import Tenant

pytestmark = pytest.mark.e2e
N_SKUS, HORIZON, SYNC_MAX = 8, 7, 3


@pytest.fixture(scope="module")
def small_limit_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("export-stack"), SKUCAST_EXPORT_SYNC_MAX_SKUS=str(SYNC_MAX))
    yield running
    stop_stack(running)


def test_given_a_run_above_the_sync_limit_then_export_answers_409_and_the_client_waits_for_200(
    small_limit_stack: RunningStack, tmp_path: Path
) -> None:
    stack = small_limit_stack
    tenant = Tenant.sign_up(stack, tier="enterprise")
    with Client(stack.api, email=tenant.email, password=tenant.password) as sc:
        assert sc.upload_demand(generate(N_SKUS, seed=5).frame, poll_interval=0.5)["status"] == "SUCCEEDED"
        run_id = sc.forecast(horizon=HORIZON, progress=False, poll_interval=0.5).attrs["run"]["run_id"]

        r = httpx.post(
            f"{stack.api}/api/v1/forecast/runs/{run_id}/export",
            json={"format": "csv"},
            headers={"Authorization": f"Bearer {sc.access_token}"},
            timeout=60,
        )
        assert r.status_code == 409, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/export-preparing") and int(r.headers["Retry-After"]) >= 1

        path = sc.export(run_id, tmp_path / "big.csv", "csv", timeout=300)
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len({row["sku"] for row in rows}) == N_SKUS and len(rows) == N_SKUS * HORIZON

        frame = sc.export_frame(run_id, "parquet")  # another format: another job, awaited the same way
        assert len(frame) == N_SKUS * HORIZON
    stats = stack.stats()
    assert stats.get("invoke.ExportFunction.ok", 0) >= 2 and not stats.get("invoke.ExportFunction.error")
