"""Event pumps: deliver what AWS would deliver to the functions, as real event payloads.

- SQS: the event source mapping (batch size, partial batch responses; failed records become
  visible again and, after maxReceiveCount receives, the emulator moves them to the DLQ).
- S3: object-created notifications, invoked asynchronously (retries, then the function's DLQ or
  on-failure destination, each with the message AWS sends it).
- Schedules: EventBridge rules with rate(...) expressions, and firing on demand.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from skucast_local.containers import Invocation
from skucast_local.emulator import ACCOUNT, REGION
from skucast_local.gateway import Invoker
from skucast_local.template import Function, Schedule, SqsSubscription

# AWS waits a queue's visibility timeout (minutes) before retrying a failed record; locally a
# short delay keeps retries, redrive and tests fast. The count of receives is the same.
RETRY_DELAY_SECONDS = 1


class Stats:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)


class Settings:
    """Switches tests and demos can flip at run time (through the control endpoint)."""

    def __init__(self) -> None:
        self.duplicate_deliveries = False
        self.failing_functions: set[str] = set()  # every invocation of these fails, unrun


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    attributes = message.get("Attributes") or {}
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
            "SenderId": attributes.get("SenderId", "local"),
            "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0"),
            **({"MessageGroupId": attributes["MessageGroupId"]} if "MessageGroupId" in attributes else {}),
        },
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType", "String"),
            }
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


class _QueuePoller:
    """A thread that long-polls one queue of the emulator and hands messages to a thread pool."""

    def __init__(self, sqs: Any, url: str, workers: int, name: str) -> None:
        self.sqs, self.url = sqs, url
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._poll, name=f"pump-{name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _receive(self, max_messages: int, **attributes: Any) -> list[dict[str, Any]] | None:
        """The next messages ([] when none came); None when the emulator did not answer."""
        try:
            answer = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=max_messages, WaitTimeSeconds=1, **attributes
            )
        except Exception:  # the emulator is shutting down
            self.stopping.wait(0.5)
            return None
        return list(answer.get("Messages", []))

    def _poll(self) -> None:
        raise NotImplementedError


class SqsPump(_QueuePoller):
    def __init__(
        self,
        sqs: Any,
        sub: SqsSubscription,
        queue_url: str,
        queue_arn: str,
        invoke: Invoker,
        concurrency: int,
        stats: Stats,
        switches: Settings,
    ) -> None:
        super().__init__(sqs, queue_url, concurrency * 2, f"sqs-{sub.queue}")
        self.sub, self.arn = sub, queue_arn
        self.invoke, self.stats, self.switches = invoke, stats, switches
        self.slots = threading.Semaphore(concurrency)

    def _poll(self) -> None:
        while not self.stopping.is_set():
            if not self.slots.acquire(timeout=0.5):
                continue
            messages = self._receive(
                min(10, self.sub.batch_size), AttributeNames=["All"], MessageAttributeNames=["All"]
            )
            if not messages:
                self.slots.release()
                continue
            copies = 2 if self.switches.duplicate_deliveries else 1
            done = threading.Barrier(copies, action=self.slots.release)
            for _ in range(copies):
                self.pool.submit(self._deliver, messages, done)

    def _deliver(self, messages: list[dict[str, Any]], done: threading.Barrier) -> None:
        try:
            event = {"Records": [sqs_record(m, self.arn) for m in messages]}
            outcome = self.invoke(self.sub.function, event)
            failed = self._failed_ids(outcome, messages)
            self.stats.add(f"sqs.{self.sub.queue}.delivered", len(messages))
            self.stats.add(f"sqs.{self.sub.queue}.failed", len(failed))
            for m in messages:
                try:
                    if m["MessageId"] in failed:
                        self.sqs.change_message_visibility(
                            QueueUrl=self.url,
                            ReceiptHandle=m["ReceiptHandle"],
                            VisibilityTimeout=RETRY_DELAY_SECONDS,
                        )
                    else:
                        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
                except Exception:  # noqa: S110 (a duplicate delivery already settled it)
                    pass
        finally:
            done.wait()

    def _failed_ids(self, outcome: Invocation, messages: list[dict[str, Any]]) -> set[str]:
        every = {m["MessageId"] for m in messages}
        if not outcome.ok:
            return every  # the whole batch failed: every record is retried
        if not self.sub.report_batch_item_failures:
            return set()
        result = outcome.result if isinstance(outcome.result, dict) else {}
        failures = result.get("batchItemFailures") or []
        ids = [f.get("itemIdentifier") for f in failures if isinstance(f, dict)]
        if not all(isinstance(i, str) and i for i in ids):
            return every  # an unusable identifier fails the whole batch, as the event source mapping does
        return {str(i) for i in ids} & every


def failure_record(fn: Function, event: dict[str, Any], outcome: Invocation, attempts: int) -> dict[str, Any]:
    """What Lambda sends an on-failure destination once an asynchronous event failed every retry."""
    return {
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{fn.logical_id}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {
            "errorMessage": outcome.error_message or "",
            "errorType": outcome.error_type or "Runtime.Unknown",
            "stackTrace": [],
        },
    }


class S3Pump(_QueuePoller):
    """S3 invokes a function asynchronously: Lambda retries a failed event, then sends it to the
    function's DLQ (the event itself, the error in message attributes) or to its on-failure
    destination (the invocation record)."""

    def __init__(
        self,
        sqs: Any,
        function: Function,
        notify_url: str,
        dlq_url: str | None,
        invoke: Invoker,
        stats: Stats,
    ) -> None:
        super().__init__(sqs, notify_url, 4, f"s3-{function.logical_id}")
        self.fn, self.dlq_url = function, dlq_url
        self.invoke, self.stats = invoke, stats

    def _poll(self) -> None:
        while not self.stopping.is_set():
            for m in self._receive(10) or []:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
                event = json.loads(m["Body"])
                if "Records" in event:  # not the s3:TestEvent sent when notifications are configured
                    self.pool.submit(self._deliver, event)

    def _deliver(self, event: dict[str, Any]) -> None:
        attempts = 1 + self.fn.retries
        for _attempt in range(attempts):
            outcome = self.invoke(self.fn.logical_id, event)
            if outcome.ok:
                self.stats.add(f"s3.{self.fn.logical_id}.delivered")
                return
            self.stats.add(f"s3.{self.fn.logical_id}.failed")
            time.sleep(RETRY_DELAY_SECONDS)
        if not self.dlq_url:
            return
        if self.fn.failure_record:
            body = failure_record(self.fn, event, outcome, attempts)
            self.sqs.send_message(QueueUrl=self.dlq_url, MessageBody=json.dumps(body))
        else:
            error = {
                "RequestID": str(uuid.uuid4()),
                "ErrorCode": "200",
                "ErrorMessage": (outcome.error_message or "")[:256] or "Unhandled",
            }
            self.sqs.send_message(
                QueueUrl=self.dlq_url,
                MessageBody=json.dumps(event),
                MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in error.items()},
            )
        self.stats.add(f"s3.{self.fn.logical_id}.dead_lettered")


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int | None:
    """Seconds between firings of a rate(...) expression; None for cron(...) (fired on demand only)."""
    m = _RATE.match(expression.strip())
    if not m:
        return None
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2).rstrip("s")]


def _envelope(name: str) -> dict[str, Any]:
    """What a rule without Input delivers: the Scheduled Event itself."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"],
        "detail": {},
    }


class SchedulePump:
    def __init__(self, schedules: list[Schedule], invoke: Invoker, stats: Stats) -> None:
        self.schedules = {s.name: s for s in schedules}
        self.invoke, self.stats = invoke, stats
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._tick, args=(s, every), name=f"schedule-{s.name}", daemon=True)
            for s in schedules
            if (every := rate_seconds(s.expression))
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self.stopping.set()

    def fire(self, name: str) -> Invocation:
        schedule = self.schedules[name]
        outcome = self.invoke(schedule.function, schedule.input if schedule.input is not None else _envelope(name))
        self.stats.add(f"schedule.{name}.fired")
        return outcome

    def _tick(self, schedule: Schedule, every: int) -> None:
        while not self.stopping.wait(every):
            self.fire(schedule.name)
