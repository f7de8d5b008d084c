"""The run pipeline under faults: DynamoDB throttling, poison series. Final state must be exact."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from botocore.awsrequest import AWSResponse
from botocore.handlers import BUILTIN_HANDLERS
from moto.core.botocore_stubber import MockRawResponse

from skucast import aws
from skucast.forecasting.engine import ForecastSpec, SeriesInput, forecast_batch
from skucast_local.emulator import Provisioned
from tests.integration.pipeline import RUN, Pipeline, demand_mix, read_results, read_run, start_run

THROTTLED = (
    b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",'
    b'"message":"The level of configured provisioned throughput for the table was exceeded."}'
)


class Throttle:
    """Answers a share of DynamoDB requests with a throttling error, before moto sees them: the
    clients' retries, and past them the queue's redelivery, must absorb it."""

    def __init__(self, share: float, seed: int = 3) -> None:
        self.share, self.rng, self.count = share, random.Random(seed), 0

    def __call__(self, request: Any, **kwargs: Any) -> AWSResponse | None:
        if "dynamodb" not in request.url or self.rng.random() >= self.share:
            return None
        self.count += 1
        headers = {"x-amzn-RequestId": "throttle", "Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, 400, headers, MockRawResponse(THROTTLED))


@pytest.fixture
def throttle() -> Iterator[Throttle]:
    hook = Throttle(share=0.3)
    BUILTIN_HANDLERS.insert(0, ("before-send", hook))  # ahead of moto's stubber
    aws.reset_clients()  # clients pick handlers up when created
    yield hook
    BUILTIN_HANDLERS.remove(("before-send", hook))
    aws.reset_clients()


def test_given_throttled_dynamodb_when_a_run_goes_through_then_the_final_state_is_exact(
    provisioned: Provisioned, lambda_context: Any, throttle: Throttle
) -> None:
    pipe = Pipeline(provisioned, lambda_context)
    client = "cli_throttled"
    throttle.share = 0.0  # set-up is not under test
    pipe.tenant(client)
    series = demand_mix(120, seed=5)
    pipe.store(client, series)
    run = start_run(pipe, client)
    throttle.share = 0.3
    pipe.drain()
    throttle.share = 0.0
    assert throttle.count >= 5, "the fault was injected"
    done = read_run(pipe, client, run["run_id"])
    assert done["status"] == "SUCCEEDED", done
    assert done["progress"] == {"skus_total": 120, "skus_done": 120, "skus_failed": 0}
    got = {r["sku"]: r for r in read_results(pipe, client, run["run_id"])}
    spec = ForecastSpec(horizon=14, frequency="D", levels=(80, 95), method="auto", backtest_windows=1)
    for e in forecast_batch([SeriesInput(s, dt.date(2024, 1, 1), v) for s, v in series.items()], spec):
        np.testing.assert_allclose([p["mean"] for p in got[e.sku]["forecast"]], [p["mean"] for p in e.forecast])


def _run_healthy_and_poison(
    pipe: Pipeline, tenant: str, healthy: dict[str, np.ndarray], poison: dict[str, np.ndarray]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A new tenant stores both kinds and runs them together to the end: the finished run and its
    results by SKU."""
    client = pipe.tenant(tenant)
    pipe.store(client, {**healthy, **poison})
    run = start_run(pipe, client, {**RUN, "skus": [*healthy, *poison]})
    pipe.drain()
    results = {r["sku"]: r for r in read_results(pipe, client, run["run_id"])}
    return read_run(pipe, client, run["run_id"]), results


def test_given_poison_series_when_run_then_each_gets_a_fallback_or_its_own_error_and_counts_are_exact(
    provisioned: Provisioned, lambda_context: Any
) -> None:
    healthy = demand_mix(6, seed=9)
    poison = {
        "ONE-POINT": np.array([5.0]),
        "ALL-ZERO": np.zeros(200),
        "SPIKE": np.concatenate([np.ones(199), [1e9]]),
        "NAN": np.concatenate([np.ones(100), [np.nan], np.ones(99)]),
    }
    done, by_sku = _run_healthy_and_poison(Pipeline(provisioned, lambda_context), "cli_poison_skus", healthy, poison)
    assert set(by_sku) == {*healthy, *poison}
    errors = {s for s, r in by_sku.items() if r["error"]}
    assert errors <= set(poison), "a poison series never fails a healthy one"
    for sku, result in by_sku.items():
        assert result["error"] or len(result["forecast"]) == 14, sku
        for point in result["forecast"]:
            assert 0 <= point["lo_95"] <= point["lo_80"] <= point["mean"] <= point["hi_80"] <= point["hi_95"], sku
    assert done["progress"] == {"skus_total": 10, "skus_done": 10 - len(errors), "skus_failed": len(errors)}
    assert done["status"] == ("PARTIAL" if errors else "SUCCEEDED")


def test_given_stored_series_whose_forecast_the_store_cannot_hold_then_each_fails_alone_not_its_batch(
    provisioned: Provisioned, lambda_context: Any
) -> None:
    # Series stored before ingestion bounded quantities (or any result out of DynamoDB's number
    # range): 1e307s overflow, 1e-200s underflow DynamoDB's numbers in the batch's metric sums.
    healthy = demand_mix(4, seed=5)
    poison = {"HUGE": np.full(120, 1e307), "TINY": np.full(120, 1e-200)}
    done, by_sku = _run_healthy_and_poison(Pipeline(provisioned, lambda_context), "cli_unstorable", healthy, poison)
    assert {s: r["error"]["code"] for s, r in by_sku.items() if r["error"]} == {
        "HUGE": "result_not_storable",
        "TINY": "result_not_storable",
    }
    assert all(len(by_sku[s]["forecast"]) == 14 for s in healthy)
    assert done["status"] == "PARTIAL"
    assert done["progress"] == {"skus_total": 6, "skus_done": 4, "skus_failed": 2}
    assert done["summary"]["by_class"] and done["summary"]["metrics"]
