"""``fundsync prune``: retention, the trade dates older than a date removed and recorded."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from loader.cli.common import (
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_USAGE,
    command,
    day,
    db_config,
    db_option,
    positive_int,
)


def register(commands: Any) -> None:
    parser = command(
        commands,
        "prune",
        help="remove the trade dates older than a date, or old change log (retention)",
        description="--before: removes every trade date before it, one date per transaction, each "
        "recorded in the ledger (status 'pruned'); a crash leaves whole dates removed or "
        "kept, and the same command again finishes. A prune of more than --max-share of the "
        "rows fund_data holds needs the plan of a --dry-run first (--plan ID). --changes: "
        "removes the change log (what fundsync revert and query --history read) of loads "
        "finished more than --keep-days ago (FUNDSYNC_CHANGE_LOG_DAYS, 30). Exit status 0 "
        "when done (or planned), 1 when refused or failed, 2 for usage errors.",
    )
    parser.add_argument("--before", type=day, help="remove trade dates before this")
    parser.add_argument(
        "--changes", action="store_true", help="remove the change log past its retention"
    )
    parser.add_argument(
        "--keep-days",
        type=positive_int,
        help="with --changes: keep the change log of loads of the last N days (30)",
    )
    parser.add_argument("--dry-run", action="store_true", help="say what would go; record it")
    parser.add_argument("--plan", type=int, metavar="ID", help="the dry-run's plan id")
    parser.add_argument(
        "--max-share",
        type=float,
        default=None,
        help="the largest share of the rows held a prune may remove without a plan (0.25)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document")
    db_option(parser)
    parser.set_defaults(func=run_prune)


def run_prune(args: argparse.Namespace) -> int:
    import mysql.connector

    from loader.mysql.connection import classify, connect

    if (args.before is None) == (not args.changes) or (args.keep_days and not args.changes):
        print("fundsync: prune needs --before DATE or --changes [--keep-days N]", file=sys.stderr)
        return EXIT_USAGE
    config = db_config(args)
    conn = connect(config)
    try:
        if args.changes:
            return _prune_changes(args, conn)
        return _prune_days(args, conn)
    except mysql.connector.Error as error:
        raise classify(
            error, config, f"SELECT and DELETE on {config.database}.* to prune"
        ) from None
    finally:
        conn.close()


def _prune_changes(args: argparse.Namespace, conn: Any) -> int:
    """The change log of loads finished before the retention, removed in one transaction."""
    import os
    from datetime import datetime, timedelta

    from loader.mysql.changes import CHANGE_LOG_DAYS, prune_before

    keep = args.keep_days or int(os.environ.get("FUNDSYNC_CHANGE_LOG_DAYS", CHANGE_LOG_DAYS))
    cutoff = datetime.now() - timedelta(days=keep)
    cur: Any = conn.cursor()
    conn.start_transaction(isolation_level="READ COMMITTED")
    if args.dry_run:
        cur.execute(
            "SELECT COUNT(*) FROM fund_data_loads WHERE finished_at < %s AND "
            "synced_at IS NOT NULL AND changes_pruned_at IS NULL",
            (cutoff,),
        )
        loads, rows = int(cur.fetchone()[0]), None
        conn.rollback()
    else:
        loads, rows = prune_before(cur, cutoff)
        conn.commit()
    cur.close()
    out = {"keep_days": keep, "dry_run": args.dry_run, "change_log": {"loads": loads, "rows": rows}}
    if args.json:
        print(json.dumps(out, indent=1))
    elif not args.quiet:
        verb = "would remove" if args.dry_run else "removed"
        print(f"{verb} the change log of {loads:,} load(s) finished over {keep} days ago"
              + ("" if rows is None else f" ({rows:,} rows)"))  # fmt: skip
    return EXIT_OK


def _prune_days(args: argparse.Namespace, conn: Any) -> int:
    from loader.errors import MassDeleteRefused
    from loader.mysql.prune import DEFAULT_MAX_SHARE, check_guard, plan, prune_day, record_plan

    out: dict[str, Any] = {"before": args.before.isoformat(), "dry_run": args.dry_run}
    planned = plan(conn, args.before)
    out.update(rows=planned.rows, held=planned.held, share=round(planned.share, 6))
    out["days"] = [{"d_trade": d.isoformat(), "rows": n} for d, n in planned.days]
    if args.dry_run:
        out["plan"] = record_plan(conn, planned)
        return _done(args, out)
    try:
        check_guard(conn, planned, args.max_share or DEFAULT_MAX_SHARE, args.plan)
    except MassDeleteRefused as refused:
        out["refused"] = str(refused)
        _print(args, out)
        print(f"fundsync: {refused}", file=sys.stderr)
        return EXIT_REJECTED
    removed = 0
    for d, _ in planned.days:
        removed += prune_day(conn, planned, d)
        if not args.json and not args.quiet:
            print(f"pruned {d}", flush=True)
    out["removed"] = removed
    return _done(args, out)


def _done(args: argparse.Namespace, out: dict[str, Any]) -> int:
    _print(args, out)
    return EXIT_OK


def _print(args: argparse.Namespace, out: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(out, indent=1))
        return
    if not out["days"]:
        print(f"nothing held before {out['before']}")
        return
    verb = "would remove" if out["dry_run"] else "removes" if "refused" in out else "removed"
    first, last = out["days"][0]["d_trade"], out["days"][-1]["d_trade"]
    print(
        f"{verb} {out['rows']:,} rows of {len(out['days'])} trade date(s), {first} to {last} "
        f"({out['share']:.1%} of the {out['held']:,} rows held)"
    )
    if out.get("plan"):
        print(f"plan #{out['plan']} recorded: fundsync prune --before {out['before']} "
              f"--plan {out['plan']}")  # fmt: skip
