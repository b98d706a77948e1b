"""``fundsync dlq inspect|replay``: what sits in the dead-letter queue, and moving it back.

``inspect`` reads up to ``--max`` messages and shows each one's sources and
the error the pipeline attached (``fundsync.*`` attributes), then makes them
visible again at once: looking changes nothing. ``replay`` sends each message
back to the main queue (its own attributes kept, the error ones dropped) and
deletes it from the dead-letter queue only after the send succeeded, so a
crash in between duplicates a message rather than losing it (and the ledger
skips what already loaded). ``drop`` deletes chosen messages once their cause
was dealt with elsewhere (a corrected export uploaded, say): replaying a
rejected file's message would only reject the same object version again.

``replay`` and ``drop`` take a :class:`Selection` (message ids, error types);
messages read but not selected are made visible again at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from loader import aws
from loader.errors import ConfigError, MalformedMessage
from loader.pipeline.events import parse_body
from loader.pipeline.sqs import SqsMessage

INSPECT_VISIBILITY = 30


@dataclass
class DeadLetter:
    """One dead-lettered message, as a person reads it."""

    message_id: str
    sent_at: str | None
    receive_count: int
    sources: list[str]
    error: dict[str, str] = field(default_factory=dict)
    body_preview: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def describe(message: SqsMessage) -> DeadLetter:
    try:
        sources = [ref.uri for ref in parse_body(message.body).objects]
    except MalformedMessage:
        sources = []
    sent = (
        datetime.fromtimestamp(message.sent_timestamp / 1000, UTC).isoformat(timespec="seconds")
        if message.sent_timestamp
        else None
    )
    error = message.error_attributes()
    if not error:  # moved by the redrive policy: the retries ran out
        error = {"error_type": "RetriesExhausted", "error": "moved by the queue's redrive policy"}
    return DeadLetter(
        message_id=message.message_id,
        sent_at=sent,
        receive_count=message.receive_count,
        sources=sources,
        error=error,
        body_preview=message.body[:200],
    )


def _receive(sqs: Any, queue_url: str, limit: int, visibility: int) -> list[SqsMessage]:
    """Up to ``limit`` messages, each once (they stay invisible until released or deleted)."""
    seen: dict[str, SqsMessage] = {}
    while len(seen) < limit:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, limit - len(seen)),
            WaitTimeSeconds=1,
            VisibilityTimeout=visibility,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        batch = [SqsMessage.from_api(m) for m in response.get("Messages", [])]
        if not batch:
            break
        for message in batch:
            seen.setdefault(message.message_id, message)
    return list(seen.values())


@dataclass(frozen=True)
class Selection:
    """Which dead letters a replay or drop acts on: all of them when both sets are empty."""

    message_ids: frozenset[str] = frozenset()
    error_types: frozenset[str] = frozenset()
    """``FileRejected``, ``SourceMissing``, ``MalformedMessage``, ``RetriesExhausted``, ..."""

    def __bool__(self) -> bool:
        return bool(self.message_ids or self.error_types)

    def matches(self, letter: DeadLetter) -> bool:
        return (not self.message_ids or letter.message_id in self.message_ids) and (
            not self.error_types or letter.error.get("error_type") in self.error_types
        )


def _release(sqs: Any, queue_url: str, messages: list[SqsMessage]) -> None:
    """Make messages visible again at once (they were only looked at)."""
    for start in range(0, len(messages), 10):
        entries = [
            {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
            for i, m in enumerate(messages[start : start + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


def inspect(dlq_url: str, limit: int = 100, sqs: Any = None) -> list[DeadLetter]:
    """The dead-lettered messages (up to ``limit``), left in the queue as they were."""
    sqs = sqs or aws.client("sqs")
    messages = _receive(sqs, dlq_url, limit, INSPECT_VISIBILITY)
    try:
        return [describe(m) for m in messages]
    finally:
        _release(sqs, dlq_url, messages)


def source_queue(dlq_url: str, sqs: Any = None) -> str:
    """The one queue whose redrive policy points at this dead-letter queue."""
    sqs = sqs or aws.client("sqs")
    urls = sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", [])
    if len(urls) != 1:
        found = ", ".join(urls) or "none"
        raise ConfigError(
            f"cannot tell which queue to replay into (source queues: {found}): give --queue-url"
        )
    return str(urls[0])


def replay(
    dlq_url: str,
    queue_url: str | None = None,
    limit: int = 100,
    sqs: Any = None,
    select: Selection = Selection(),
) -> list[DeadLetter]:
    """Move the selected dead letters (of up to ``limit`` read) back to the main queue.

    Returns what moved; what was read but not selected stays, visible again at once.
    """
    sqs = sqs or aws.client("sqs")
    target = queue_url or source_queue(dlq_url, sqs)
    moved, kept = [], []
    messages = _receive(sqs, dlq_url, limit, visibility=60)
    try:
        for message in messages:
            letter = describe(message)
            if not select.matches(letter):
                kept.append(message)
                continue
            request: dict[str, Any] = {"QueueUrl": target, "MessageBody": message.body}
            if attributes := message.own_attributes():
                request["MessageAttributes"] = attributes
            sqs.send_message(**request)
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message.receipt_handle)
            moved.append(letter)
    finally:
        _release(sqs, dlq_url, kept)
    return moved


def drop(dlq_url: str, select: Selection, limit: int = 100, sqs: Any = None) -> list[DeadLetter]:
    """Delete the selected dead letters (of up to ``limit`` read); returns what was deleted.

    A selection is required: emptying the whole queue is ``aws sqs purge-queue``'s job.
    """
    if not select:
        raise ConfigError("drop needs --message-id or --error-type (it never drops everything)")
    sqs = sqs or aws.client("sqs")
    dropped, kept = [], []
    messages = _receive(sqs, dlq_url, limit, visibility=60)
    try:
        for message in messages:
            letter = describe(message)
            if select.matches(letter):
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message.receipt_handle)
                dropped.append(letter)
            else:
                kept.append(message)
    finally:
        _release(sqs, dlq_url, kept)
    return dropped
