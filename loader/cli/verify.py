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
        "ledger recorded while it exists), parses it as a load would and compares it with "
        "fund_data now: per source 'match', or the keys that differ (the first 100, with "
        "the stored and the expected values). Keys another source changed since are counted, "
        "not listed as differences. Exit status 1 on any difference or unreadable source.",
    )
    parser.add_argument("sources", nargs="*", metavar="SOURCE", help="paths or s3://bucket/key")
    parser.add_argument("--date", type=day, help="every source whose loads touched this day")
    parser.add_argument("--until", type=day, help="with --date: a range of trade dates")
    parser.add_argument(
        "--bucket",
        help="with --date: the bucket of S3 object keys the ledger names [FUNDSYNC_BUCKET]",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per source")
    parse_options(parser)
    aws_options(parser)
    db_option(parser)
    parser.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from loader.mysql.session import Session
    from loader.prepare.prepare import PrepareOptions
    from loader.sources import source_of
    from loader.verify import sources_of_days, verify_source

    if args.until and not args.date:
        raise ConfigError("--until needs --date")
    if bool(args.sources) == bool(args.date):
        raise ConfigError("give SOURCE... or --date D [--until D], not both")
    sources = [source_of(text) for text in args.sources]
    options = PrepareOptions(parse=parse_settings(args))
    status = EXIT_OK
    with Session(db_config(args)) as session:
        if args.date:
            keys = sources_of_days(session, args.date, args.until or args.date)
            if not keys:
                print(f"fundsync: no load touched {args.date}..{args.until or args.date}")
                return EXIT_REJECTED
            sources = [_source_of_key(key, args.bucket) for key in keys]
        for source in sources:
            found = verify_source(source, session, options)
            if found.verdict != "match":
                status = EXIT_REJECTED
            print(json.dumps(found.to_dict(), default=str) if args.json else describe(found))
    return status


def _source_of_key(key: str, bucket: str | None) -> Source:
    """A ledger's source key: a local path when it exists here, else an object in the bucket."""
    from loader.sources import LocalFile, S3Object

    if os.path.exists(key):
        return LocalFile(key)
    bucket = bucket or os.environ.get("FUNDSYNC_BUCKET")
    if not bucket:
        raise ConfigError(f"{key}: no such file here; for an S3 object key give --bucket")
    return S3Object(bucket=bucket, key=key)


def describe(found: Verification) -> str:
    if found.verdict == "error":
        return f"error    {found.source}: {found.error}"
    ledger = ""
    if found.recorded_digest:
        same = found.recorded_digest == found.digest
        ledger = (
            " (the ledger's digest)" if same else f" (the ledger recorded {found.recorded_digest})"
        )
    head = (
        f"{found.verdict:<8} {found.rows:,} rows in {found.groups:,} groups, digest "
        f"{found.digest}{ledger}: {found.source}"
    )
    lines = [head]
    if found.note:
        lines.append(f"  note: {found.note}")
    if found.changed_by_later_loads:
        lines.append(f"  {found.changed_by_later_loads:,} keys changed since by other sources")
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
