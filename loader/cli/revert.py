"""``fundsync revert``: undo a bad load; and the history of one value (``query --history``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from loader.cli.common import (
    EXIT_OK,
    EXIT_REJECTED,
    command,
    db_config,
    db_option,
    json_default,
    source_or_load_id,
)


def register(commands: Any) -> None:
    parser = command(
        commands,
        "revert",
        help="undo one load: every key it changed back to its state before, all or nothing",
        description="Restores every key a load changed to what it held before (inserted keys "
        "deleted, updated keys given back their old value and lineage, deleted keys restored), "
        "in one transaction, recorded in the ledger as its own entry (status 'reverted'). "
        "SOURCE names the source's latest load (or revert); --load-id any one. Keys a later "
        "load changed since refuse the revert (the report names the loads) unless --force. "
        "Reverting a revert applies the load again. Exit status 0 when done (or a dry run), "
        "1 when refused or failed, 2 for usage errors.",
    )
    source_or_load_id(parser, "the ledger id of the load")
    parser.add_argument("--dry-run", action="store_true", help="say what would change; no write")
    parser.add_argument(
        "--force", action="store_true", help="also revert keys later loads changed since"
    )
    parser.add_argument("--json", action="store_true", help="one JSON document")
    db_option(parser)
    parser.set_defaults(func=run_revert)


def run_revert(args: argparse.Namespace) -> int:
    import mysql.connector

    from loader.errors import RevertRefused
    from loader.mysql.connection import classify, connect
    from loader.mysql.ledger import known_key
    from loader.mysql.revert import find, revert, target_of_source

    config = db_config(args)
    conn = connect(config)
    try:
        try:
            load_id = args.load_id
            if load_id is None:
                load_id = target_of_source(conn, known_key(conn, args.source))
            target = find(conn, load_id)
            done = revert(conn, target, dry_run=args.dry_run, force=args.force)
        except RevertRefused as refused:
            if args.json:
                print(json.dumps({"refused": str(refused)}, indent=1))
            print(f"fundsync: {refused}", file=sys.stderr)
            return EXIT_REJECTED
    except mysql.connector.Error as error:
        raise classify(
            error, config, f"SELECT, INSERT, UPDATE, DELETE on {config.database}.* to revert"
        ) from None
    finally:
        conn.close()
    out = done.to_dict()
    if args.json:
        print(json.dumps(out, indent=1))
    elif not args.quiet:
        _print(out)
    return EXIT_OK


def _print(out: dict[str, Any]) -> None:
    verb = "would restore" if out["dry_run"] else "restored"
    gone = "would delete" if out["dry_run"] else "deleted"
    what = f"load #{out['target']} ({out['source']})"
    if out["reapplies"] is not None:
        what += f", a revert: load #{out['reapplies']} applies again"
    head = f"reverted {what}" if not out["dry_run"] else f"revert of {what}"
    print(f"{head}: {verb} {out['restored']:,} key(s), {gone} {out['deleted']:,}")
    if out["ledger_id"] is not None:
        print(f"recorded as #{out['ledger_id']}; fundsync revert --load-id {out['ledger_id']} "
              "undoes it")  # fmt: skip
    if out["conflicts"]:
        loads = ", ".join(f"#{k} ({n:,})" for k, n in out["conflicting_loads"].items())
        print(f"forced over {out['conflicts']:,} key(s) later loads changed: {loads}")


# -- query --ticker T --col-code C --history -------------------------------------------------


def run_value_history(args: argparse.Namespace) -> int:
    """Every value each key of a ticker and col_code held, within the change log's
    retention: which load wrote it, when, and which load replaced it."""
    from loader.mysql.changes import value_history
    from loader.mysql.connection import connect

    config = db_config(args)
    conn = connect(config)
    try:
        cur: Any = conn.cursor()
        entries = value_history(cur, args.ticker, args.col_code, args.since, args.until)
        cur.close()
    finally:
        conn.close()
    zone = config.time_zone  # the session's zone: synced_at is the server's NOW(6) in it
    if args.format == "json":
        for entry in entries:
            print(json.dumps(entry, default=json_default(zone), ensure_ascii=False))
    else:
        _history_table(entries, args.format == "csv", zone)
    if not entries and not args.quiet:
        print("fundsync: no values", file=sys.stderr)
    return EXIT_OK


HISTORY_COLUMNS = ["d_trade", "stock", "value", "written_by", "synced_at", "replaced_by"]


def _history_table(entries: list[dict[str, Any]], csv_form: bool, zone: str) -> None:
    import csv

    rows = [[_text(e, c, zone) for c in HISTORY_COLUMNS] for e in entries]
    if csv_form:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerows([HISTORY_COLUMNS, *rows])
        return
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(HISTORY_COLUMNS)]
    for cells in [HISTORY_COLUMNS, *rows]:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)).rstrip())


def _text(entry: dict[str, Any], column: str, zone: str) -> str:
    if column == "value":
        if entry["absent"]:
            return "(absent)"
        if entry["value_numeric"] is not None:
            return format(entry["value_numeric"], "f")
        text = entry["value_text"]
        return "NULL" if text is None else f"={text}"
    value = entry[column]
    if column in ("written_by", "replaced_by"):
        if value is None:
            return "(held now)" if column == "replaced_by" else "?"
        return f"#{value}"
    if column == "synced_at" and value is not None:
        return f"{value.isoformat(sep=' ')} {zone}"
    return "" if value is None else str(value)
