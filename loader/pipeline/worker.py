"""``fundsync worker``: the Lambda's processing as a long-polling SQS consumer (ECS, a laptop).

Each received batch goes message by message through the same
:meth:`loader.pipeline.Pipeline.process` as the Lambda handler, with the same
verdicts: ``done`` and ``rejected`` (already forwarded to the dead-letter
queue) are deleted; ``retry`` is left for SQS to redeliver, so the queue's
redrive policy moves it to the dead-letter queue after ``maxReceiveCount``.

While a batch is in hand, a heartbeat thread keeps every unfinished message
of it invisible (``ChangeMessageVisibility`` every third of the visibility
timeout), so a long load is never handed to a second consumer. SIGTERM (or
Ctrl-C) stops the worker gracefully: the message being loaded finishes, the
messages not yet started are released at once (visibility 0) for another
consumer, and the process exits 0. A second signal stops at once; the
database rolls back the load in progress.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from loader import aws
from loader.outcome import Breaker, outcome_of
from loader.pipeline.process import Deadline, MessageResult, Pipeline
from loader.pipeline.sqs import SqsMessage

MIN_HEARTBEAT_SECONDS = 0.5


@dataclass
class WorkerSummary:
    """What a worker run did, by message verdict and by file status."""

    messages: int = 0
    done: int = 0
    rejected: int = 0
    retry: int = 0
    released: int = 0
    files: dict[str, int] = field(default_factory=dict)
    stopped_because: str | None = None
    """Why the worker stopped on its own (the database unreachable), if it did."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Heartbeat:
    """Keeps the unfinished messages of a batch invisible while they wait or load."""

    def __init__(self, sqs: Any, queue_url: str, visibility_timeout: int) -> None:
        self.sqs, self.queue_url = sqs, queue_url
        self.visibility_timeout = visibility_timeout
        self.interval = max(MIN_HEARTBEAT_SECONDS, visibility_timeout / 3)
        self._pending: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.extensions = 0

    def start(self, messages: list[SqsMessage]) -> None:
        with self._lock:
            self._pending = {m.message_id: m.receipt_handle for m in messages}
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="visibility-heartbeat", daemon=True)
        self._thread.start()

    def finished(self, message: SqsMessage) -> None:
        with self._lock:
            self._pending.pop(message.message_id, None)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                entries = [
                    {
                        "Id": str(i),
                        "ReceiptHandle": handle,
                        "VisibilityTimeout": self.visibility_timeout,
                    }
                    for i, handle in enumerate(self._pending.values())
                ]
            for start in range(0, len(entries), 10):
                try:
                    self.sqs.change_message_visibility_batch(
                        QueueUrl=self.queue_url, Entries=entries[start : start + 10]
                    )
                    self.extensions += 1
                except Exception:  # a missed beat is retried on the next one
                    pass


class Worker:
    """Long-polls one queue and loads what its messages point at, until stopped."""

    def __init__(
        self,
        pipeline: Pipeline,
        queue_url: str,
        sqs: Any = None,
        wait_seconds: int = 20,
        max_messages: int = 10,
        visibility_timeout: int | None = None,
        retry_delay: int | None = None,
        until_empty: bool = False,
        on_result: Callable[[MessageResult], None] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.queue_url = queue_url
        self.sqs = sqs or aws.client("sqs")
        self.wait_seconds = wait_seconds
        self.max_messages = max_messages
        self.retry_delay = retry_delay
        self.until_empty = until_empty
        self.on_result = on_result
        self.summary = WorkerSummary()
        self.breaker = Breaker()
        self._stopping = threading.Event()
        self.visibility_timeout = visibility_timeout or self._queue_visibility_timeout()

    def _queue_visibility_timeout(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"]
        )["Attributes"]
        return max(1, int(attributes.get("VisibilityTimeout", 30)))

    # -- stopping --------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: finish the current message and stop; a second one stops at once."""

        def handle(signum: int, frame: FrameType | None) -> None:
            if self.stopping:
                raise KeyboardInterrupt
            self.pipeline.telemetry.info("stopping after the current message", signal=signum)
            self.stop()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    # -- the loop --------------------------------------------------------------

    def run(self) -> WorkerSummary:
        telemetry = self.pipeline.telemetry
        telemetry.info(
            "worker started",
            queue_url=self.queue_url,
            visibility_timeout=self.visibility_timeout,
            dead_letter_queue=self.pipeline.settings.dlq_url,
        )
        while not self.stopping:
            if self.until_empty and self.summary.messages and self._queue_empty():
                break  # not one more long poll once the queue is drained
            messages = self._receive()
            if not messages:
                if self.until_empty and self._queue_empty():
                    break
                continue
            self._process_batch(messages)
            telemetry.flush()
        telemetry.info("worker stopped", summary=self.summary.to_dict())
        return self.summary

    def _receive(self) -> list[SqsMessage]:
        try:
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=self.max_messages,
                WaitTimeSeconds=self.wait_seconds,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        except Exception as error:
            self.pipeline.telemetry.warning(
                "receive failed", error=str(aws.classify(error, "receiving from the queue"))
            )
            self._stopping.wait(min(5, self.wait_seconds or 1))
            return []
        return [SqsMessage.from_api(m) for m in response.get("Messages", [])]

    def _queue_empty(self) -> bool:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)
        return all(int(attributes["Attributes"].get(n, 0)) == 0 for n in names)

    def _process_batch(self, messages: list[SqsMessage]) -> None:
        heartbeat = Heartbeat(self.sqs, self.queue_url, self.visibility_timeout)
        heartbeat.start(messages)
        deadline = Deadline(stop_requested=lambda: self.stopping)
        try:
            for index, message in enumerate(messages):
                if self.stopping:
                    self._release(messages[index:])
                    break
                result = self._process(message, deadline)
                heartbeat.finished(message)
                self._settle(message, result)
        finally:
            heartbeat.stop()

    def _process(self, message: SqsMessage, deadline: Deadline) -> MessageResult:
        """One message's result; a fault of ours leaves the message for SQS to retry and the
        worker goes on (it never exits on a message)."""
        try:
            return self.pipeline.process(message, deadline)
        except Exception as error:
            self.pipeline.telemetry.exception(
                "message not processed", message_id=message.message_id
            )
            return MessageResult(message.message_id, "retry", failure=outcome_of(error))

    def _settle(self, message: SqsMessage, result: MessageResult) -> None:
        self.summary.messages += 1
        for report in result.reports:
            self.summary.files[report.status] = self.summary.files.get(report.status, 0) + 1
        if self.on_result is not None:
            self.on_result(result)
        if result.reports and self.breaker.record(result.failure):
            self.summary.stopped_because = self.breaker.reason
            self.pipeline.telemetry.warning(
                "stopping: no new message is started", reason=self.breaker.reason
            )
            self.stop()
        if result.verdict in ("done", "rejected"):
            setattr(self.summary, result.verdict, getattr(self.summary, result.verdict) + 1)
            self._call(
                "delete_message", QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle
            )
        elif result.shutting_down:
            self._release([message])
        else:
            self.summary.retry += 1
            if self.retry_delay is not None:
                self._call(
                    "change_message_visibility",
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message.receipt_handle,
                    VisibilityTimeout=self.retry_delay,
                )

    def _release(self, messages: list[SqsMessage]) -> None:
        """Make messages not yet started visible again at once, for another consumer."""
        for message in messages:
            self._call(
                "change_message_visibility",
                QueueUrl=self.queue_url,
                ReceiptHandle=message.receipt_handle,
                VisibilityTimeout=0,
            )
            self.summary.released += 1

    def _call(self, operation: str, **kwargs: Any) -> None:
        for attempt in range(3):
            try:
                getattr(self.sqs, operation)(**kwargs)
                return
            except Exception as error:
                if attempt == 2:
                    self.pipeline.telemetry.warning(
                        f"{operation} failed", error=str(aws.classify(error, operation))
                    )
                    return
                time.sleep(0.5 * (attempt + 1))
