"""``fundsync``: the command line. Thin: parse flags, call the library, map errors to exit codes.

Exit status: 0 when every source parsed (or loaded), 1 when any was
rejected, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from loader import __version__
from loader.errors import (
    ConfigError,
    FileRejected,
    InputError,
    LoaderError,
    TransientError,
)

if TYPE_CHECKING:
    from loader.backfill import Export
    from loader.db import DbConfig

from loader.settings import (
    ENV,
    PIPELINE_ENV,
    BadRowAllowance,
    ParseSettings,
    parse_prefix_map,
)

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2


def _parse_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("parsing")
    group.add_argument(
        "--encoding",
        help="force this encoding for every file (overrides BOM and detection) "
        f"[{ENV['encoding']}]",
    )
    group.add_argument(
        "--allowed-encodings",
        help="comma-separated code pages a non-UTF-8 file may be in "
        f"(default cp1252,cp874) [{ENV['allowed_encodings']}]",
    )
    group.add_argument(
        "--encoding-by-prefix",
        help="PREFIX=ENCODING;... forced encodings per source prefix "
        f"[{ENV['encoding_by_prefix']}]",
    )
    group.add_argument(
        "--date-order",
        choices=["month-first", "day-first"],
        help="order of slash dates when the file proves neither (default month-first) "
        f"[{ENV['default_date_order']}]",
    )
    group.add_argument(
        "--buddhist-era",
        action="store_true",
        default=None,
        help=f"read years 2443..2643 as Buddhist era (minus 543) [{ENV['buddhist_era']}]",
    )
    group.add_argument(
        "--max-bad-rows",
        help="bad rows a file may have and still load: a count (100), a fraction (0.01) "
        f"or a percentage (1%%); default 0, strict [{ENV['max_bad_rows']}]",
    )


def _settings(args: argparse.Namespace) -> ParseSettings:
    return ParseSettings.from_env(
        encoding=args.encoding,
        allowed_encodings=tuple(args.allowed_encodings.split(","))
        if args.allowed_encodings
        else None,
        encoding_by_prefix=parse_prefix_map(args.encoding_by_prefix)
        if args.encoding_by_prefix
        else None,
        default_date_order=args.date_order,
        buddhist_era=args.buddhist_era,
        max_bad_rows=BadRowAllowance.parse(args.max_bad_rows) if args.max_bad_rows else None,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fundsync",
        description="Load SQL Server fund-data exports into Aurora MySQL, exactly.",
    )
    parser.add_argument("--version", action="version", version=f"fundsync {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    parse = commands.add_parser(
        "parse",
        help="decode and check exports without a database: what would load, or why not",
        description="Decode, parse and deduplicate each export exactly as a load would, "
        "and report the result. Nothing is written anywhere unless --write-rejects.",
    )
    parse.add_argument("sources", nargs="+", metavar="SOURCE", help="local export file(s)")
    parse.add_argument("--json", action="store_true", help="one JSON object per source")
    parse.add_argument(
        "--write-rejects",
        action="store_true",
        help="with a bad-row allowance, write <name>.rejects.csv beside each input",
    )
    _parse_options(parse)
    parse.set_defaults(func=_cmd_parse)

    migrate = commands.add_parser(
        "migrate",
        help="create or upgrade the tables (idempotent; safe from two processes at once)",
    )
    _db_option(migrate)
    migrate.set_defaults(func=_cmd_migrate)

    load = commands.add_parser(
        "load",
        help="load exports into fund_data, one transaction per file",
        description="Parse each export, stage it with LOAD DATA LOCAL INFILE and merge it "
        "into fund_data; record every attempt in fund_data_loads. Content already loaded "
        "from the same source is skipped unless --force.",
    )
    load.add_argument(
        "sources", nargs="+", metavar="SOURCE", help="local export file(s) or s3://bucket/key"
    )
    load.add_argument("--json", action="store_true", help="one JSON object per source")
    load.add_argument("--force", action="store_true", help="reload even if already loaded")
    _db_option(load)
    _parse_options(load)
    load.set_defaults(func=_cmd_load)

    backfill = commands.add_parser(
        "backfill",
        help="load many exports from a folder or an S3 prefix: parallel, ordered, resumable",
        description="Load every export under SOURCE (a folder, or s3://bucket/prefix) in "
        "trade-date order: --workers processes parse ahead while at most --db-concurrency "
        "merges run. The ledger is the checkpoint: run the same command again after an "
        "interruption and it loads only what is missing. Exit status 0 when every file "
        "loaded or was already loaded, 1 when any was rejected or failed, 130 when "
        "interrupted.",
    )
    backfill.add_argument("source", metavar="SOURCE", help="a folder, or s3://bucket/prefix")
    backfill.add_argument("--since", type=_day, help="first trade date (YYYY-MM-DD) to load")
    backfill.add_argument("--until", type=_day, help="last trade date (YYYY-MM-DD) to load")
    backfill.add_argument(
        "--glob",
        action="append",
        help="file name or relative path pattern (repeatable; default *.csv and *.csv.gz)",
    )
    backfill.add_argument(
        "--order",
        choices=["trade-date", "name"],
        default="trade-date",
        help="load order (default trade-date: a later export wins over an earlier one)",
    )
    backfill.add_argument(
        "--dry-run", action="store_true", help="list what would load and what the ledger has"
    )
    backfill.add_argument(
        "--workers", type=int, help="processes that parse ahead (default: cores - 1, at least 1)"
    )
    backfill.add_argument(
        "--db-concurrency",
        type=int,
        default=1,
        help="merges running at once (default 1: the database is the bottleneck)",
    )
    backfill.add_argument("--force", action="store_true", help="reload what is already loaded")
    backfill.add_argument("--json", action="store_true", help="the summary as one JSON object")
    backfill.add_argument(
        "--progress",
        choices=["auto", "bar", "lines", "none"],
        default="auto",
        help="a live bar on a terminal, plain lines otherwise (auto)",
    )
    backfill.add_argument(
        "--progress-interval",
        type=float,
        default=10.0,
        help="seconds between plain progress lines (10)",
    )
    backfill.add_argument(
        "--enqueue",
        metavar="QUEUE_URL",
        help="send one S3 notification per object to the pipeline's queue instead of loading",
    )
    _db_option(backfill)
    _parse_options(backfill)
    backfill.set_defaults(func=_cmd_backfill)

    worker = commands.add_parser(
        "worker",
        help="long-poll an SQS queue of S3 notifications and load them (outside Lambda)",
        description="The Lambda handler's processing as a long-running SQS consumer: "
        "messages whose input is bad go to the dead-letter queue at once, failures of the "
        "environment are left for SQS to redeliver. Visibility is extended while a load "
        "runs; SIGTERM finishes the current message and exits. Logs are JSON lines.",
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
    worker.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    _db_option(worker)
    _parse_options(worker)
    worker.set_defaults(func=_cmd_worker)

    dlq = commands.add_parser(
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
    dlq.add_argument("--max", type=int, default=100, help="read at most this many messages (100)")
    dlq.add_argument("--json", action="store_true", help="one JSON object per message")
    dlq.set_defaults(func=_cmd_dlq)

    demo = commands.add_parser(
        "demo",
        help="run the main job end to end on generated sample exports",
        description="Generate a day's export, a cp1252 export and a broken export, load them "
        "into a throwaway MariaDB (or --db) and print the reports, the rows and the ledger.",
    )
    demo.add_argument("--rows", type=int, default=200_000, help="rows in the day's export")
    demo.add_argument("--keep", metavar="DIR", help="write the sample files here and keep them")
    _db_option(demo)
    demo.set_defaults(func=_cmd_demo)

    generate = commands.add_parser(
        "generate",
        help="write a deterministic synthetic export (for trials and benchmarks)",
    )
    generate.add_argument("path", help="output file")
    generate.add_argument("--rows", type=int, default=100_000)
    generate.add_argument("--seed", type=int, default=20251209)
    generate.add_argument("--encoding", default="utf-8", choices=["utf-8", "cp1252", "cp874"])
    generate.add_argument("--gzip", action="store_true")
    generate.add_argument(
        "--days", type=int, help="spread the rows over this many trade days (default: as needed)"
    )
    generate.add_argument("--col-codes", type=int, default=20, help="figures per fund a day (20)")
    generate.add_argument(
        "--text-share", type=float, default=0.05, help="share of text values (0.05)"
    )
    generate.add_argument(
        "--duplicate-share",
        type=float,
        default=0.001,
        help="share of rows repeating an earlier key, half of them with a new value (0.001)",
    )
    generate.add_argument(
        "--date-style",
        default="iso",
        choices=["iso", "iso-midnight", "compact", "day-first", "month-first"],
    )
    generate.set_defaults(func=_cmd_generate)
    return parser


def _cmd_parse(args: argparse.Namespace) -> int:
    from loader.parse import parse_file
    from loader.report import (
        describe,
        parse_report,
        rejection_report,
        rejects_path,
        write_rejects,
    )

    settings = _settings(args)
    status = EXIT_OK
    for source in args.sources:
        try:
            result = parse_file(source, settings=settings)
        except FileRejected as rejected:
            report = rejection_report(source, rejected)
            status = EXIT_REJECTED
        except FileNotFoundError:
            report = {"source": source, "status": "failed", "error": "no such file"}
            status = EXIT_REJECTED
        else:
            report = parse_report(result)
            if args.write_rejects and (written := write_rejects(result, rejects_path(source))):
                report["rejects_file"] = str(written)
        if args.json:
            print(json.dumps(report, ensure_ascii=False), flush=True)
        elif report["status"] == "failed":
            print(f"{source}: FAILED ({report['error']})", flush=True)
        else:
            print(describe(report), flush=True)
    return status


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help="mysql://user:password@host:port/db[?unix_socket=...&ssl_ca=...] "
        "(default: FUNDSYNC_DB_URL, else AURORA_HOST/PORT/USER/PASSWORD/DATABASE)",
    )


def _cmd_migrate(args: argparse.Namespace) -> int:
    from loader.db import DbConfig, connect
    from loader.migrate import migrate

    config = DbConfig.from_env(args.db)
    conn = connect(config)
    try:
        applied = migrate(conn)
    finally:
        conn.close()
    names = ", ".join(f"{m.version:03d}_{m.name}" for m in applied) or "nothing (up to date)"
    print(f"migrated {config.redacted()}: applied {names}")
    return EXIT_OK


def _cmd_load(args: argparse.Namespace) -> int:
    from loader.db import DbConfig
    from loader.pipeline import Pipeline
    from loader.settings import PipelineSettings
    from loader.sources import is_s3_uri, object_ref

    config = DbConfig.from_env(args.db)
    status = EXIT_OK
    settings = PipelineSettings.from_env()
    with Pipeline(settings, _settings(args), db=config) as pipeline:
        if not args.json:
            print(_LOAD_HEADER)
        for source in args.sources:
            if is_s3_uri(source):
                ref = object_ref(source)
                try:
                    report = pipeline.load_object(ref, force=args.force)
                except (InputError, TransientError) as failure:
                    report = pipeline.failure_report(ref, failure)
            else:
                report = pipeline.loader.load(source, force=args.force)
            if report.status not in ("loaded", "skipped"):
                status = EXIT_REJECTED
            if args.json:
                print(json.dumps(report.to_dict(), ensure_ascii=False, default=str), flush=True)
            else:
                print(_load_line(report.to_dict()), flush=True)
                for error in report.errors[:5]:
                    where = f"line {error['line']}" if error.get("line") else "file"
                    column = f", column {error['column']}" if error.get("column") else ""
                    print(f"    {where}{column}: {error['reason']}")
    return status


_LOAD_HEADER = (
    f"{'status':<9} {'rows':>10} {'inserted':>10} {'updated':>9} {'unchanged':>10} "
    f"{'rejected':>9} {'seconds':>8}  source"
)


def _load_line(r: dict[str, object]) -> str:
    def n(key: str) -> str:
        value = r.get(key)
        return "-" if value is None else f"{value:,}"

    return (
        f"{r['status']!s:<9} {n('rows_merged'):>10} {n('inserted'):>10} {n('updated'):>9} "
        f"{n('unchanged'):>10} {n('rejected_rows'):>9} {float(r['seconds']):>8.2f}  {r['source']}"  # type: ignore[arg-type]
    )


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _cmd_backfill(args: argparse.Namespace) -> int:
    import signal

    from loader.backfill import DEFAULT_GLOBS, Backfill, default_workers, discover, enqueue
    from loader.db import DbConfig
    from loader.progress import BackfillProgress, summary_table
    from loader.settings import PipelineSettings

    if args.since and args.until and args.since > args.until:
        raise ConfigError("--since is after --until")
    globs = tuple(args.glob) if args.glob else DEFAULT_GLOBS
    exports = discover(args.source, globs, args.since, args.until, args.order)
    if args.enqueue:
        if args.dry_run:
            for export in exports:
                print(f"would enqueue {export.source}")
            return EXIT_OK
        sent = enqueue(exports, args.enqueue)
        print(f"enqueued {sent} message(s) to {args.enqueue}")
        return EXIT_OK
    config = DbConfig.from_env(args.db)
    settings = PipelineSettings.from_env()
    if args.dry_run:
        return _backfill_dry_run(exports, config, args.json)
    progress = BackfillProgress(
        exports,
        mode=args.progress if args.progress != "none" else "off",
        interval=args.progress_interval,
    )
    runner = Backfill(
        config,
        _settings(args),
        workers=args.workers or default_workers(),
        db_concurrency=args.db_concurrency,
        force=args.force,
        max_object_bytes=settings.max_object_bytes,
        work_dir=settings.work_dir,
        listener=progress,
    )

    def stop(signum: int, frame: object) -> None:
        if runner.stopping:
            raise KeyboardInterrupt
        print("fundsync: stopping after the merges under way (again to stop now)", file=sys.stderr)
        runner.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        summary = runner.run(exports)
    except KeyboardInterrupt:
        print("fundsync: stopped; run the same command again to resume", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(summary.to_dict(), ensure_ascii=False, default=str))
    else:
        summary_table(summary)
    if summary.interrupted:
        return 130
    return EXIT_OK if summary.ok else EXIT_REJECTED


def _backfill_dry_run(exports: list[Export], config: DbConfig, as_json: bool) -> int:
    from loader.backfill import ledger_state

    states = ledger_state(exports, config)
    counts: dict[str, int] = {}
    for export, state in zip(exports, states, strict=True):
        counts[state] = counts.get(state, 0) + 1
        if as_json:
            print(
                json.dumps(
                    {
                        "source": export.source,
                        "key": export.key,
                        "trade_date": export.trade_date,
                        "size": export.size,
                        "ledger": state,
                    },
                    default=str,
                )
            )
        else:
            day = export.trade_date.isoformat() if export.trade_date else "(no date)"
            print(f"{day:<11} {export.size:>14,}  {state:<28} {export.source}")
    if not as_json:
        parts = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        print(f"{len(exports)} export(s): {parts or 'none'}")
    return EXIT_OK


def _cmd_worker(args: argparse.Namespace) -> int:
    from loader.db import DbConfig
    from loader.pipeline import Pipeline
    from loader.settings import PipelineSettings
    from loader.telemetry import Telemetry
    from loader.worker import Worker

    if not args.queue_url:
        raise ConfigError(f"no queue: give --queue-url or set {PIPELINE_ENV['queue_url']}")
    if not 0 <= args.wait <= 20:
        raise ConfigError("--wait must be between 0 and 20 seconds")
    settings = PipelineSettings.from_env(dlq_url=args.dlq_url, retry_delay_seconds=args.retry_delay)
    config = DbConfig.from_env(args.db) if args.db else None
    telemetry = Telemetry(metrics=args.metrics, level=args.log_level)
    with Pipeline(settings, _settings(args), db=config, telemetry=telemetry) as pipeline:
        worker = Worker(
            pipeline,
            args.queue_url,
            wait_seconds=args.wait,
            visibility_timeout=args.visibility_timeout,
            retry_delay=settings.retry_delay_seconds,
            until_empty=args.until_empty,
        )
        worker.install_signal_handlers()
        worker.run()
    return EXIT_OK


def _cmd_dlq(args: argparse.Namespace) -> int:
    from loader import dlq

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
            print(f"    source: {source}")
        print(f"    error:  {letter.error.get('error_type')}: {letter.error.get('error', '')}")
        if report := letter.error.get("rejects_report"):
            print(f"    report: {report}")
    return EXIT_REJECTED if missing else EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from loader.demo import run_demo

    return run_demo(rows=args.rows, keep=Path(args.keep) if args.keep else None, db_url=args.db)


def _cmd_generate(args: argparse.Namespace) -> int:
    from loader.samples import ExportSpec, write_export

    spec = ExportSpec(
        rows=args.rows,
        seed=args.seed,
        encoding=args.encoding,
        gzip=args.gzip,
        date_style=args.date_style,
        days=args.days,
        col_codes=args.col_codes,
        text_share=args.text_share,
        duplicate_share=args.duplicate_share,
    )
    path = write_export(args.path, spec)
    print(f"wrote {path} ({path.stat().st_size:,} bytes, {args.rows:,} rows)")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as error:
        print(f"fundsync: {error}", file=sys.stderr)
        return EXIT_USAGE
    except LoaderError as error:  # the database or the schema, not one file
        print(f"fundsync: {error}", file=sys.stderr)
        return EXIT_REJECTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
