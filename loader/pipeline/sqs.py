"""SQS messages in one shape, whether they came from a Lambda event or from ReceiveMessage.

The Lambda event source mapping hands the handler records in camelCase
(``messageId``, ``messageAttributes: {name: {stringValue, dataType}}``);
``ReceiveMessage`` returns PascalCase (``MessageId``, ``StringValue``).
:class:`SqsMessage` holds either, with message attributes in the API's shape
(what ``SendMessage`` takes back), so forwarding to the dead-letter queue and
replaying from it are the same code for the handler and the worker.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

ERROR_ATTRIBUTE_PREFIX = "fundsync."
MAX_ATTRIBUTES = 10  # SQS limit per message


@dataclass(frozen=True, slots=True)
class SqsMessage:
    message_id: str
    body: str
    receipt_handle: str = ""
    receive_count: int = 1
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Message attributes in the SendMessage shape: ``{name: {"DataType", "StringValue"}}``."""
    sent_timestamp: int | None = None

    @classmethod
    def from_lambda_record(cls, record: dict[str, Any]) -> SqsMessage:
        system = record.get("attributes") or {}
        attributes = {}
        for name, value in (record.get("messageAttributes") or {}).items():
            converted: dict[str, Any] = {"DataType": value.get("dataType", "String")}
            if value.get("stringValue") is not None:
                converted["StringValue"] = value["stringValue"]
            if value.get("binaryValue") is not None:
                converted["BinaryValue"] = value["binaryValue"]
            attributes[name] = converted
        return cls(
            message_id=str(record["messageId"]),
            body=str(record.get("body") or ""),
            receipt_handle=str(record.get("receiptHandle") or ""),
            receive_count=int(system.get("ApproximateReceiveCount") or 1),
            attributes=attributes,
            sent_timestamp=_int(system.get("SentTimestamp")),
        )

    @classmethod
    def from_api(cls, message: dict[str, Any]) -> SqsMessage:
        system = message.get("Attributes") or {}
        attributes = {
            name: {
                k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")
            }
            for name, value in (message.get("MessageAttributes") or {}).items()
        }
        return cls(
            message_id=str(message["MessageId"]),
            body=str(message.get("Body") or ""),
            receipt_handle=str(message.get("ReceiptHandle") or ""),
            receive_count=int(system.get("ApproximateReceiveCount") or 1),
            attributes=attributes,
            sent_timestamp=_int(system.get("SentTimestamp")),
        )

    def error_attributes(self) -> dict[str, str]:
        """The ``fundsync.*`` attributes a dead-lettered message carries, as plain strings."""
        return {
            name[len(ERROR_ATTRIBUTE_PREFIX) :]: str(value.get("StringValue", ""))
            for name, value in self.attributes.items()
            if name.startswith(ERROR_ATTRIBUTE_PREFIX)
        }

    def own_attributes(self) -> dict[str, dict[str, Any]]:
        """The message's attributes without the ``fundsync.*`` ones (what a replay sends)."""
        return {
            name: value
            for name, value in self.attributes.items()
            if not name.startswith(ERROR_ATTRIBUTE_PREFIX)
        }

    def to_lambda_record(self, queue_arn: str, region: str) -> dict[str, Any]:
        """The record as Lambda's event source mapping would deliver it."""
        return {
            "messageId": self.message_id,
            "receiptHandle": self.receipt_handle,
            "body": self.body,
            "attributes": {
                "ApproximateReceiveCount": str(self.receive_count),
                "SentTimestamp": str(self.sent_timestamp or 0),
            },
            "messageAttributes": {
                name: {
                    "dataType": value.get("DataType", "String"),
                    "stringValue": value.get("StringValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                }
                for name, value in self.attributes.items()
            },
            "md5OfBody": hashlib.md5(self.body.encode("utf-8")).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }


def error_attributes(
    message: SqsMessage, fields: dict[str, str | int]
) -> dict[str, dict[str, Any]]:
    """The message's own attributes plus ``fundsync.<name>`` for each field (at most 10 in all).

    String values are cut to 4,096 characters; a message keeps its own
    attributes first, and error fields that do not fit are dropped last-first.
    """
    out = dict(message.own_attributes())
    for name, value in fields.items():
        if len(out) >= MAX_ATTRIBUTES:
            break
        if isinstance(value, int):
            out[ERROR_ATTRIBUTE_PREFIX + name] = {"DataType": "Number", "StringValue": str(value)}
        elif value:
            out[ERROR_ATTRIBUTE_PREFIX + name] = {"DataType": "String", "StringValue": value[:4096]}
    return out


def lambda_event(messages: list[SqsMessage], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS event for the handler, as the event source mapping builds it."""
    return {"Records": [m.to_lambda_record(queue_arn, region) for m in messages]}


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class InvocationContext:
    """The parts of Lambda's context object the handler reads, for running it off Lambda."""

    def __init__(self, timeout_ms: int = 900_000, function_name: str = "fundsync-local") -> None:
        import time
        import uuid

        self._clock = time.monotonic
        self._ends = self._clock() + timeout_ms / 1000
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 2048
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - self._clock()) * 1000))


class LocalEventSourceMapping:
    """What Lambda's SQS event source mapping does, for the demo and the tests.

    Receives up to 10 messages, hands them to the handler as one SQS event,
    and deletes every message the response does not list in
    ``batchItemFailures``; the listed ones stay for the queue to redeliver.
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Any,
        batch_size: int = 10,
        timeout_ms: int = 900_000,
    ) -> None:
        self.sqs, self.queue_url, self.handler = sqs, queue_url, handler
        self.batch_size, self.timeout_ms = batch_size, timeout_ms
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        self.queue_arn = attributes["Attributes"]["QueueArn"]
        self.region = self.queue_arn.split(":")[3]
        self.responses: list[dict[str, Any]] = []

    def poll_once(self, wait_seconds: int = 0) -> int:
        """One batch through the handler; returns how many messages it held."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = [SqsMessage.from_api(m) for m in response.get("Messages", [])]
        if not messages:
            return 0
        event = lambda_event(messages, self.queue_arn, self.region)
        result = self.handler(event, InvocationContext(self.timeout_ms))
        self.responses.append(result)
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        for message in messages:
            if message.message_id not in failed:
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle
                )
        return len(messages)

    def drain(self, max_batches: int = 100) -> int:
        """Poll until a receive comes back empty; returns the messages handled."""
        handled = 0
        for _ in range(max_batches):
            count = self.poll_once()
            if count == 0:
                break
            handled += count
        return handled
