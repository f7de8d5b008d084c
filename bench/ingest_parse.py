"""Benchmark: ingest_file against pyarrow reading the same CSV alone (not a test).

Generates a 1,000,000-row CSV (10,000 SKUs x 100 days) in a temp dir, then times, in this process,
`pyarrow.csv.read_csv` and `ingest_file` over several repetitions and prints medians, rows/s and
the ratio (target <= 3x). AWS writes are not part of this.

    uv run python bench/ingest_parse.py [--reps 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "shared"))

from skucast.ingestion import IngestLimits, IngestStatus, ingest_file

SKUS, DAYS = 10_000, 100


def write_csv(path: Path) -> int:
    rng = np.random.default_rng(7)
    start = np.datetime64("2024-01-01")
    dates = np.datetime_as_string(start + np.arange(DAYS)).astype(object)
    quantities = rng.poisson(3, size=(SKUS, DAYS))
    with path.open("w", encoding="utf-8") as out:
        out.write("sku,date,quantity\n")
        for i in range(SKUS):
            sku = f"SKU-{i:05d}"
            out.write("".join(f"{sku},{dates[d]},{quantities[i, d]}\n" for d in range(DAYS)))
    return SKUS * DAYS


def median_times(runs: dict[str, object], reps: int) -> dict[str, float]:
    """Interleave the contenders so that noise from a shared machine hits both alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(reps):
        for name, run in runs.items():
            began = time.perf_counter()
            run()  # type: ignore[operator]
            times[name].append(time.perf_counter() - began)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demand.csv"
        rows = write_csv(path)
        print(f"file: {rows:,} rows, {path.stat().st_size / 1e6:.1f} MB")
        limits = IngestLimits()
        today = dt.date(2024, 12, 31)

        def ingest() -> None:
            with path.open("rb") as stream:
                result = ingest_file(stream, aggregate="reject", limits=limits, today=today)
            assert result.status is IngestStatus.SUCCEEDED and result.rows_accepted == rows, result.report()

        medians = median_times({"arrow": lambda: pacsv.read_csv(path), "ours": ingest}, args.reps)
        arrow, ours = medians["arrow"], medians["ours"]
        print(f"pyarrow.csv.read_csv : {arrow * 1000:8.1f} ms  {rows / arrow:14,.0f} rows/s")
        print(f"ingest_file          : {ours * 1000:8.1f} ms  {rows / ours:14,.0f} rows/s")
        print(f"ratio                : {ours / arrow:8.2f}x (target <= 3x)")


if __name__ == "__main__":
    main()
