"""Watching the data: the ``status`` report, and the operator's answers to it: ``ack`` (a
problem seen and dealt with), ``release`` and ``discard`` (a file the quality gate held)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from loader.cli.common import (
    EXIT_OK,
    EXIT_REJECTED,
    command,
    db_config,
    db_option,
    source_or_load_id,
)
from loader.display import shown

if TYPE_CHECKING:
    from loader.mysql.status import Attempt, StatusReport


def register(commands: Any) -> None:
    ack = command(
        commands,
        "ack",
        help="acknowledge a problem: status shows it as seen and stops paging for it",
        description="Marks the open problems of a source (rejected, failed, held, or loaded "
        "with quality warnings), or one ledger row (--load-id), as acknowledged, with who "
        "(FUNDSYNC_OPERATOR, else the login name), when and --note. Exit status 0 when "
        "something was acknowledged, 1 when there was nothing to acknowledge.",
    )
    source_or_load_id(ack, "one ledger row")
    ack.add_argument("--note", required=True, help="what was done about it")
    ack.add_argument("--json", action="store_true", help="one JSON document")
    db_option(ack)
    ack.set_defaults(func=run_ack)
    for name, what in (
        ("release", "merge a file the quality gate held, as it was (the gate not asked again)"),
        ("discard", "drop a file the quality gate held: it is not merged"),
    ):
        parser = command(
            commands,
            name,
            help=what,
            description=f"{what[0].upper()}{what[1:]}. SOURCE is read again: release refuses "
            "when its content is no longer what was held. Recorded in the ledger with who "
            "(FUNDSYNC_OPERATOR, else the login name) and when. Exit status 0 when done, 1 when "
            "nothing is held there or the release failed.",
        )
        parser.add_argument("source", metavar="SOURCE", help="a path, key or s3:// URI")
        parser.add_argument("--note", default="", help="why")
        parser.add_argument("--json", action="store_true", help="one JSON document")
        db_option(parser)
        parser.set_defaults(func=run_release if name == "release" else run_discard)


def operator() -> str:
    """Who acts: FUNDSYNC_OPERATOR, else the login name."""
    return os.environ.get("FUNDSYNC_OPERATOR") or getpass.getuser()


def run_ack(args: argparse.Namespace) -> int:
    from loader.mysql.connection import connect
    from loader.mysql.ledger import known_key
    from loader.mysql.watch import acknowledge

    conn = connect(db_config(args))
    try:
        key = None if args.source is None else known_key(conn, args.source)
        ids = acknowledge(conn, key, args.load_id, operator(), args.note)
    finally:
        conn.close()
    if args.json:
        print(json.dumps({"acknowledged": ids, "by": operator(), "note": args.note}))
    elif not args.quiet:
        print(f"acknowledged {len(ids)} ledger row(s)" + (f": #{', #'.join(map(str, ids))}"
              if ids else ""))  # fmt: skip
    if not ids:
        print("fundsync: nothing open to acknowledge there", file=sys.stderr)
        return EXIT_REJECTED
    return EXIT_OK


def run_discard(args: argparse.Namespace) -> int:
    from loader.mysql.connection import connect
    from loader.mysql.ledger import known_key
    from loader.mysql.watch import held_file, settle

    conn = connect(db_config(args))
    try:
        held = held_file(conn, known_key(conn, args.source))
        if held is None:
            print(f"fundsync: nothing held for {shown(args.source)}", file=sys.stderr)
            return EXIT_REJECTED
        settle(conn, held, operator(), args.note or "discarded", discard=True)
    finally:
        conn.close()
    out = {"discarded": held.ledger_id, "source": held.source, "by": operator()}
    print(json.dumps(out) if args.json else f"discarded #{held.ledger_id} {shown(held.source)}")
    return EXIT_OK


def run_release(args: argparse.Namespace) -> int:

    from loader.mysql.ledger import known_key
    from loader.mysql.merge import merge
    from loader.mysql.merge_options import MergeOptions
    from loader.mysql.session import Session
    from loader.mysql.watch import held_file, settle
    from loader.prepare.prepare import PrepareOptions, prepare_source
    from loader.settings import ParseSettings
    from loader.sources import LocalFile, S3Object

    config = db_config(args)
    merging = MergeOptions.of(config, quality="all=off")  # the gate said its piece
    with Session(config) as session:
        conn = session.connection()
        held = held_file(conn, known_key(conn, args.source))
        if held is None:
            print(f"fundsync: nothing held for {shown(args.source)}", file=sys.stderr)
            return EXIT_REJECTED
        source = (
            S3Object(bucket=held.bucket, key=held.source) if held.bucket else LocalFile(held.source)
        )
        options = PrepareOptions(parse=ParseSettings().as_requested(held.request))
        prepared = prepare_source(source, options)
        if prepared.failure is None and prepared.identity.content_hash != held.content_hash:
            prepared.discard()
            print(f"fundsync: {shown(held.source)}: its content is no longer what was held "
                  f"(#{held.ledger_id}): nothing merged; load it again to have it checked, or "
                  "discard the held attempt", file=sys.stderr)  # fmt: skip
            return EXIT_REJECTED
        report = merge(session, prepared, merging)
        if report.status == "loaded":
            settle(conn, held, operator(), f"released as #{report.ledger_id}. {args.note}".strip())
    if args.json:
        print(json.dumps({"released": held.ledger_id, "load": report.to_dict()}, default=str))
    elif not args.quiet:
        print(f"{report.status}: {shown(held.source)} (ledger #{report.ledger_id})")
    return EXIT_OK if report.status == "loaded" else EXIT_REJECTED


def findings(quality: str | None) -> list[str]:
    """The quality gate's findings of a ledger row, one line each."""
    if not quality:
        return []
    try:
        found = json.loads(quality)
    except ValueError:
        return [quality]
    return [f"{f.get('policy', 'warn')}: {f.get('check')}: {f.get('detail')}" for f in found]


def _settled(attempt: Attempt) -> str:
    if attempt.resolved_by is not None:
        return f"  (resolved: #{attempt.resolved_by} loaded it)"
    if attempt.acked_at is not None:
        note = f": {shown(attempt.ack_note)}" if attempt.ack_note else ""
        return (
            f"  (acknowledged by {shown(attempt.acked_by)} {attempt.acked_at:%Y-%m-%d %H:%M}{note})"
        )
    return ""


def status_document(state: StatusReport) -> dict[str, Any]:
    return {
        "held": {"oldest": state.held.oldest, "newest": state.held.newest, "rows": state.held.rows},
        "since": state.since,
        "recent": [a.to_dict() for a in state.recent],
        "needs_look": state.needs_look,
        "problems": [a.to_dict() for a in state.problems],
        "held_files": [a.to_dict() for a in state.held_files],
        "quality_warnings": [a.to_dict() for a in state.warned],
        "late": [d.isoformat() for d in state.late],
        "stuck": [a.to_dict() for a in state.stuck],
        "days": [{"d_trade": d.d_trade, "rows": d.rows, "flag": d.flag} for d in state.days],
    }


def print_status(state: StatusReport, args: argparse.Namespace, zone: str = "") -> None:
    if not args.quiet:
        print("recent loads:")
        print(attempt_header(zone))
        for attempt in state.recent:
            print(attempt_line(attempt))
    if state.problems:
        print(f"\n{len(state.problems)} rejected or failed:")
        for attempt in state.problems:
            print(
                f"  #{attempt.id:<6} {attempt.status:<9} {attempt.started_at:%Y-%m-%d %H:%M}  "
                f"{shown(attempt.source)}{_settled(attempt)}"
            )
            print(f"            {shown(attempt.reason or '(no reason recorded)')}")
    for title, attempts in (
        ("held by the quality gate (fundsync release or discard SOURCE)", state.held_files),
        ("loaded with quality warnings (fundsync ack SOURCE --note ...)", state.warned),
    ):
        if attempts:
            print(f"\n{len(attempts)} {title}:")
            for attempt in attempts:
                print(f"  #{attempt.id:<6} {attempt.started_at:%Y-%m-%d %H:%M}  "
                      f"{shown(attempt.source)}")  # fmt: skip
                for finding in findings(attempt.quality):
                    print(f"            {finding}")
    if state.late:
        print(f"\n{len(state.late)} trade date(s) past their deadline with no file loaded:")
        for day in state.late:
            print(f"  {day} {day:%a}")
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
    if state.needs_look:
        print("\nneeds a look: " + "; ".join(state.needs_look))
    if not args.quiet or flagged:
        print(
            f"\nrows per trade date from {state.since} ({len(state.days)} day(s), "
            f"{len(flagged)} flagged):"
        )
        for d in state.days if args.verbose or len(state.days) <= 40 else flagged:
            mark = f"  <- {d.flag}" if d.flag else ""
            print(f"  {d.d_trade} {d.d_trade:%a} {d.rows:>12,}{mark}")


def attempt_header(zone: str = "") -> str:
    """The attempts table's header; ``when`` is in the session's zone, named (``+07:00``)."""
    when = f"when ({zone})" if zone else "when"
    return (
        f"  {'id':>6} {'status':<9} {'rows':>10} {'inserted':>10} {'updated':>9} "
        f"{'unchanged':>10} {'deleted':>8} {'seconds':>8} {'verified':<8}  {when:<16}  source"
    )


def attempt_line(a: Attempt) -> str:
    def n(value: int | None) -> str:
        return "-" if value is None else f"{value:,}"

    seconds = "-" if a.duration_ms is None else f"{a.duration_ms / 1000:.2f}"
    status = "stuck" if a.stuck else a.status
    return (
        f"  {a.id:>6} {status:<9} {n(a.rows_merged):>10} {n(a.inserted):>10} {n(a.updated):>9} "
        f"{n(a.unchanged):>10} {n(a.deleted):>8} {seconds:>8} {'yes' if a.verified else '-':<8}  "
        f"{a.started_at:%Y-%m-%d %H:%M}  {shown(a.source)}"
    )
