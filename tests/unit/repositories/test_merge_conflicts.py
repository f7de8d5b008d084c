"""DynamoDB transaction conflicts around the tenant's merge lock, which moto never produces: the
real boto3 client with botocore's Stubber answering as DynamoDB does (no network)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from botocore.stub import Stubber

from skucast import aws
from skucast.ingestion import DemandSeries
from skucast.repositories import demand as demand_repo
from skucast.repositories import uploads as uploads_repo

TABLE = "skucast-test"


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr(demand_repo.dynamo.time, "sleep", lambda seconds: None)
    aws.reset_clients()
    with Stubber(aws.table(TABLE).meta.client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()
    aws.reset_clients()


def _cancelled(stub: Stubber, *codes: str) -> None:
    reasons: list[dict[str, Any]] = [{"Code": c} for c in codes]
    stub.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        modeled_fields={"CancellationReasons": reasons},
    )


def _round() -> None:
    series = DemandSeries(dt.date(2024, 1, 1), np.ones(3))
    owners = demand_repo.Owners(("upl_00000000000000000001",), np.ones(3, np.uint16))
    demand_repo.put_merge_round(TABLE, "cli_a", {"SKU-1": (series, owners)}, uploads_repo.fence("cli_a", "lck_mine"))


def test_given_a_merge_transaction_checking_the_lock_when_another_acquires_then_it_is_busy_not_an_error(
    stub: Stubber,
) -> None:
    stub.add_client_error("put_item", service_error_code="TransactionConflictException")
    assert uploads_repo.acquire_lock(TABLE, "cli_a", "lck_b", "upl_b", 0, 120) is False
    stub.add_client_error("put_item", service_error_code="ConditionalCheckFailedException")
    assert uploads_repo.acquire_lock(TABLE, "cli_a", "lck_b", "upl_b", 0, 120) is False
    stub.add_client_error("put_item", service_error_code="ValidationException")
    with pytest.raises(Exception, match="ValidationException"):
        uploads_repo.acquire_lock(TABLE, "cli_a", "lck_b", "upl_b", 0, 120)


def test_given_a_conflicting_request_on_the_lock_when_a_merge_round_writes_then_it_retries_then_succeeds(
    stub: Stubber,
) -> None:
    _cancelled(stub, "None", "TransactionConflict")
    _cancelled(stub, "None", "TransactionConflict")
    stub.add_response("transact_write_items", {})
    _round()


def test_given_the_lock_passed_to_another_when_a_merge_round_writes_then_fenced(stub: Stubber) -> None:
    _cancelled(stub, "None", "ConditionalCheckFailed")
    with pytest.raises(demand_repo.Fenced):
        _round()


def test_given_conflicts_that_do_not_clear_or_throttling_then_the_error_propagates(stub: Stubber) -> None:
    for _ in range(demand_repo.CONFLICT_RETRIES):
        _cancelled(stub, "None", "TransactionConflict")
    with pytest.raises(Exception, match="TransactionCanceledException"):
        _round()
    _cancelled(stub, "ThrottlingError", "None")
    with pytest.raises(Exception, match="TransactionCanceledException"):
        _round()
