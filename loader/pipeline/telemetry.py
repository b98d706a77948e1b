"""Logs, metrics and traces for the pipeline, on aws-lambda-powertools.

- **Logs**: one structured JSON line per event (Powertools Logger), the load
  report included whole, so a CloudWatch Logs Insights query can filter on
  ``load_report.status`` or sum ``load_report.inserted``.
- **Metrics**: CloudWatch embedded metric format (Powertools Metrics),
  namespace ``FundDataSync``: rows (merged, inserted, updated, unchanged,
  rejected), rows per second, bytes, and the duration of every stage.
  Written on :meth:`Telemetry.flush`, once per batch.
- **Traces**: an X-Ray subsegment per object and per stage (``## download``,
  ``## parse``, ``## write``, ``## stage``, ``## merge``). Powertools turns
  the tracer off outside Lambda, so elsewhere this costs nothing.

Nothing here sees a password: the reports hold none, and database errors are
scrubbed where they are classified (loader/db.py).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import IO, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

NAMESPACE = "FundDataSync"
SERVICE = "fundsync"
COUNT_METRICS = {
    "rows_merged": "RowsMerged",
    "inserted": "RowsInserted",
    "updated": "RowsUpdated",
    "unchanged": "RowsUnchanged",
    "deleted": "RowsDeleted",
    "rejected_rows": "RowsRejected",
    "duplicates_in_file": "RowsDuplicate",
}
STATUS_METRICS = {
    "loaded": "FilesLoaded",
    "skipped": "FilesSkipped",
    "rejected": "FilesRejected",
    "failed": "FilesFailed",
    "held": "FilesHeld",
}


LOG_FORMATS = ("json", "text")
_NOT_FIELDS = {"level", "location", "message", "timestamp", "service"}


def text_line(record: Any) -> str:
    """One log record as a line a person reads: time, level, message, then key=value fields
    (the load report shortened to what matters)."""
    fields = {k: v for k, v in record.items() if k not in _NOT_FIELDS}
    report = fields.pop("load_report", None)
    if isinstance(report, dict):
        fields = {
            **{k: report.get(k) for k in ("status", "rows_read", "inserted", "updated")},
            "seconds": report.get("seconds"),
            **fields,
        }
        if report.get("errors"):
            fields["error"] = report["errors"][0].get("reason")
    rest = " ".join(f"{k}={v}" for k, v in fields.items() if v not in (None, [], {}))
    stamp = str(record.get("timestamp", ""))[:19]
    return f"{stamp} {record.get('level', ''):<7} {record.get('message', '')}  {rest}".rstrip()


class Telemetry:
    """The logger, the metrics and the tracer of one process, shared by every message."""

    def __init__(
        self,
        service: str = SERVICE,
        namespace: str = NAMESPACE,
        stream: IO[str] | None = None,
        metrics: bool = True,
        tracing: bool | None = None,
        level: str | None = None,
        log_format: str = "json",
    ) -> None:
        self.logger = Logger(service=service, stream=stream or sys.stdout, level=level)
        # Powertools shares one logging.Logger per service name and configures it
        # once: point the shared handler at this stream, and set the level, again.
        handler = self.logger.registered_handler
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(stream or sys.stdout)
        if level:
            self.logger.setLevel(level)
        if log_format not in LOG_FORMATS:
            raise ValueError(f"log format {log_format!r}: use one of {', '.join(LOG_FORMATS)}")
        if isinstance(handler, logging.Handler) and handler.formatter is not None:
            json_formatter = getattr(handler, "_fundsync_json", handler.formatter)
            handler._fundsync_json = json_formatter  # type: ignore[attr-defined]
            if log_format == "text":
                handler.setFormatter(LambdaPowertoolsFormatter(json_serializer=text_line))
            else:
                handler.setFormatter(json_formatter)
        self.metrics: Metrics | None = (
            Metrics(namespace=namespace, service=service) if metrics else None
        )
        self._tracer: Any = None
        self._tracing = tracing
        self.service = service

    # -- traces ----------------------------------------------------------------

    @property
    def tracer(self) -> Any:
        """The Powertools tracer, created on first use (it imports the X-Ray SDK in Lambda)."""
        if self._tracer is None:
            from aws_lambda_powertools import Tracer

            disabled = None if self._tracing is None else not self._tracing
            self._tracer = Tracer(service=self.service, disabled=disabled)
        return self._tracer

    def span(self, name: str) -> AbstractContextManager[Any]:
        """An X-Ray subsegment ``## name`` when tracing is on; nothing otherwise."""
        tracer = self.tracer
        if tracer.disabled:
            return nullcontext()
        segment: AbstractContextManager[Any] = tracer.provider.in_subsegment(name=f"## {name}")
        return segment

    @contextmanager
    def object_span(self, uri: str) -> Iterator[None]:
        """One subsegment per object, annotated with its key for X-Ray's filter expressions."""
        with self.span("load") as segment:
            if segment is not None:
                segment.put_annotation("source", uri[:250])
            yield

    # -- logs and metrics ------------------------------------------------------

    def info(self, message: str, **fields: Any) -> None:
        self.logger.info(message, extra=fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.logger.warning(message, extra=fields)

    def exception(self, message: str, **fields: Any) -> None:
        self.logger.exception(message, extra=fields)

    def file_done(self, report: dict[str, Any], **fields: Any) -> None:
        """Log one load report and add its figures to the batch's metrics."""
        extra = {"load_report": report, **fields}
        if report.get("status") in ("loaded", "skipped"):
            self.logger.info(f"load {report.get('status')}", extra=extra)
        else:
            self.logger.warning(f"load {report.get('status')}", extra=extra)
        if self.metrics is None:
            return
        add = self.metrics.add_metric
        if status_metric := STATUS_METRICS.get(str(report.get("status"))):
            add(name=status_metric, unit=MetricUnit.Count, value=1)
        for field, name in COUNT_METRICS.items():
            if (value := report.get(field)) is not None:
                add(name=name, unit=MetricUnit.Count, value=value)
        if report.get("verified"):
            add(name="LoadsVerified", unit=MetricUnit.Count, value=1)
        warnings = [f for f in report.get("quality") or () if f.get("policy") == "warn"]
        if warnings:
            add(name="QualityWarnings", unit=MetricUnit.Count, value=len(warnings))
        if rate := report.get("rows_per_second"):
            add(name="RowsPerSecond", unit=MetricUnit.CountPerSecond, value=rate)
        if report.get("bytes") is not None:
            add(name="Bytes", unit=MetricUnit.Bytes, value=report["bytes"])
        stages = {**(report.get("stage_seconds") or {}), "total": report.get("seconds") or 0}
        for stage, seconds in stages.items():
            milliseconds = round(float(seconds) * 1000, 3)
            add(name=f"Duration_{stage}", unit=MetricUnit.Milliseconds, value=milliseconds)

    def count(self, name: str, value: float = 1) -> None:
        if self.metrics is not None:
            self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    def flush(self) -> None:
        """Write the batch's metrics (one EMF document per 100 metrics); nothing when empty."""
        if self.metrics is not None and self.metrics.metric_set:
            self.metrics.flush_metrics(raise_on_empty_metrics=False)


def quiet() -> Telemetry:
    """Telemetry that logs warnings and errors only, to stderr, and writes no metrics.

    Under a service name of its own: Powertools shares one logger per service name, and
    the quiet level and stream must not silence the handler's telemetry in the same
    process (a worker's pipeline made in a test, or the demo, before the handler runs)."""
    return Telemetry(
        service=f"{SERVICE}-quiet", stream=sys.stderr, metrics=False, tracing=False, level="WARNING"
    )
