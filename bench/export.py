"""Synchronous export cost: `uv run python -m bench.export [--skus 2000 10000]`.

Times services/exports.write_export (read every result, stream CSV or Parquet to a temp file,
upload it) against moto in-process with the template's resources, for runs of N SKUs with a
28-day horizon and the default levels, and the same pass with the writing and uploading left
out (reads only). Settings.export_sync_max_skus is chosen from these numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from typing import Any

from bench._common import emit
from bench.worker import add_tenant, moto_aws

HORIZON = 28
LEVELS = [80, 95]


def fake_result(i: int, rng: Any) -> dict[str, Any]:
    """A result shaped and sized like the worker's (forecast points, metrics, candidates)."""
    start = dt.date(2025, 1, 1)
    points = []
    for d in range(HORIZON):
        mean = float(rng.gamma(2.0, 10.0))
        points.append(
            {
                "date": (start + dt.timedelta(days=d)).isoformat(),
                "mean": mean,
                "lo_80": mean * 0.7, "hi_80": mean * 1.3, "lo_95": mean * 0.5, "hi_95": mean * 1.5,
            }
        )
    metrics = {k: float(rng.random()) for k in ("mase", "smape", "rmse", "bias", "coverage_80", "coverage_95")}
    return {
        "sku": f"SKU-{i:07d}",
        "demand_class": "smooth",
        "method": "ensemble",
        "forecast": points,
        "metrics": metrics,
        "candidates": {m: {"mase": float(rng.random())} for m in ("ets", "theta", "mstl")},
        "reason": "auto: ensemble within 20% of the best",
        "error": None,
    }


def measure(n: int) -> dict[str, Any]:
    import numpy as np

    from skucast.records import RunRecord, RunStatus
    from skucast.repositories import runs as repo
    from skucast.services import batches, exports
    from skucast.settings import get_settings

    rng = np.random.default_rng(n)
    with moto_aws() as provisioned:
        table = provisioned.resources["Table"].ref
        client_id = add_tenant(table, f"cli_bench{n}")
        run_id = "run_bench"
        shards = batches.result_shards(n)
        for lo in range(0, n, 1000):
            chunk = [fake_result(i, rng) for i in range(lo, min(n, lo + 1000))]
            repo.put_results(table, client_id, run_id, shards, chunk)
        run = RunRecord(
            run_id=run_id,
            status=RunStatus.SUCCEEDED,
            created_at="2026-01-01T00:00:00Z",
            params={"levels": LEVELS},
            result_shards=shards,
        )
        out: dict[str, Any] = {"skus": n, "rows": n * HORIZON}
        started = time.perf_counter()
        assert sum(1 for _ in repo.iter_results(table, client_id, run_id, shards)) == n
        out["read_s"] = round(time.perf_counter() - started, 2)
        for file_format in ("csv", "parquet"):
            started = time.perf_counter()
            exports.write_export(get_settings(), client_id, run, file_format)
            out[f"{file_format}_s"] = round(time.perf_counter() - started, 2)
            items = list(repo.iter_results(table, client_id, run_id, shards))
            writer = exports.write_csv if file_format == "csv" else exports.write_parquet
            with tempfile.NamedTemporaryFile() as tmp:
                started = time.perf_counter()
                writer(tmp.name, exports.export_columns(LEVELS), items, LEVELS)
                out[f"{file_format}_write_only_s"] = round(time.perf_counter() - started, 2)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skus", type=int, nargs="+", default=[2000, 10000])
    args = parser.parse_args()
    emit({"export": [measure(n) for n in args.skus]}, None)


if __name__ == "__main__":
    main()
