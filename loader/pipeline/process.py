"""The event pipeline: one SQS message of S3 notifications in, loads and a verdict out.

Shared by the Lambda handler (:mod:`loader.pipeline.handler`), the SQS worker
(``fundsync worker``) and the demo. For each message:

1. read the body (:mod:`loader.pipeline.events`): S3 notification records,
   the ``s3:TestEvent``, EventBridge or SNS-wrapped shapes;
2. for each object: not started if the invocation cannot finish it in time;
   otherwise loaded by :func:`loader.load.load_source` (skipped at once if
   the ledger has already loaded this key and version or ETag), with its
   rejects written to S3;
3. the verdict, read from the reports' statuses (:func:`verdict_of`):

   - ``done``: every object loaded or was skipped; the message is deleted;
   - ``rejected``: an input is bad (status ``rejected``). The message is
     forwarded to the dead-letter queue at once with the error in its
     attributes. It is not retried;
   - ``retry``: the environment failed (status ``failed``). The message is
     left on the queue for SQS to redeliver, and after ``maxReceiveCount``
     the queue's redrive policy moves it to the dead-letter queue.

Objects of a message that already loaded are skipped at once when the
message comes back, so a retry only does what is left.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from loader import aws
from loader.errors import DatabaseError, NotEnoughTime, ShuttingDown
from loader.load import load_source
from loader.mysql.config import DbConfig
from loader.mysql.merge_options import MergeOptions
from loader.mysql.session import Session
from loader.outcome import Failure, outcome_of
from loader.pipeline.events import parse_body
from loader.pipeline.sqs import SqsMessage, error_attributes
from loader.pipeline.telemetry import Telemetry, quiet
from loader.prepare.prepare import PrepareOptions
from loader.rejects import RejectsWriter
from loader.report import LoadReport
from loader.settings import ParseSettings, PipelineSettings
from loader.sources import S3Object, unknown_identity

Verdict = Literal["done", "rejected", "retry"]


def verdict_of(reports: Sequence[LoadReport]) -> Verdict:
    """A message's verdict from its files' statuses: any ``failed`` retries it, any
    ``rejected`` dead-letters it, else it is done."""
    statuses = {r.status for r in reports}
    if "failed" in statuses:
        return "retry"
    return "rejected" if "rejected" in statuses else "done"


class Deadline:
    """When the current invocation must be finished, and whether an object still fits.

    ``remaining_ms`` is Lambda's ``context.get_remaining_time_in_millis``;
    without it (the worker) there is no deadline, only a stop request. An
    object fits when its size at the planning throughput, plus the reserve,
    is within the remaining time.
    """

    def __init__(
        self,
        remaining_ms: Callable[[], int] | None = None,
        reserve_ms: int = 10_000,
        bytes_per_second: int = 4_000_000,
        stop_requested: Callable[[], bool] = lambda: False,
    ) -> None:
        self.remaining_ms = remaining_ms
        self.reserve_ms = reserve_ms
        self.bytes_per_second = bytes_per_second
        self.stop_requested = stop_requested

    def needed_ms(self, size: int | None) -> int:
        return self.reserve_ms + int(1000 * (size or 0) / self.bytes_per_second)

    def seconds_left(self) -> float | None:
        """Time this invocation can still wait for the database (the reserve kept back), or
        None without a deadline: the database's read timeout is bounded by it."""
        if self.remaining_ms is None:
            return None
        return max(1.0, (self.remaining_ms() - self.reserve_ms) / 1000)

    def check(self, obj: S3Object) -> None:
        if self.stop_requested():
            raise ShuttingDown(f"{obj.uri}: not started, the worker is stopping")
        if self.remaining_ms is None:
            return
        remaining, needed = self.remaining_ms(), self.needed_ms(obj.size)
        if remaining < needed:
            raise NotEnoughTime(
                f"{obj.uri}: not started, {remaining} ms left and about {needed} ms needed"
            )


@dataclass
class MessageResult:
    """What became of one message; the handler and the worker act on ``verdict``."""

    message_id: str
    verdict: Verdict = "done"
    reports: list[LoadReport] = field(default_factory=list)
    failure: Failure | None = None
    """Why the message was rejected or is retried: the first such file's (or the body's)."""
    dead_lettered: bool = False
    test_event: bool = False
    ignored: tuple[str, ...] = ()

    @property
    def error_text(self) -> str | None:
        return (
            None if self.failure is None else f"{self.failure.error_type}: {self.failure.message}"
        )

    @property
    def shutting_down(self) -> bool:
        return self.failure is not None and isinstance(self.failure.error, ShuttingDown)


class Pipeline:
    """Loads the objects that SQS messages point at. One per process; reused across invocations."""

    def __init__(
        self,
        settings: PipelineSettings | None = None,
        parse_settings: ParseSettings | None = None,
        db: DbConfig | Callable[[], DbConfig] | None = None,
        telemetry: Telemetry | None = None,
        s3: Any = None,
        sqs: Any = None,
    ) -> None:
        self.settings = settings or PipelineSettings.from_env()
        self._db = db if db is not None else DbConfig.from_env
        self.telemetry = telemetry or quiet()
        self._s3, self._sqs = s3, sqs
        self._session: Session | None = None
        self.work_dir = Path(tempfile.mkdtemp(prefix="fundsync-", dir=self.settings.work_dir))
        self.options = PrepareOptions(
            parse=parse_settings or ParseSettings.from_env(),
            work_dir=str(self.work_dir),
            max_object_bytes=self.settings.max_object_bytes,
        )
        self.rejects = RejectsWriter(self.settings.rejects_prefix, self.settings.rejects_bucket, s3)

    # -- resources -------------------------------------------------------------

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = aws.client("s3")
        return self._s3

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            self._sqs = aws.client("sqs")
        return self._sqs

    @property
    def session(self) -> Session:
        """The database session, made on first use and kept while it works."""
        if self._session is None:
            config = self._db() if callable(self._db) else self._db
            self._session = Session(config, staging_parent=str(self.work_dir))
        return self._session

    def reset_database(self) -> None:
        """Drop the connection (and re-read a rotated secret next time)."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def close(self) -> None:
        self.reset_database()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one message -----------------------------------------------------------

    def process(self, message: SqsMessage, deadline: Deadline | None = None) -> MessageResult:
        """Load what one message points at and decide its fate (see the module docstring)."""
        result = MessageResult(message.message_id)
        try:
            notification = parse_body(message.body)
        except Exception as error:  # MalformedMessage, or whatever a hostile body raises
            result.verdict, result.failure = "rejected", outcome_of(error)
            return self._reject(message, result)
        result.test_event, result.ignored = notification.test_event, notification.ignored
        for obj in notification.objects:
            if self.rejects.is_own_output(obj):
                result.ignored += (f"{obj.uri} (a rejects report)",)
                continue
            report = self.load_object(obj, deadline, message_id=message.message_id)
            result.reports.append(report)
            if report.status == "failed":
                break  # the message comes back: what loaded is skipped then
        result.verdict = verdict_of(result.reports)
        if result.verdict == "retry":
            return self._retry(message, result)
        if result.verdict == "rejected":
            result.failure = next(r.failure for r in result.reports if r.status == "rejected")
            return self._reject(message, result)
        if result.test_event or (result.ignored and not result.reports):
            self.telemetry.info(
                "message acknowledged, nothing to load",
                message_id=message.message_id,
                test_event=result.test_event,
                ignored=list(result.ignored),
            )
        return result

    def load_object(
        self,
        obj: S3Object,
        deadline: Deadline | None = None,
        message_id: str | None = None,
        force: bool = False,
    ) -> LoadReport:
        """Load one S3 object (skip, download, load, rejects report); returns its report."""
        deadline = deadline or Deadline()
        try:
            deadline.check(obj)
            session = self.session
            session.limit_read_time(deadline.seconds_left())
            s3 = self.s3
        except Exception as error:  # not started: no time, stopping, no database or region
            report = LoadReport.failed(unknown_identity(obj), error)
        else:
            with self.telemetry.object_span(obj.uri):
                report = load_source(
                    obj,
                    session,
                    self.options,
                    MergeOptions.of(session.config, force=force),
                    rejects=self.rejects,
                    s3=s3,
                    span=self.telemetry.span,
                )
        if report.rejects_error:
            self.telemetry.warning(
                "rejects report not written", source=obj.uri, error=report.rejects_error
            )
        self.telemetry.file_done(report.to_dict(), source=obj.uri, message_id=message_id)
        return report

    # -- verdicts --------------------------------------------------------------

    def _retry(self, message: SqsMessage, result: MessageResult) -> MessageResult:
        failed = next(r for r in result.reports if r.status == "failed")
        result.failure = failed.failure
        if failed.failure is not None and isinstance(failed.failure.error, DatabaseError):
            self.reset_database()
        self.telemetry.warning(
            "message will be retried",
            message_id=message.message_id,
            source=failed.source,
            error=_describe(result.failure),
            receive_count=message.receive_count,
        )
        return result

    def _reject(self, message: SqsMessage, result: MessageResult) -> MessageResult:
        """Forward a message with bad input to the dead-letter queue, at once, with its error."""
        rejected = [r for r in result.reports if r.status == "rejected"]
        fields: dict[str, str | int] = {
            "error_type": result.failure.error_type if result.failure else "Rejected",
            "error": _error_text(result),
            "sources": ", ".join(r.source for r in rejected),
            "rejects_report": ", ".join(r.rejects_uri for r in rejected if r.rejects_uri),
            "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "original_message_id": message.message_id,
            "receive_count": message.receive_count,
        }
        self.telemetry.warning(
            "message rejected",
            message_id=message.message_id,
            error=_describe(result.failure),
            dead_letter_queue=bool(self.settings.dlq_url),
        )
        if not self.settings.dlq_url:
            return result
        try:
            self.sqs.send_message(
                QueueUrl=self.settings.dlq_url,
                MessageBody=message.body,
                MessageAttributes=error_attributes(message, fields),
            )
        except Exception as error:  # cannot park it: keep it on the queue instead
            result.verdict = "retry"
            result.failure = outcome_of(aws.classify(error, "forwarding to the DLQ"))
            return result
        result.dead_lettered = True
        self.telemetry.count("MessagesDeadLettered")
        return result


def _error_text(result: MessageResult) -> str:
    """The error for the dead-letter attribute: the rejection and its first errors, a line each."""
    failure = result.failure
    if failure is None:
        return "rejected"
    located = [e for e in failure.errors if e.line is not None or e.offset is not None]
    return "\n".join([failure.message, *(str(e) for e in located[:20])])


def _describe(failure: Failure | None) -> dict[str, Any] | None:
    if failure is None:
        return None
    return {"type": failure.error_type, "message": failure.message, "status": failure.status}
