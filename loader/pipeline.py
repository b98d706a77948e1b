"""The event pipeline: one SQS message of S3 notifications in, loads and a verdict out.

Shared by the Lambda handler (``loader/handler.py``), the SQS worker
(``fundsync worker``) and the demo. For each message:

1. read the body (:mod:`loader.events`): S3 notification records, the
   ``s3:TestEvent``, EventBridge or SNS-wrapped shapes;
2. for each object: not started if the invocation cannot finish it in time;
   skipped at once if the ledger has already loaded this key and version
   (or ETag); otherwise streamed to a private temp file, loaded
   (:class:`loader.load.Loader`) and the file removed;
3. the verdict (:class:`Verdict`):

   - ``done``: every object loaded or was skipped; the message is deleted;
   - ``rejected``: an input is bad (encoding, columns, rows over the
     allowance, an object that is gone or too large, a body that is not a
     notification). The ledger says ``rejected`` with the reasons, a rejects
     report goes to S3, and the message is forwarded to the dead-letter queue
     at once with the error in its attributes. It is not retried;
   - ``retry``: the environment failed (database down, throttling, deadlock
     after retries, a timeout, not enough time left). The message is left on
     the queue for SQS to redeliver, and after ``maxReceiveCount`` the
     queue's redrive policy moves it to the dead-letter queue.

Objects of a message that already loaded are skipped at once when the
message comes back, so a retry only does what is left.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from loader import aws
from loader.db import DatabaseError, DbConfig, PermanentDatabaseError
from loader.errors import FileRejected, InputError, LoaderError, RowError, TransientError
from loader.events import MalformedMessage, ObjectRef, parse_body
from loader.load import Loader, LoadReport
from loader.settings import ParseSettings, PipelineSettings
from loader.sources import downloaded
from loader.sqs import SqsMessage, error_attributes
from loader.telemetry import Telemetry, quiet

Verdict = Literal["done", "rejected", "retry"]


class NotEnoughTime(TransientError):
    """The invocation would end before this object could finish: not started."""


class ShuttingDown(TransientError):
    """The worker was asked to stop: the message is left for another consumer."""


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

    def check(self, ref: ObjectRef) -> None:
        if self.stop_requested():
            raise ShuttingDown(f"{ref.uri}: not started, the worker is stopping")
        if self.remaining_ms is None:
            return
        remaining, needed = self.remaining_ms(), self.needed_ms(ref.size)
        if remaining < needed:
            raise NotEnoughTime(
                f"{ref.uri}: not started, {remaining} ms left and about {needed} ms needed"
            )


@dataclass
class MessageResult:
    """What became of one message; the handler and the worker act on ``verdict``."""

    message_id: str
    verdict: Verdict
    reports: list[LoadReport] = field(default_factory=list)
    error: BaseException | None = None
    dead_lettered: bool = False
    test_event: bool = False
    ignored: tuple[str, ...] = ()

    @property
    def error_text(self) -> str | None:
        return None if self.error is None else f"{type(self.error).__name__}: {self.error}"


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
        self.parse_settings = parse_settings or ParseSettings.from_env()
        self._db = db if db is not None else DbConfig.from_env
        self.telemetry = telemetry or quiet()
        self._s3, self._sqs = s3, sqs
        self._loader: Loader | None = None
        self.work_dir = Path(tempfile.mkdtemp(prefix="fundsync-", dir=self.settings.work_dir))

    @classmethod
    def from_env(cls, telemetry: Telemetry | None = None) -> Pipeline:
        return cls(telemetry=telemetry)

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
    def loader(self) -> Loader:
        """The loader and its connection, made on first use and kept while it works."""
        if self._loader is None:
            config = self._db() if callable(self._db) else self._db
            self._loader = Loader(
                config,
                self.parse_settings,
                staging_parent=str(self.work_dir),
                span=self.telemetry.span,
            )
        return self._loader

    def reset_database(self) -> None:
        """Drop the connection (and re-read a rotated secret next time)."""
        if self._loader is not None:
            self._loader.close()
            self._loader = None

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
        deadline = deadline or Deadline()
        result = MessageResult(message.message_id, "done")
        try:
            notification = parse_body(message.body)
        except MalformedMessage as error:
            result.verdict, result.error = "rejected", error
            return self._reject(message, result)
        result.test_event, result.ignored = notification.test_event, notification.ignored
        for ref in notification.objects:
            if self._is_rejects_output(ref):
                result.ignored += (f"{ref.uri} (a rejects report)",)
                continue
            try:
                report = self.load_object(ref, deadline, message_id=message.message_id)
            except InputError as error:  # gone, or over the size guard: before any load
                report = self.failure_report(ref, error)
            except Exception as error:  # the environment, or a fault of ours: retry later
                result.verdict, result.error = "retry", error
                self._after_environment_failure(error)
                self.telemetry.warning(
                    "message will be retried",
                    message_id=message.message_id,
                    source=ref.uri,
                    error=_describe(error),
                    receive_count=message.receive_count,
                )
                return result
            result.reports.append(report)
            if report.retryable:
                result.verdict, result.error = "retry", report.failure
                self._after_environment_failure(report.failure)
                return result
        bad = [r for r in result.reports if r.status == "rejected" or r.failure is not None]
        if bad:
            result.verdict, result.error = "rejected", bad[0].failure
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
        ref: ObjectRef,
        deadline: Deadline | None = None,
        message_id: str | None = None,
        force: bool = False,
    ) -> LoadReport:
        """Load one S3 object (skip, download, load, rejects report); returns its report.

        Raises :class:`~loader.errors.TransientError` (and lets other
        unexpected errors through) when the object could not be tried;
        a rejected file is a report, not an exception.
        """
        (deadline or Deadline()).check(ref)
        started = time.perf_counter()
        with self.telemetry.object_span(ref.uri):
            report = None if force else self.loader.skip_known_version(ref.key, ref.identity)
            if report is None:
                t = time.perf_counter()
                with (
                    self.telemetry.span("download"),
                    downloaded(ref, self.work_dir, self.settings.max_object_bytes, self.s3) as copy,
                ):
                    download_seconds = time.perf_counter() - t
                    report = self.loader.load(
                        copy.path, source_key=ref.key, object_version=copy.ref.identity, force=force
                    )
                report.stage_seconds = {"download": download_seconds, **report.stage_seconds}
                report.seconds = time.perf_counter() - started
                if report.rows_read and report.seconds > 0:
                    report.rows_per_second = round(report.rows_read / report.seconds, 1)
                self._write_rejects(ref, report)
        self.telemetry.file_done(report.to_dict(), source=ref.uri, message_id=message_id)
        return report

    # -- failures --------------------------------------------------------------

    def failure_report(self, ref: ObjectRef, error: LoaderError) -> LoadReport:
        """The report of an object that could not even be read as an export.

        An input error (an object gone or over the size guard) also gets its
        rejects report in S3; a transient one is only reported.
        """
        report = LoadReport(source=ref.key, status="rejected", object_version=ref.identity)
        report.failure, report.error_type = error, type(error).__name__
        if isinstance(error, FileRejected):
            report.errors = [e.to_dict() for e in error.errors]
        else:
            report.status = "failed"
            report.errors = [RowError(None, None, str(error)).to_dict()]
        if isinstance(error, InputError):
            self._write_rejects(ref, report)
        self.telemetry.file_done(report.to_dict(), source=ref.uri)
        return report

    def _after_environment_failure(self, error: BaseException | None) -> None:
        if isinstance(error, (DatabaseError, PermanentDatabaseError)):
            self.reset_database()

    def _is_rejects_output(self, ref: ObjectRef) -> bool:
        bucket = self.settings.rejects_bucket or ref.bucket
        return ref.bucket == bucket and ref.key.startswith(self.settings.rejects_prefix)

    def rejects_key(self, ref: ObjectRef, suffix: str) -> tuple[str, str]:
        bucket = self.settings.rejects_bucket or ref.bucket
        return bucket, f"{self.settings.rejects_prefix}{ref.key}{suffix}"

    def _write_rejects(self, ref: ObjectRef, report: LoadReport) -> None:
        """The rejects report of a rejected file, or the rows an allowance let go, to S3."""
        if report.status == "rejected" or (report.status == "failed" and report.failure):
            if not isinstance(report.failure, InputError):
                return
            bucket, key = self.rejects_key(ref, ".rejects.json")
            document = {
                "source": ref.uri,
                "object": ref.to_dict(),
                "status": report.status,
                "error_type": report.error_type,
                "reason": str(report.failure),
                "errors": report.errors,
                "report": report.to_dict(),
                "written_at": datetime.now(UTC).isoformat(),
            }
            body = json.dumps(document, ensure_ascii=False, default=str, indent=1).encode()
            self._put(bucket, key, body, "application/json")
        elif report.rejects is not None:
            bucket, key = self.rejects_key(ref, ".rejects.csv")
            self._put(bucket, key, _rejects_csv(report), "text/csv; charset=utf-8")
        else:
            return
        report.rejects_uri = f"s3://{bucket}/{key}"

    def _put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        try:
            self.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        except Exception as error:
            raise aws.classify(error, f"writing the rejects report s3://{bucket}/{key}") from None

    def _reject(self, message: SqsMessage, result: MessageResult) -> MessageResult:
        """Forward a message with bad input to the dead-letter queue, at once, with its error."""
        uris = [r.source for r in result.reports if r.failure is not None]
        reports = [r.rejects_uri for r in result.reports]
        fields: dict[str, str | int] = {
            "error_type": type(result.error).__name__ if result.error else "Rejected",
            "error": _error_text(result),
            "sources": ", ".join(uris),
            "rejects_report": ", ".join(r for r in reports if r),
            "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "original_message_id": message.message_id,
            "receive_count": message.receive_count,
        }
        self.telemetry.warning(
            "message rejected",
            message_id=message.message_id,
            error=_describe(result.error),
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
            result.verdict, result.error = "retry", aws.classify(error, "forwarding to the DLQ")
            return result
        result.dead_lettered = True
        self.telemetry.count("MessagesDeadLettered")
        return result


def _error_text(result: MessageResult) -> str:
    """The error for the dead-letter attribute: the rejection and its first errors, a line each."""
    error = result.error
    if not isinstance(error, FileRejected):
        return str(error or "rejected")
    lines = [f"{error.source}: file rejected ({error.kind}), {error.error_count} error(s)"]
    lines += [str(e) for e in error.errors[:20]]
    return "\n".join(lines)


def _describe(error: BaseException | None) -> dict[str, Any] | None:
    if error is None:
        return None
    if isinstance(error, LoaderError):
        return error.to_dict()
    return {"type": type(error).__name__, "message": str(error), "permanent": False}


def _rejects_csv(report: LoadReport) -> bytes:
    import io

    import polars as pl

    assert report.rejects is not None
    columns = ["line", "d_trade", "stock", "ticker", "col_code", "value", "reason"]
    frame = report.rejects.sort("line").select([c for c in columns if c in report.rejects.columns])
    buffer = io.BytesIO()
    frame.with_columns(pl.all().cast(pl.String)).write_csv(buffer)
    return buffer.getvalue()
