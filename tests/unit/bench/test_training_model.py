"""The AWS model of the global model's training stage (bench/aws_model.training_model): the
arithmetic only, on made-up measurements (bench/training.py itself runs minutes)."""

from __future__ import annotations

import math

from bench import aws_model


def _measured() -> dict:
    return {
        "default_shard_skus": 2000,
        "compare": {"predict_seconds_per_sku": 0.04, "explain_seconds_per_sku": 0.01},
        "memory": {
            "peak_mb_fit": {"intercept": 300.0, "per_sku": 0.5},
            "train_cpu_fit": {"intercept": 5.0, "per_sku": 0.02},
        },
    }


def test_given_shards_in_parallel_then_the_stage_takes_one_shards_time_and_costs_every_shards_seconds() -> None:
    m = aws_model.training_model(_measured())
    a = aws_model.TRAINING_ASSUMPTIONS
    assert m["shards"] == 50  # 100,000 / 2,000
    assert m["shard_train_cpu_seconds"] == 45.0  # 5 + 0.02 * 2,000
    assert m["shard_peak_mb"] == 1300  # 300 + 0.5 * 2,000
    # 50 shards fit one wave of the queue's concurrency: one shard's time (and a cold start).
    assert m["stage_seconds"] == a["cold_start_seconds"] + 45.0 + a["queue_latency_seconds"]
    gb_s = 50 * (a["cold_start_seconds"] + 45.0) * 4
    assert math.isclose(
        m["cost_usd"]["training_lambda_compute"], gb_s * aws_model.PRICES["lambda_gb_second"], rel_tol=1e-3
    )
    # Prediction: 0.04 s a SKU on 2 GB workers, and 0.01 s of explanations for every SKU (the bound).
    assert a["explained_share"] == 1.0
    assert m["prediction_lambda_seconds"] == 5000
    assert math.isclose(m["total_usd"], sum(m["cost_usd"].values()), abs_tol=1e-3)


def test_given_more_shards_than_the_concurrency_then_they_train_in_waves() -> None:
    m = aws_model.training_model(_measured(), shard_skus=100)  # 1,000 shards, 500 at once
    a = aws_model.TRAINING_ASSUMPTIONS
    assert m["shards"] == 1000
    assert m["stage_seconds"] == 2 * (a["cold_start_seconds"] + 7.0) + a["queue_latency_seconds"]
