"""``fundsync worker`` and ``fundsync dlq``: the pipeline outside Lambda, and its dead letters."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from loader.cli.common import (
    EXIT_OK,
    EXIT_REJECTED,
    aws_options,
    command,
    db_config,
    db_option,
    merge_options,
    parse_options,
    parse_settings,
    positive_int,
    quality_option,
    verify_option,
)
from loader.display import shown
from loader.errors import ConfigError
from loader.settings import DB_ENV, PIPELINE_ENV


def register(commands: Any) -> None:
    _register_worker(commands)
    _register_dlq(commands)


def _register_worker(commands: Any) -> None:
    worker = command(
        commands,
        "worker",
        help="long-poll an SQS queue of S3 notifications and load them (outside Lambda)",
        description="The Lambda handler's processing as a long-running SQS consumer: "
        "messages whose input is bad go to the dead-letter queue at once, failures of the "
        "environment are left for SQS to redeliver. Visibility is extended while a load "
        "runs; SIGTERM finishes the current message and exits. Logs are JSON lines. Exit "
        "status 0 when every message of the run was done, 1 with --until-empty when any was "
        "dead-lettered or left to be retried, or when the worker stopped on its own (the "
        "database unreachable).",
    )
    worker.add_argument(
        "--queue-url",
        default=os.environ.get(PIPELINE_ENV["queue_url"]),
        help=f"the queue to consume [{PIPELINE_ENV['queue_url']}]",
    )
    worker.add_argument(
        "--dlq-url",
        help="forward messages with bad input here at once, with the error in its attributes "
        f"[{PIPELINE_ENV['dlq_url']}]",
    )
    worker.add_argument(
        "--wait", type=int, default=20, help="long-poll wait in seconds (0-20, default 20)"
    )
    worker.add_argument(
        "--visibility-timeout",
        type=int,
        help="seconds each heartbeat extends a message in hand by (default: the queue's)",
    )
    worker.add_argument(
        "--retry-delay",
        type=int,
        help="seconds before a message that failed for a transient reason is seen again "
        "(default: the queue's visibility timeout) [FUNDSYNC_RETRY_DELAY_SECONDS]",
    )
    worker.add_argument(
        "--until-empty",
        action="store_true",
        help="exit once the queue has no message left, visible or in flight",
    )
    worker.add_argument(
        "--metrics",
        action="store_true",
        help="also write CloudWatch embedded-metric-format lines (for ECS with CloudWatch)",
    )
    _log_options(worker)
    verify_option(worker)
    quality_option(worker)
    merge_options(worker)
    db_option(worker)
    aws_options(worker)
    parse_options(worker)
    worker.set_defaults(func=run_worker)


def _log_options(worker: argparse.ArgumentParser) -> None:
    worker.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="INFO, or WARNING with --quiet, DEBUG with --verbose",
    )
    worker.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="text lines for a person, JSON lines for a log pipeline (default: text on a "
        "terminal, JSON otherwise)",
    )


def _register_dlq(commands: Any) -> None:
    dlq = command(
        commands,
        "dlq",
        help="inspect, replay or drop dead-lettered messages",
        description="inspect: list dead-lettered messages with their sources and errors "
        "(they stay in the queue). replay: move them back to the main queue. drop: delete "
        "the chosen ones (their cause was dealt with elsewhere, e.g. a corrected export was "
        "uploaded). --message-id and --error-type choose which; messages read but not "
        "chosen stay. Exit status 1 when a --message-id was not found.",
    )
    dlq.add_argument("action", choices=["inspect", "replay", "drop"])
    dlq.add_argument(
        "--dlq-url",
        default=os.environ.get(PIPELINE_ENV["dlq_url"]),
        help=f"the dead-letter queue [{PIPELINE_ENV['dlq_url']}]",
    )
    dlq.add_argument(
        "--queue-url",
        help="replay into this queue (default: the queue whose redrive policy names the DLQ)",
    )
    dlq.add_argument(
        "--message-id",
        action="append",
        default=[],
        help="only this message (repeatable; the ids inspect lists)",
    )
    dlq.add_argument(
        "--error-type",
        action="append",
        default=[],
        help="only messages with this error type (repeatable): FileRejected, SourceMissing, "
        "MalformedMessage, RetriesExhausted, ...",
    )
    dlq.add_argument(
        "--max", type=positive_int, default=100, help="read at most this many messages (100)"
    )
    dlq.add_argument("--json", action="store_true", help="one JSON object per message")
    aws_options(dlq)
    dlq.set_defaults(func=run_dlq)


def run_worker(args: argparse.Namespace) -> int:
    from loader.pipeline.process import Pipeline
    from loader.pipeline.telemetry import Telemetry
    from loader.pipeline.worker import Worker
    from loader.settings import PipelineSettings

    if not args.queue_url:
        raise ConfigError(f"no queue: give --queue-url or set {PIPELINE_ENV['queue_url']}")
    if not 0 <= args.wait <= 20:
        raise ConfigError("--wait must be between 0 and 20 seconds")
    settings = PipelineSettings.from_env(dlq_url=args.dlq_url, retry_delay_seconds=args.retry_delay)
    if args.verify:
        os.environ[DB_ENV["verify"]] = "1"  # the worker's connection may come from the env
    if args.quality:
        os.environ[DB_ENV["quality"]] = ",".join(args.quality)
    config = db_config(args) if args.db else None
    level = args.log_level or ("WARNING" if args.quiet else "DEBUG" if args.verbose else "INFO")
    log_format = args.log_format or ("text" if sys.stdout.isatty() else "json")
    telemetry = Telemetry(metrics=args.metrics, level=level, log_format=log_format)
    with Pipeline(settings, parse_settings(args), db=config, telemetry=telemetry) as pipeline:
        worker = Worker(
            pipeline,
            args.queue_url,
            wait_seconds=args.wait,
            visibility_timeout=args.visibility_timeout,
            retry_delay=settings.retry_delay_seconds,
            until_empty=args.until_empty,
        )
        worker.install_signal_handlers()
        summary = worker.run()
    if summary.stopped_because:
        print(f"fundsync: worker stopped: {summary.stopped_because}", file=sys.stderr)
        return EXIT_REJECTED
    if args.until_empty and (summary.rejected or summary.retry):  # a scheduled run: not green
        print(
            f"fundsync: {summary.rejected} message(s) dead-lettered, {summary.retry} left to be "
            f"retried, of {summary.messages}",
            file=sys.stderr,
        )
        return EXIT_REJECTED
    return EXIT_OK


def run_dlq(args: argparse.Namespace) -> int:
    from loader.pipeline import dlq

    if not args.dlq_url:
        raise ConfigError(f"no dead-letter queue: give --dlq-url or set {PIPELINE_ENV['dlq_url']}")
    select = dlq.Selection(frozenset(args.message_id), frozenset(args.error_type))
    if args.action == "inspect":
        letters = [x for x in dlq.inspect(args.dlq_url, limit=args.max) if select.matches(x)]
        verb = "in the dead-letter queue"
    elif args.action == "replay":
        letters = dlq.replay(args.dlq_url, args.queue_url, limit=args.max, select=select)
        verb = "replayed to the main queue"
    else:
        letters = dlq.drop(args.dlq_url, select, limit=args.max)
        verb = "dropped from the dead-letter queue"
    missing = sorted(select.message_ids - {letter.message_id for letter in letters})
    if missing:
        print(
            f"fundsync: not found among the messages read (--max {args.max}): "
            + ", ".join(missing),
            file=sys.stderr,
        )
    if args.json:
        for letter in letters:
            print(json.dumps(letter.to_dict(), ensure_ascii=False), flush=True)
        return EXIT_REJECTED if missing else EXIT_OK
    print(f"{len(letters)} message(s) {verb}")
    for letter in letters:
        print(f"- {letter.message_id} (sent {letter.sent_at}, received {letter.receive_count}x)")
        for source in letter.sources or ["(no S3 object in the body)"]:
            print(f"    source: {shown(source)}")
        error = f"{letter.error.get('error_type')}: {letter.error.get('error', '')}"
        first, *rest = error.splitlines() or [""]
        print(f"    error:  {shown(first)}")
        for line in rest:  # a rejection's located errors, one a line, under the first
            print(f"            {line}")
        if report := letter.error.get("rejects_report"):
            print(f"    report: {report}")
    return EXIT_REJECTED if missing else EXIT_OK
