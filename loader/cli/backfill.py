"""``fundsync backfill``: many exports from a folder or an S3 prefix."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import TYPE_CHECKING, Any

from loader.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REJECTED,
    aws_options,
    command,
    day,
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

if TYPE_CHECKING:
    from loader.backfill import Backfill, Export
    from loader.mysql.config import DbConfig


def register(commands: Any) -> None:
    parser = command(
        commands,
        "backfill",
        help="load many exports from a folder or an S3 prefix: parallel, ordered, resumable",
        description="Load every export under SOURCE (a folder, or s3://bucket/prefix) in "
        "trade-date order: --workers processes parse ahead while at most --db-concurrency "
        "merges run. The ledger is the checkpoint: run the same command again after an "
        "interruption and it loads only what is missing. Exit status 0 when every file "
        "loaded or was already loaded, 1 when any was rejected or failed, 130 when "
        "interrupted.",
    )
    parser.add_argument("source", metavar="SOURCE", help="a folder, or s3://bucket/prefix")
    _selection_options(parser)
    _run_options(parser)
    parser.add_argument(
        "--enqueue",
        metavar="QUEUE_URL",
        help="send one S3 notification per object to the pipeline's queue instead of loading",
    )
    db_option(parser)
    aws_options(parser)
    parse_options(parser)
    parser.set_defaults(func=run)


def _selection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=day, help="first trade date (YYYY-MM-DD) to load")
    parser.add_argument("--until", type=day, help="last trade date (YYYY-MM-DD) to load")
    parser.add_argument(
        "--glob",
        action="append",
        help="file name or relative path pattern (repeatable; default *.csv and *.csv.gz)",
    )
    parser.add_argument(
        "--order",
        choices=["trade-date", "name"],
        default="trade-date",
        help="load order (default trade-date: a later export wins over an earlier one)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would load and what the ledger has"
    )


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=positive_int,
        help="processes that parse ahead (default: cores - 1, at least 1)",
    )
    parser.add_argument(
        "--db-concurrency",
        type=positive_int,
        default=1,
        help="merges running at once (default 1: the database is the bottleneck)",
    )
    parser.add_argument("--force", action="store_true", help="reload what is already loaded")
    verify_option(parser)
    quality_option(parser)
    merge_options(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="the summary (or, with --dry-run, the list of exports) as one JSON document",
    )
    parser.add_argument(
        "--progress",
        choices=["auto", "bar", "lines", "none"],
        default="auto",
        help="a live bar on a terminal, plain lines otherwise (auto)",
    )
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=10.0,
        help="seconds between plain progress lines (10)",
    )


def run(args: argparse.Namespace) -> int:
    from loader.backfill import DEFAULT_GLOBS, discover
    from loader.backfill.enqueue import enqueue

    if args.since and args.until and args.since > args.until:
        raise ConfigError("--since is after --until")
    globs = tuple(args.glob) if args.glob else DEFAULT_GLOBS
    exports = discover(args.source, globs, args.since, args.until, args.order)
    if not exports:
        print(f"fundsync: no export under {args.source} matches ({_selection(args, globs)})",
              file=sys.stderr)  # fmt: skip
        return EXIT_REJECTED
    if args.enqueue:
        if args.dry_run:
            for export in exports:
                print(f"would enqueue {export.source}")
            return EXIT_OK
        sent = enqueue(exports, args.enqueue)
        print(f"enqueued {sent} message(s) to {args.enqueue}")
        return EXIT_OK
    config = db_config(args)
    if args.dry_run:
        return _dry_run(exports, config, args.json)
    return _load(args, exports, config)


def _selection(args: argparse.Namespace, globs: tuple[str, ...]) -> str:
    parts = [f"names {' or '.join(globs)}"]
    if args.since:
        parts.append(f"trade dates from {args.since}")
    if args.until:
        parts.append(f"trade dates to {args.until}")
    return ", ".join(parts)


def _load(args: argparse.Namespace, exports: list[Export], config: DbConfig) -> int:
    from loader.backfill import Backfill, default_workers
    from loader.backfill.progress import BackfillProgress, summary_table
    from loader.prepare.prepare import PrepareOptions
    from loader.settings import PipelineSettings

    settings = PipelineSettings.from_env()
    progress = BackfillProgress(
        exports,
        mode=args.progress if args.progress != "none" else "off",
        interval=args.progress_interval,
    )
    runner = Backfill(
        config,
        PrepareOptions(
            parse=parse_settings(args),
            work_dir=settings.work_dir,
            max_object_bytes=settings.max_object_bytes,
        ),
        workers=args.workers or default_workers(),
        db_concurrency=args.db_concurrency,
        force=args.force,
        listener=progress,
        rejects_prefix=settings.rejects_prefix,
    )
    _stop_on_signals(runner)
    try:
        summary = runner.run(exports)
    except KeyboardInterrupt:
        print("fundsync: stopped; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.json:
        print(json.dumps(summary.to_dict(), ensure_ascii=False, default=str))
    else:
        summary_table(summary)
    if summary.stopped_because:
        print(f"fundsync: backfill stopped: {summary.stopped_because}", file=sys.stderr)
        return EXIT_REJECTED
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if summary.ok else EXIT_REJECTED


def _stop_on_signals(runner: Backfill) -> None:
    def stop(signum: int, frame: object) -> None:
        if runner.stopping:
            raise KeyboardInterrupt
        print("fundsync: stopping after the merges under way (again to stop now)", file=sys.stderr)
        runner.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def _dry_run(exports: list[Export], config: DbConfig, as_json: bool) -> int:
    from loader.backfill import Backfill

    known = Backfill(config).known(exports)
    states = [known.state(export) for export in exports]
    if as_json:
        listing = [
            {"source": e.source, "key": e.key, "trade_date": e.trade_date, "size": e.size,
             "ledger": state}
            for e, state in zip(exports, states, strict=True)
        ]  # fmt: skip
        print(json.dumps({"exports": listing}, default=str, indent=1))
        return EXIT_OK
    print(f"{'trade date':<11} {'bytes':>14}  {'ledger':<28} source")
    for export, state in zip(exports, states, strict=True):
        trade_date = export.trade_date.isoformat() if export.trade_date else "(no date)"
        print(f"{trade_date:<11} {export.size:>14,}  {state:<28} {shown(export.source)}")
    counts = {state: states.count(state) for state in sorted(set(states))}
    parts = ", ".join(f"{n} {state}" for state, n in counts.items())
    print(f"{len(exports)} export(s): {parts or 'none'}")
    return EXIT_OK
