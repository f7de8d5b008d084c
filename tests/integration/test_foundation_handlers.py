"""The real handlers, fed the sample events from events/, against template-built moto resources."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from pydantic import ValidationError

from skucast_local.emulator import Provisioned
from tests.conftest import load_event, response_header
from tests.integration.conftest import SERVICE_KEY


def _ready_event(key: str | None) -> dict[str, Any]:
    event = load_event("api_ready.json")
    event["headers"] = {"X-Service-Key": key} if key else {}
    event["multiValueHeaders"] = {"X-Service-Key": [key]} if key else {}
    return event


def test_given_health_event_when_handled_then_ok_with_version(provisioned: Provisioned, lambda_context: Any) -> None:
    from forecast_api.app import handler

    response = handler(load_event("api_health.json"), lambda_context)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"status": "ok", "version": "0.1.0"}


def test_given_operator_key_when_every_resource_exists_then_ready(
    provisioned: Provisioned, lambda_context: Any
) -> None:
    from forecast_api.app import handler

    response = handler(_ready_event(SERVICE_KEY), lambda_context)
    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"]) == {
        "status": "ready",
        "checks": {"dynamodb": "ok", "sqs": "ok", "s3": "ok"},
    }


def test_given_a_missing_table_when_checking_readiness_then_503_names_it(
    provisioned: Provisioned, lambda_context: Any
) -> None:
    from forecast_api.app import handler

    boto3.client("dynamodb", region_name="us-east-1").delete_table(TableName=provisioned.resources["Table"].ref)
    response = handler(_ready_event(SERVICE_KEY), lambda_context)
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["checks"] == {"dynamodb": "unavailable", "sqs": "ok", "s3": "ok"}


def test_given_a_missing_export_queue_when_checking_readiness_then_503_names_sqs(
    provisioned: Provisioned, lambda_context: Any
) -> None:
    from forecast_api.app import handler

    boto3.client("sqs", region_name="us-east-1").delete_queue(QueueUrl=provisioned.resources["ExportQueue"].ref)
    response = handler(_ready_event(SERVICE_KEY), lambda_context)
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["checks"] == {"dynamodb": "ok", "sqs": "unavailable", "s3": "ok"}


@pytest.mark.parametrize("key", [None, "wrong-key", SERVICE_KEY + "x"])
def test_given_no_or_wrong_service_key_when_checking_readiness_then_401(
    provisioned: Provisioned, lambda_context: Any, key: str | None
) -> None:
    from forecast_api.app import handler

    response = handler(_ready_event(key), lambda_context)
    assert response["statusCode"] == 401
    assert response_header(response, "Content-Type") == "application/problem+json"


def test_given_a_batch_with_a_poison_record_when_processed_then_only_it_fails(
    provisioned: Provisioned, lambda_context: Any
) -> None:
    from forecast_worker.app import handler

    event = load_event("sqs_forecast_batch.json")
    result = handler(event, lambda_context)
    poison = event["Records"][1]["messageId"]
    assert result == {"batchItemFailures": [{"itemIdentifier": poison}]}


def test_given_an_object_without_upload_record_when_ingesting_then_nothing_is_ingested(
    provisioned: Provisioned, lambda_context: Any
) -> None:
    from ingest.app import handler

    event = load_event("s3_object_created.json")
    assert handler(event, lambda_context) == {"ingested": 0}


def test_given_an_object_of_another_bucket_when_ingesting_then_it_is_ignored(
    provisioned: Provisioned, lambda_context: Any
) -> None:
    from ingest.app import handler

    event = load_event("s3_object_created.json")
    event["Records"][0]["s3"]["bucket"]["name"] = "someone-elses-bucket"
    assert handler(event, lambda_context) == {"ingested": 0}


@pytest.mark.parametrize("name", ["schedule_reforecast.json", "schedule_sweep.json"])
def test_given_a_schedule_event_when_nothing_is_due_then_nothing_starts(
    provisioned: Provisioned, lambda_context: Any, name: str
) -> None:
    from scheduler.app import handler

    result = handler(load_event(name), lambda_context)
    assert result["task"] == load_event(name)["task"]
    assert result.get("started", result.get("failed")) == 0


def test_given_an_unknown_task_when_scheduled_then_the_invocation_fails(
    provisioned: Provisioned, lambda_context: Any
) -> None:
    from scheduler.app import handler

    with pytest.raises(ValidationError):
        handler({"task": "delete-everything"}, lambda_context)
