"""``fundsync verify``: does fund_data still hold what the loaded files said?"""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from loader.cli.common import (
    EXIT_OK,
    EXIT_REJECTED,
    aws_options,
    command,
    day,
    db_config,
    db_option,
    parse_options,
    parse_settings,
)
from loader.display import shown
from loader.errors import ConfigError

if TYPE_CHECKING:
    from loader.sources import Source
    from loader.verify import Verification


def register(commands: Any) -> None:
    parser = command(
        commands,
        "verify",
        help="re-read loaded files and compare them with fund_data now",
        description="Re-reads each source (a local file, or the S3 object at the version the "
        "ledger recorded while it exists) exactly as its latest load read it, and compares it "
        "with fund_data now. One verdict per source: match, superseded (keys changed by later "
        "loads or deleted by a later replace-days), differs (the first 100 keys, stored and "
        "expected), never loaded, source missing, source changed (not the content its load "
        "merged) or error. Exit status 0 when every verdict is match or superseded, else 1.",
    )
    parser.add_argument(
        "sources", nargs="*", metavar="SOURCE", help="paths, object keys or s3://bucket/key"
    )
    parser.add_argument("--date", type=day, help="every source whose loads touched this day")
    parser.add_argument("--until", type=day, help="with --date: a range of trade dates")
    parser.add_argument(
        "--bucket",
        help="the bucket of object keys the ledger does not know the bucket of (loads before "
        "migration 005) [FUNDSYNC_BUCKET]",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per source")
    parse_options(parser)
    aws_options(parser)
    db_option(parser)
    parser.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from loader.mysql.lineage import sources_of_days
    from loader.mysql.session import Session
    from loader.prepare.prepare import PrepareOptions
    from loader.verify import verify_source

    if args.until and not args.date:
        raise ConfigError("--until needs --date")
    if bool(args.sources) == bool(args.date):
        raise ConfigError("give SOURCE... or --date D [--until D], not both")
    options = PrepareOptions(parse=parse_settings(args))
    bucket = args.bucket or os.environ.get("FUNDSYNC_BUCKET")
    status = EXIT_OK
    with Session(db_config(args)) as session:
        if args.date:
            found = sources_of_days(session.connection(), args.date, args.until or args.date)
            if not found:
                print(f"fundsync: no load touched {args.date}..{args.until or args.date}")
                return EXIT_REJECTED
            sources = [_source_of_key(key, known or bucket) for key, known in found]
        else:
            sources = [_source_as_typed(session, text, bucket) for text in args.sources]
        for source in sources:
            verdict = verify_source(source, session, options)
            if not verdict.healthy:
                status = EXIT_REJECTED
            print(json.dumps(verdict.to_dict(), default=str) if args.json else describe(verdict))
    return status


def _source_as_typed(session: Any, text: str, bucket: str | None) -> Source:
    """A source as typed: ``s3://bucket/key``, a local path, or an object key the ledger
    knows (its bucket from the ledger, else ``--bucket``)."""
    from loader.mysql.ledger import known_key, latest_load
    from loader.sources import S3Object, source_of

    if text.startswith("s3://") or os.path.exists(text):
        return source_of(text)
    conn = session.connection()
    key = known_key(conn, text)
    latest = latest_load(conn, key)
    conn.rollback()
    if latest is not None and (latest.identity.bucket or (bucket and not os.path.isabs(key))):
        return S3Object(bucket=latest.identity.bucket or str(bucket), key=key)
    return source_of(text)


def _source_of_key(key: str, bucket: str | None) -> Source:
    """A ledger's source key: an object in its bucket, else a local path (which may be gone:
    its verdict says so)."""
    from loader.sources import LocalFile, S3Object

    if bucket and not os.path.isabs(key):
        return S3Object(bucket=bucket, key=key)
    return LocalFile(key)


def describe(found: Verification) -> str:
    if found.verdict in ("error", "source missing", "source changed", "never loaded"):
        reason = found.error or found.note or ""
        line = f"{found.verdict}: {shown(found.source)}" + (f": {shown(reason)}" if reason else "")
        if found.note and found.error:
            line += f"\n  note: {shown(found.note)}"
        return line
    ledger = ""
    if found.recorded_digest:
        same = found.recorded_digest == found.digest
        ledger = (
            " (the ledger's digest)" if same else f" (the ledger recorded {found.recorded_digest})"
        )
    against = f", version {found.version}" if found.version else ""
    head = (
        f"{found.verdict:<10} {found.rows:,} rows in {found.groups:,} groups, digest "
        f"{found.digest}{ledger}, load #{found.load_id}{against}: {shown(found.source)}"
    )
    lines = [head]
    if found.note:
        lines.append(f"  note: {shown(found.note)}")
    if found.changed_by_later_loads:
        lines.append(f"  {found.changed_by_later_loads:,} keys changed since by later loads")
    if found.deleted_by_later_loads:
        lines.append(
            f"  {found.deleted_by_later_loads:,} keys deleted since by a later replace-days load"
        )
    if found.differing:
        lines.append(f"  {found.differing:,} keys differ; the first {len(found.differences)}:")
    for d in found.differences:
        stored = "missing" if d.missing else _value(d.stored_numeric, d.stored_text)
        lines.append(
            f"  {d.d_trade} {d.stock} {d.ticker} {d.col_code}: stored {stored}, "
            f"expected {_value(d.expected_numeric, d.expected_text)}"
        )
    return "\n".join(lines)


def _value(numeric: str | None, text: str | None) -> str:
    if numeric is not None:
        return numeric
    return "NULL" if text is None else json.dumps(text, ensure_ascii=False)
