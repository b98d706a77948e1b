"""The Lambda entry point's body: SQS batches of S3 notifications, partial batch responses.

``lambda/handler.py`` (the image's ``handler.lambda_handler``) imports
:func:`lambda_handler` from here. Each record of the batch goes through
:meth:`loader.pipeline.Pipeline.process`, via Powertools' batch processor:

- ``done`` and ``rejected`` (already forwarded to the dead-letter queue)
  messages succeed, so Lambda deletes them;
- ``retry`` messages raise :class:`RetryLater`, and Powertools lists exactly
  their ids in ``batchItemFailures``: SQS redelivers only those, after
  ``FUNDSYNC_RETRY_DELAY_SECONDS`` when it is set (their visibility is shortened),
  else after the queue's visibility timeout.

What lives across invocations of a warm container: the pipeline (its
database connection and staging directory), the AWS clients, the logger and
the metrics. Nothing is done at import time beyond imports, so a cold start
pays only for those.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from loader import aws
from loader.pipeline.process import Deadline, MessageResult, Pipeline
from loader.pipeline.sqs import SqsMessage
from loader.pipeline.telemetry import Telemetry
from loader.settings import PipelineSettings

telemetry = Telemetry()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
_pipeline: Pipeline | None = None
_cold = True


class RetryLater(Exception):
    """Raised for a message SQS should deliver again; carries the pipeline's result."""

    def __init__(self, result: MessageResult) -> None:
        super().__init__(result.error_text or "retry")
        self.result = result


def pipeline() -> Pipeline:
    """The container's pipeline, made on the first invocation and kept while warm."""
    global _pipeline
    if _pipeline is None:
        settings = PipelineSettings.from_env()
        if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            _remove_stale_work_dirs(settings.work_dir)
        _pipeline = Pipeline(settings=settings, telemetry=telemetry)
    return _pipeline


def reset() -> None:
    """Close the container's pipeline (its connection, its temp directory); the next call makes one.

    For running the handler off Lambda (the demo, the tests) against another database.
    """
    global _pipeline
    if _pipeline is not None:
        _pipeline.close()
        _pipeline = None


def _remove_stale_work_dirs(parent: str | None) -> None:
    """Lambda keeps /tmp between invocations, also after one was killed mid-load."""
    for stale in Path(parent or tempfile.gettempdir()).glob("fundsync-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _delay_retry(pipe: Pipeline, queue_arn: str | None, message: SqsMessage) -> None:
    """Bring a message that failed for a transient reason back after the retry delay.

    Without it SQS redelivers after the queue's visibility timeout (six times the
    function's timeout or more); best effort: if this call fails, that is what happens.
    """
    delay = pipe.settings.retry_delay_seconds
    if delay is None or not queue_arn or not message.receipt_handle:
        return
    try:
        pipe.sqs.change_message_visibility(
            QueueUrl=aws.queue_url_from_arn(queue_arn),
            ReceiptHandle=message.receipt_handle,
            VisibilityTimeout=delay,
        )
    except Exception as error:
        telemetry.warning(
            "could not shorten the retry delay",
            message_id=message.message_id,
            error=str(aws.classify(error, "change_message_visibility")),
        )


CHECK_FRESHNESS = {"fundsync": "check-freshness"}
"""The event of the scheduled freshness check (EventBridge; docs/runbook.md)."""


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS event in, ``{"batchItemFailures": [{"itemIdentifier": id}, ...]}`` out; the
    scheduled check event (:data:`CHECK_FRESHNESS`) in, ``{"late": [...]}`` out."""
    global _cold
    pipe = pipeline()
    if event.get("fundsync") == CHECK_FRESHNESS["fundsync"]:
        return check_freshness(pipe)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    deadline = Deadline(
        remaining_ms=remaining,
        reserve_ms=pipe.settings.reserve_ms,
        bytes_per_second=pipe.settings.planning_bytes_per_second,
    )
    telemetry.logger.append_keys(
        request_id=getattr(context, "aws_request_id", None), cold_start=_cold
    )
    _cold = False

    def record_handler(record: SQSRecord) -> str:
        message = SqsMessage.from_lambda_record(record.raw_event)
        result = pipe.process(message, deadline)
        if result.verdict == "retry":
            _delay_retry(pipe, record.event_source_arn, message)
            raise RetryLater(result)
        return result.verdict

    try:
        with telemetry.span("batch"):
            response = process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )
    finally:
        telemetry.flush()
    failures = response.get("batchItemFailures", [])
    telemetry.info(
        "batch done",
        messages=len(event.get("Records", [])),
        retry=[f["itemIdentifier"] for f in failures],
    )
    return dict(response)


def check_freshness(pipe: Pipeline) -> dict[str, Any]:
    """The expected trade dates past their deadline with no file (``FUNDSYNC_DEADLINE``,
    ``FUNDSYNC_HOLIDAYS``), as the metric ``LateTradeDates`` (0 when all is well: the alarm
    also fires when the check stops reporting) and the answer."""
    from loader.mysql.status import Calendar, status

    calendar = Calendar.of(
        os.environ.get("FUNDSYNC_HOLIDAYS"), os.environ.get("FUNDSYNC_DEADLINE") or "09:00"
    )
    try:
        with pipe.session.classified():
            state = status(pipe.session.connection(), calendar=calendar)
        late = [d.isoformat() for d in state.late]
        telemetry.count("LateTradeDates", len(late))
        telemetry.info("freshness checked", late=late, needs_look=state.needs_look)
    finally:
        telemetry.flush()
    return {"late": late, "needs_look": state.needs_look}
