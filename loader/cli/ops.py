"""The operator's commands: ``status``, ``history``, ``show`` and ``query``; no raw SQL needed."""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import sys
from datetime import datetime
from decimal import Decimal
from typing import Any

from loader.cli.common import (
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_USAGE,
    command,
    day,
    db_config,
    db_option,
    json_default,
)
from loader.cli.watch import attempt_header, attempt_line, print_status, status_document
from loader.display import shown


def register(commands: Any) -> None:
    _register_status(commands)
    _register_ledger_views(commands)
    _register_query(commands)


def _register_status(commands: Any) -> None:
    status = command(
        commands,
        "status",
        help="the state of the loads: recent, failed, stuck; rows per trade date, gaps flagged",
        description="Recent loads, what was rejected or failed and why, attempts stuck in "
        "'loading' whose process is gone, files the quality gate held, loads with quality "
        "warnings, trade dates past their deadline with no file, and per trade date the rows "
        "fund_data holds with missing weekdays and short days flagged. A problem a later load "
        "of the same source resolved, or one acknowledged (fundsync ack), is shown but does "
        "not page. Exit status 1 when anything still needs a look (--json: needs_look says "
        "what).",
    )
    status.add_argument(
        "--since",
        type=day,
        help="loads started and trade dates from this day (default: the last loads, the "
        "problems of 7 days, the 31 days up to the latest trade date)",
    )
    status.add_argument("--source", metavar="PREFIX", help="only sources whose key starts so")
    status.add_argument(
        "--deadline",
        metavar="HH:MM",
        help="freshness: a trade date's file is due by this time (the session's zone) the next "
        "day; weekdays not in --holidays are expected (also FUNDSYNC_DEADLINE; off unless set)",
    )
    status.add_argument(
        "--holidays",
        metavar="FILE|DATES",
        help="trade dates no file is expected for: a file of dates or a comma list "
        "(also FUNDSYNC_HOLIDAYS)",
    )
    status.add_argument("--limit", type=int, default=20, help="recent loads shown (20)")
    status.add_argument("--json", action="store_true", help="one JSON document")
    status.add_argument("--chart", metavar="FILE.png", help="draw rows per trade date to FILE")
    status.add_argument(
        "--mark-abandoned",
        action="store_true",
        help="mark the stuck attempts abandoned (the next load of a source does it anyway)",
    )
    db_option(status)
    status.set_defaults(func=run_status)


def _register_ledger_views(commands: Any) -> None:
    history = command(commands, "history", help="every attempt to load one source, in order")
    history.add_argument(
        "source",
        metavar="SOURCE",
        help="a path (relative or absolute), an S3 object key or s3://bucket/key",
    )
    history.add_argument("--json", action="store_true", help="one JSON document")
    db_option(history)
    history.set_defaults(func=run_history)

    show = command(commands, "show", help="what the last load of one source changed")
    show.add_argument(
        "--held",
        action="store_true",
        help="also count, per trade date, the rows still as it wrote them (reads its days of "
        "fund_data: seconds on a large table)",
    )
    show.add_argument(
        "source",
        metavar="SOURCE",
        help="a path (relative or absolute), an S3 object key or s3://bucket/key",
    )
    show.add_argument("--json", action="store_true", help="one JSON document")
    db_option(show)
    show.set_defaults(func=run_show)


def _register_query(commands: Any) -> None:
    query = command(
        commands,
        "query",
        help="read fund_data back: one ticker, one trade date, or what one source wrote",
        description="Rows of fund_data, decimals exactly as the database holds them, streamed: "
        "--ticker T, --date D, --since/--until (any of them with --col-code C), or --source S. "
        "--format csv writes CSV to stdout for other tools.",
    )
    which = query.add_mutually_exclusive_group()
    which.add_argument("--ticker", help="every row of this ticker")
    which.add_argument("--date", type=day, help="every row of this trade date")
    which.add_argument(
        "--source",
        metavar="SOURCE",
        help="every row this source (a path, key or s3:// URI) wrote last",
    )
    query.add_argument("--col-code", help="only this col_code (with --history: required)")
    query.add_argument(
        "--history",
        action="store_true",
        help="with --ticker and --col-code: every value each key held (the change log), "
        "which load wrote it and which replaced it",
    )
    query.add_argument("--since", type=day, help="from this trade date")
    query.add_argument("--until", type=day, help="to this trade date (inclusive)")
    query.add_argument("--format", choices=["table", "csv", "json"], default="table")
    db_option(query)
    query.set_defaults(func=run_query)


# -- status ---------------------------------------------------------------------------------


def run_status(args: argparse.Namespace) -> int:
    from loader.mysql.connection import connect
    from loader.mysql.status import Calendar, mark_abandoned, status
    from loader.sources import ledger_prefix

    prefix = ledger_prefix(args.source) if args.source else None
    calendar = Calendar.of(  # a typo is a usage error before any connection
        args.holidays or os.environ.get("FUNDSYNC_HOLIDAYS"),
        args.deadline or os.environ.get("FUNDSYNC_DEADLINE"),
    )
    config = db_config(args)
    conn = connect(config)
    try:
        if args.mark_abandoned:
            marked = mark_abandoned(conn, prefix)
            print(f"marked {marked} stuck attempt(s) abandoned", file=sys.stderr)
        state = status(conn, args.since, prefix, args.limit, calendar)
    finally:
        conn.close()
    if args.chart:
        from loader.cli.charts import rows_per_day

        rows_per_day(state.days, args.chart)
    if args.json:
        document = status_document(state)
        print(json.dumps(document, default=json_default(config.time_zone), indent=1))
    else:
        print_status(state, args, config.time_zone)
    return EXIT_REJECTED if state.needs_look else EXIT_OK


# -- history and show -------------------------------------------------------------------


def run_history(args: argparse.Namespace) -> int:
    from loader.mysql.connection import connect
    from loader.mysql.ledger import known_key
    from loader.mysql.status import history

    config = db_config(args)
    conn = connect(config)
    try:
        key = known_key(conn, args.source)
        attempts = history(conn, key)
    finally:
        conn.close()
    if not attempts:
        print(f"fundsync: no attempt to load {args.source} in the ledger", file=sys.stderr)
        return EXIT_REJECTED
    if args.json:
        print(json.dumps({"source": key, "attempts": [a.to_dict() for a in attempts]},
                         default=json_default(config.time_zone), indent=1))  # fmt: skip
        return EXIT_OK
    print(attempt_header(config.time_zone))
    for attempt in attempts:
        print(attempt_line(attempt))
        if attempt.reason and attempt.status != "loaded":
            print(f"{'':>18}{shown(attempt.reason)}")
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    from loader.mysql.connection import connect
    from loader.mysql.ledger import known_key
    from loader.mysql.status import last_change

    config = db_config(args)
    conn = connect(config)
    try:
        change = last_change(conn, known_key(conn, args.source), held=args.held)
    finally:
        conn.close()
    if change is None:
        print(f"fundsync: {args.source} was never loaded (see fundsync history)", file=sys.stderr)
        return EXIT_REJECTED
    a = change.attempt
    if args.json:
        document = {
            "load": a.to_dict(),
            "days": [{"d_trade": d, "rows_in_file": n, "rows_held": held}
                     for d, n, held in change.days],
        }  # fmt: skip
        print(json.dumps(document, default=json_default(config.time_zone), indent=1))
        return EXIT_OK
    if a.status == "reverted":  # fundsync revert: its note names the load it undid
        print(f"{shown(a.source)}: {a.error} at {a.started_at:%Y-%m-%d %H:%M:%S} (ledger #{a.id})")
        print(f"  {a.updated or 0:,} keys restored, {a.deleted or 0:,} deleted")
        return EXIT_OK
    print(f"{shown(a.source)}: loaded {a.started_at:%Y-%m-%d %H:%M:%S} (ledger #{a.id})")
    print(
        f"  {a.rows_merged or 0:,} rows merged: {a.inserted or 0:,} inserted, "
        f"{a.updated or 0:,} updated, {a.unchanged or 0:,} unchanged"
        + (f", {a.deleted:,} deleted (replace-days)" if a.deleted is not None else "")
    )
    if a.version:
        print(f"  version {a.version}, content {a.content_hash[:16]}")
    if a.digest:
        print(f"  verified before its commit: load digest {a.digest}")
    for d, n, held in change.days:
        still = "" if held is None else f", {held:,} still as it wrote them"
        print(f"  {d}: {n:,} rows in the file{still}")
    if not change.days:
        print("  (loaded before trade dates were recorded: fundsync query --source lists rows)")
    return EXIT_OK


# -- query ------------------------------------------------------------------------------------


def run_query(args: argparse.Namespace) -> int:
    from loader.mysql.connection import connect
    from loader.mysql.ledger import known_key
    from loader.mysql.read import COLUMNS, rows_by_source, rows_by_ticker

    if args.date:
        if args.since or args.until:
            print("fundsync: --date is one trade date: not with --since/--until", file=sys.stderr)
            return EXIT_USAGE
        args.since = args.until = args.date
    if args.source and (args.since or args.until or args.col_code):
        print("fundsync: --source takes no other filter", file=sys.stderr)
        return EXIT_USAGE
    if not (args.ticker or args.source or args.since or args.until):
        print("fundsync: query needs --ticker, --source, --date or --since/--until",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    if args.history:
        if not (args.ticker and args.col_code):
            print("fundsync: --history goes with --ticker and --col-code", file=sys.stderr)
            return EXIT_USAGE
        from loader.cli.revert import run_value_history

        return run_value_history(args)
    config = db_config(args)
    conn = connect(config)
    if args.source:
        rows = rows_by_source(conn, known_key(conn, args.source))
    else:
        rows = rows_by_ticker(conn, args.ticker, args.since, args.until, args.col_code)
    try:
        count = _write(rows, COLUMNS, args.format, config.time_zone)
    finally:
        rows.close()
        conn.close()
    if count == 0 and not args.quiet:
        print("fundsync: no rows", file=sys.stderr)
    return EXIT_OK


def _write(rows: Any, columns: list[str], form: str, zone: str = "") -> int:
    count = 0
    default = json_default(zone)
    if form == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_text(v) for v in row])
            count += 1
    elif form == "json":
        for row in rows:
            document = dict(zip(columns, row, strict=True))
            print(json.dumps(document, default=default, ensure_ascii=False))
            count += 1
    else:
        count = _table(rows, columns)
    return count


TABLE_SAMPLE = 1_000
"""Rows read before a table's column widths are fixed: the output still streams."""


def _table(rows: Any, columns: list[str]) -> int:
    """Aligned columns, the numbers right-aligned; widths from the first rows, so that a
    million rows stream out without being held (a longer value later just pushes its line)."""
    first = [[_text(v) or "NULL" for v in row] for row in itertools.islice(rows, TABLE_SAMPLE)]
    widths = [max([len(c), *(len(r[i]) for r in first)]) for i, c in enumerate(columns)]
    right = {i for i, c in enumerate(columns) if c == "value_numeric"}

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ).rstrip()

    print(line(columns))
    for cells in first:
        print(line(cells))
    count = len(first)
    for row in rows:
        print(line([_text(v) or "NULL" for v in row]))
        count += 1
    return count


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, Decimal):  # as the database wrote it, every digit of DECIMAL(38,12):
        return format(value, "f")  # str() would print 0.000000000001 as 1E-12
    return str(value)
