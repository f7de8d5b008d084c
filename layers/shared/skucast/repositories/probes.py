"""Readiness probes: can this function reach each AWS resource it depends on?"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from skucast.aws import client


def table_ready(table_name: str) -> bool:
    try:
        status = client("dynamodb").describe_table(TableName=table_name)["Table"]["TableStatus"]
    except (ClientError, BotoCoreError):
        return False
    return status in {"ACTIVE", "UPDATING"}


def queue_ready(queue_url: str) -> bool:
    try:
        client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    except (ClientError, BotoCoreError):
        return False
    return True


def bucket_ready(bucket: str) -> bool:
    try:
        client("s3").head_bucket(Bucket=bucket)
    except (ClientError, BotoCoreError):
        return False
    return True
