"""Integration tests: real handlers, fed the sample events in events/, against moto in-process.

The resources are created from template.yaml by the same code that provisions the local stack,
so tests and infrastructure cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from skucast import aws
from skucast.observability import metrics
from skucast.settings import get_settings
from skucast_local import moto_fast
from skucast_local.emulator import LOCAL_CREDENTIALS, REGION, Provisioned, provision
from skucast_local.template import load
from tests.conftest import ROOT, FakeContext

SERVICE_KEY = "integration-service-key-0123456789"


@pytest.fixture
def lambda_context() -> Any:
    return FakeContext()


@pytest.fixture
def provisioned(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provisioned]:
    for name, value in LOCAL_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    moto_fast.install()  # the emulator's DynamoDB, as the local stack runs it
    with mock_aws():
        template = load(ROOT / "template.yaml")
        result = provision(lambda service: boto3.client(service, region_name=REGION), "moto", template, SERVICE_KEY)
        for name, value in result.environments["ForecastApiFunction"].items():
            monkeypatch.setenv(name, value)
        _forget_cached_state()
        yield result
    _forget_cached_state()


def _forget_cached_state() -> None:
    # Services called outside a handler add metrics that no log_metrics flushes; past 100 the
    # provider serializes them with the namespace it was built without, and the next call fails.
    metrics.clear_metrics()
    aws.reset_clients()
    get_settings.cache_clear()
    parameters.clear_caches()
