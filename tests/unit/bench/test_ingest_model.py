"""The AWS model of ingestion at its SKU limit (bench/aws_model.ingest_model) from the fit of
bench/ingest_skus.py: the arithmetic only, on made-up measurements (the bench itself runs minutes
on moto and is not part of the suite)."""

from __future__ import annotations

from typing import Any

from bench import aws_model
from bench.ingest_skus import fit


def _runs() -> list[dict[str, Any]]:
    """Three sizes on exact lines: 0.2 ms of moto and 0.3 ms of client CPU a SKU, a call pair a round."""
    runs = []
    for n in (10_000, 20_000, 40_000):
        rounds = -(-n // 98)
        runs.append(
            {
                "skus": n,
                "file_bytes": 25 * n,
                "wall_seconds": 1 + 0.001 * n,
                "cpu_seconds": 1 + 0.0005 * n,
                "parse_validate_seconds": 0.5 + 0.000001 * n,
                "moto_seconds": 0.0002 * n,
                "client_seconds": 0.5 + 0.0003 * n,
                "calls": {"BatchGetItem": rounds, "TransactWriteItems": rounds, "GetItem": 2, "s3:GET": 1},
            }
        )
    return runs


def test_given_exact_lines_then_the_fit_recovers_them_and_the_model_adds_cpu_and_round_trips() -> None:
    measured = {"runs": _runs(), "limit": 500_000}
    measured["fit"] = fit(measured["runs"])
    assert abs(measured["fit"]["client_seconds"]["per_sku"] - 0.0003) < 1e-9
    assert abs(measured["fit"]["calls"]["TransactWriteItems"]["per_sku"] - 1 / 98) < 1e-4

    model = aws_model.ingest_model(measured)
    cases = {(c["skus"], c["scenario"]): c for c in model["cases"]}
    assert set(cases) == {(n, s) for n in (500_000, 1_000_000, 5_000_000) for s in ("central", "pessimistic")}
    central = cases[(500_000, "central")]
    latency = aws_model.INGEST_ASSUMPTIONS["latency_seconds"]["central"]
    round_trips = 500_000 / 98 * (latency["BatchGetItem"] + latency["TransactWriteItems"]) + 2 * latency["other"]
    assert abs(central["parts_seconds"]["dynamodb_round_trips"] - round_trips) < 2
    assert abs(central["parts_seconds"]["client_cpu"] - (0.5 + 0.0003 * 500_000)) < 1
    total = max(sum(central["parts_seconds"].values()), central["write_rate_floor_seconds"])
    assert abs(central["seconds"] - total) < 0.5
    assert not cases[(5_000_000, "central")]["fits"]  # 5,000,000 SKUs cannot merge in one invocation
    assert cases[(5_000_000, "central")]["write_rate_floor_seconds"] == 2 * 5_000_000 / 4_000
