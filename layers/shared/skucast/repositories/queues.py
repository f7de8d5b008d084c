"""Queue messages carry ids only (claim check); the tenant is the message group, for fair queues."""

from __future__ import annotations

from skucast.aws import client
from skucast.schemas.messages import BatchMessage, ExportMessage, PlanMessage, TrainMessage


def _send(queue_url: str, message: BatchMessage | ExportMessage | PlanMessage | TrainMessage) -> None:
    client("sqs").send_message(
        QueueUrl=queue_url, MessageBody=message.model_dump_json(), MessageGroupId=message.client_id
    )


def send_plan(queue_url: str, message: PlanMessage) -> None:
    _send(queue_url, message)


def send_batch(queue_url: str, message: BatchMessage) -> None:
    _send(queue_url, message)


def send_train(queue_url: str, message: TrainMessage) -> None:
    _send(queue_url, message)


def send_export(queue_url: str, message: ExportMessage) -> None:
    _send(queue_url, message)


def park(queue_url: str, body: str) -> None:
    """Keep a message nobody can process, as it came, for a person to inspect."""
    client("sqs").send_message(QueueUrl=queue_url, MessageBody=body)
