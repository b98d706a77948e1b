"""The operator's commands: ``status``, ``history``, ``show`` and ``query``; no raw SQL needed."""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from loader.cli.common import EXIT_OK, EXIT_REJECTED, command, day, db_config, db_option
from loader.display import shown

if TYPE_CHECKING:
    from loader.mysql.status import Attempt, Status


def register(commands: Any) -> None:
    status = command(
        commands,
        "status",
        help="the state of the loads: recent, failed, stuck; rows per trade date, gaps flagged",
        description="Recent loads, what was rejected or failed and why, attempts stuck in "
        "'loading' whose process is gone, and per trade date the rows fund_data holds with "
        "missing weekdays and short days flagged. Exit status 1 when anything needs a look "
        "(a problem, a stuck attempt, a flagged day).",
    )
    status.add_argument(
        "--since",
        type=day,
        help="loads started and trade dates from this day (default: the last loads, the "
        "problems of 7 days, the 31 days up to the latest trade date)",
    )
    status.add_argument("--source", metavar="PREFIX", help="only sources whose key starts so")
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
    _register_query(commands)


def _register_query(commands: Any) -> None:
    query = command(
        commands,
        "query",
        help="read fund_data back: one ticker, or what one source wrote",
        description="Rows of fund_data, decimals exactly as the database holds them. "
        "--format csv writes CSV to stdout for other tools.",
    )
    which = query.add_mutually_exclusive_group(required=True)
    which.add_argument("--ticker", help="every row of this ticker")
    which.add_argument(
        "--source",
        metavar="SOURCE",
        help="every row this source (a path, key or s3:// URI) wrote last",
    )
    query.add_argument("--col-code", help="with --ticker --history: the value's col_code")
    query.add_argument(
        "--history",
        action="store_true",
        help="with --ticker and --col-code: every value each key held (the change log), "
        "which load wrote it and which replaced it",
    )
    query.add_argument("--since", type=day, help="with --ticker: from this trade date")
    query.add_argument("--until", type=day, help="with --ticker: to this trade date")
    query.add_argument("--format", choices=["table", "csv", "json"], default="table")
    db_option(query)
    query.set_defaults(func=run_query)


# -- status ---------------------------------------------------------------------------------


def run_status(args: argparse.Namespace) -> int:
    from loader.mysql.connection import connect
    from loader.mysql.status import mark_abandoned, status
    from loader.sources import ledger_prefix

    prefix = ledger_prefix(args.source) if args.source else None
    conn = connect(db_config(args))
    try:
        if args.mark_abandoned:
            marked = mark_abandoned(conn, prefix)
            print(f"marked {marked} stuck attempt(s) abandoned", file=sys.stderr)
        state = status(conn, args.since, prefix, args.limit)
    finally:
        conn.close()
    if args.chart:
        from loader.cli.charts import rows_per_day

        rows_per_day(state.days, args.chart)
    if args.json:
        print(json.dumps(_status_document(state), default=_json, indent=1))
    else:
        _print_status(state, args)
    attention = state.problems or state.stuck or state.flagged
    return EXIT_REJECTED if attention else EXIT_OK


def _status_document(state: Status) -> dict[str, Any]:
    return {
        "held": {"oldest": state.held.oldest, "newest": state.held.newest, "rows": state.held.rows},
        "since": state.since,
        "recent": [a.to_dict() for a in state.recent],
        "problems": [a.to_dict() for a in state.problems],
        "stuck": [a.to_dict() for a in state.stuck],
        "days": [{"d_trade": d.d_trade, "rows": d.rows, "flag": d.flag} for d in state.days],
    }


def _print_status(state: Status, args: argparse.Namespace) -> None:
    if not args.quiet:
        print("recent loads:")
        print(_attempt_header())
        for attempt in state.recent:
            print(_attempt_line(attempt))
    if state.problems:
        print(f"\n{len(state.problems)} rejected or failed:")
        for attempt in state.problems:
            print(
                f"  {attempt.status:<9} {attempt.started_at:%Y-%m-%d %H:%M}  "
                f"{shown(attempt.source)}"
            )
            print(f"            {shown(attempt.reason or '(no reason recorded)')}")
    if state.stuck:
        print(f"\n{len(state.stuck)} stuck in 'loading' (their process or connection is gone):")
        for attempt in state.stuck:
            since = f"{attempt.started_at:%Y-%m-%d %H:%M}"
            print(f"  #{attempt.id} since {since}  {shown(attempt.source)}")
        print("  they block nothing; the next load of each source marks it abandoned, or run")
        print("  fundsync status --mark-abandoned")
    flagged = state.flagged
    held = state.held
    if not args.quiet and held.oldest is not None:
        print(f"\nfund_data holds {held.rows:,} rows, trade dates {held.oldest} to {held.newest}")
    if not args.quiet or flagged:
        print(
            f"\nrows per trade date from {state.since} ({len(state.days)} day(s), "
            f"{len(flagged)} flagged):"
        )
        for d in state.days if args.verbose or len(state.days) <= 40 else flagged:
            mark = f"  <- {d.flag}" if d.flag else ""
            print(f"  {d.d_trade} {d.d_trade:%a} {d.rows:>12,}{mark}")


def _attempt_header() -> str:
    return (
        f"  {'id':>6} {'status':<9} {'rows':>10} {'inserted':>10} {'updated':>9} "
        f"{'unchanged':>10} {'deleted':>8} {'seconds':>8} {'verified':<8}  {'when':<16}  source"
    )


def _attempt_line(a: Attempt) -> str:
    def n(value: int | None) -> str:
        return "-" if value is None else f"{value:,}"

    seconds = "-" if a.duration_ms is None else f"{a.duration_ms / 1000:.2f}"
    status = "stuck" if a.stuck else a.status
    return (
        f"  {a.id:>6} {status:<9} {n(a.rows_merged):>10} {n(a.inserted):>10} {n(a.updated):>9} "
        f"{n(a.unchanged):>10} {n(a.deleted):>8} {seconds:>8} {'yes' if a.verified else '-':<8}  "
        f"{a.started_at:%Y-%m-%d %H:%M}  {shown(a.source)}"
    )


# -- history and show -------------------------------------------------------------------


def run_history(args: argparse.Namespace) -> int:
    from loader.mysql.connection import connect
    from loader.mysql.ledger import known_key
    from loader.mysql.status import history

    conn = connect(db_config(args))
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
                         default=_json, indent=1))  # fmt: skip
        return EXIT_OK
    print(_attempt_header())
    for attempt in attempts:
        print(_attempt_line(attempt))
        if attempt.reason and attempt.status != "loaded":
            print(f"{'':>18}{shown(attempt.reason)}")
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    from loader.mysql.connection import connect
    from loader.mysql.ledger import known_key
    from loader.mysql.status import last_change

    conn = connect(db_config(args))
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
        print(json.dumps(document, default=_json, indent=1))
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

    if args.source and (args.since or args.until):
        print("fundsync: --since and --until go with --ticker", file=sys.stderr)
        return 2
    if args.history or args.col_code:
        if not (args.ticker and args.col_code and args.history):
            print("fundsync: --history goes with --ticker and --col-code", file=sys.stderr)
            return 2
        from loader.cli.revert import run_value_history

        return run_value_history(args)
    conn = connect(db_config(args))
    if args.ticker:
        rows = rows_by_ticker(conn, args.ticker, args.since, args.until)
    else:
        rows = rows_by_source(conn, known_key(conn, args.source))
    try:
        count = _write(rows, COLUMNS, args.format)
    finally:
        rows.close()
        conn.close()
    if count == 0 and not args.quiet:
        print("fundsync: no rows", file=sys.stderr)
    return EXIT_OK


def _write(rows: Any, columns: list[str], form: str) -> int:
    count = 0
    if form == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_text(v) for v in row])
            count += 1
    elif form == "json":
        for row in rows:
            print(json.dumps(dict(zip(columns, row, strict=True)), default=_json,
                             ensure_ascii=False))  # fmt: skip
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


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")  # exact, never a float, never an exponent
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)
