"""``fundsync load`` and ``fundsync migrate``: sources into fund_data, and the tables they need."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from loader.cli.common import (
    aws_options,
    command,
    db_config,
    db_option,
    error_lines,
    exit_status,
    merge_options,
    parse_options,
    parse_settings,
    quality_option,
    verify_option,
)
from loader.display import shown

if TYPE_CHECKING:
    from loader.mysql.session import Session
    from loader.report import LoadReport

LOAD_HEADER = (
    f"{'status':<9} {'rows':>10} {'inserted':>10} {'updated':>9} {'unchanged':>10} "
    f"{'deleted':>8} {'rejected':>9} {'seconds':>8}  source"
)


def register(commands: Any) -> None:
    migrate = command(
        commands,
        "migrate",
        help="create or upgrade the tables (idempotent; safe from two processes at once)",
    )
    db_option(migrate)
    migrate.set_defaults(func=run_migrate)

    load = command(
        commands,
        "load",
        help="load exports into fund_data, one transaction per file",
        description="Parse each export, stage it with LOAD DATA LOCAL INFILE and merge it "
        "into fund_data; record every attempt in fund_data_loads. Content the latest load "
        "of the same source merged is skipped unless --force. Every source is attempted. "
        "Exit status 0 when every source loaded or was skipped, 1 when any was rejected or "
        "failed, 2 for usage errors.",
    )
    load.add_argument(
        "sources", nargs="+", metavar="SOURCE", help="local export file(s) or s3://bucket/key"
    )
    load.add_argument("--json", action="store_true", help="one JSON object per source")
    load.add_argument("--force", action="store_true", help="reload even if already loaded")
    load.add_argument(
        "--dry-run",
        action="store_true",
        help="merge each file in a transaction that is rolled back: what it would insert, "
        "update and (with --mode replace-days) delete, and nothing written, not even the ledger",
    )
    verify_option(load)
    quality_option(load)
    merge_options(load)
    db_option(load)
    aws_options(load)
    parse_options(load)
    load.set_defaults(func=run_load)


def run_migrate(args: argparse.Namespace) -> int:
    import mysql.connector

    from loader.mysql.connection import classify, connect
    from loader.mysql.migrate import migrate

    config = db_config(args)
    conn = connect(config)
    try:
        applied = migrate(conn)
    except mysql.connector.Error as error:
        needed = f"CREATE, ALTER, INDEX, SELECT and INSERT on {config.database}.* to migrate"
        raise classify(error, config, needed) from None
    finally:
        conn.close()
    names = ", ".join(f"{m.version:03d}_{m.name}" for m in applied) or "nothing (up to date)"
    print(f"migrated {config.redacted()}: applied {names}")
    return 0


def run_load(args: argparse.Namespace) -> int:
    import importlib
    import threading

    from loader.local_files import hash_ahead
    from loader.sources import LocalFile, source_of

    sources = [source_of(text) for text in args.sources]  # a malformed URI: usage, before any load
    config = db_config(args)
    # Polars and the loader import on another thread while this one reads the first local
    # file (hashing it): the file's bytes are read from the first tenths of a second on.
    heavy = threading.Thread(target=importlib.import_module, args=("loader.load",), daemon=True)
    heavy.start()
    first_read = None
    if sources and isinstance(sources[0], LocalFile):
        first_read = hash_ahead(sources[0].path)
    heavy.join()
    from loader.load import load_source
    from loader.mysql.merge_options import MergeOptions
    from loader.mysql.session import Session
    from loader.prepare.prepare import PrepareOptions
    from loader.rejects import RejectsWriter
    from loader.settings import PipelineSettings

    settings = PipelineSettings.from_env()  # the size guard and the rejects prefix of S3 objects
    options = PrepareOptions(
        parse=parse_settings(args),
        work_dir=settings.work_dir,
        max_object_bytes=settings.max_object_bytes,
    )
    rejects = RejectsWriter(settings.rejects_prefix, settings.rejects_bucket)
    merging = MergeOptions.of(config, force=args.force, dry_run=args.dry_run)
    statuses = []
    with Session(config, staging_parent=settings.work_dir) as session:
        reach(session)
        if not args.json and not args.quiet:
            print(LOAD_HEADER)
        for source in sources:
            report = load_source(source, session, options, merging, rejects=rejects)
            if first_read is not None:  # the first source's: process start to its first byte
                report = replace(report, timings=(("start", first_read), *report.timings))
                first_read = None
            statuses.append(report.status)
            _print(report, args)
    return exit_status(statuses)


def reach(session: Session) -> None:
    """Connect before the first source, so that a database that cannot be reached is one line
    naming it, not a failure per source."""
    from loader.errors import DatabaseError, DatabaseSilent

    config = session.config
    try:
        session.connection()
    except DatabaseError as error:
        reason = error.detail
        if isinstance(error, DatabaseSilent):
            reason = (
                f"it accepted the connection but did not answer within "
                f"{config.connect_timeout} s (connect_timeout)"
            )
        raise DatabaseError(
            f"cannot reach the database at {config.address}: {reason}", error.errno
        ) from None


def _print(report: LoadReport, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, default=str), flush=True)
        return
    if args.quiet and report.status in ("loaded", "skipped"):
        return
    print(load_line(report.to_dict()), flush=True)
    for line in error_lines(report.errors):
        print(line, flush=True)
    if report.note:
        print(f"    {shown(report.note)}", flush=True)
    for finding in report.quality:  # the quality gate: warnings, or why the file is held
        day = f" {finding['d_trade']}" if finding.get("d_trade") else ""
        print(f"    quality {finding['policy']}{day}: {finding['check']}: "
              f"{shown(finding['detail'])}", flush=True)  # fmt: skip
    if args.verbose:
        stages = ", ".join(f"{name} {seconds:.3f}" for name, seconds in report.timings)
        print(f"    stage seconds: {stages or '-'}", flush=True)


def load_line(r: dict[str, Any]) -> str:
    def n(key: str) -> str:
        value = r.get(key)
        return "-" if value is None else f"{value:,}"

    return (
        f"{r['status']!s:<9} {n('rows_merged'):>10} {n('inserted'):>10} {n('updated'):>9} "
        f"{n('unchanged'):>10} {n('deleted'):>8} {n('rejected_rows'):>9} "
        f"{float(r['seconds']):>8.2f}  "
        f"{shown(r['source'])}"
    )
