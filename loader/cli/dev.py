"""``fundsync demo`` and ``fundsync generate``: the development helpers, from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from loader.cli.common import EXIT_OK, command, day, db_option, positive_int


def register(commands: Any) -> None:
    demo = command(
        commands,
        "demo",
        help="run the main job end to end on generated sample exports",
        description="Generate a day's export, a cp1252 export and a broken export, load them "
        "into a throwaway MariaDB (or --db) and print the reports, the rows and the ledger.",
    )
    demo.add_argument("--rows", type=positive_int, default=200_000, help="rows in the day's export")
    demo.add_argument("--keep", metavar="DIR", help="write the sample files here and keep them")
    db_option(demo)
    demo.set_defaults(func=run_demo)

    dev_db = command(
        commands,
        "dev-db",
        help="start a throwaway MariaDB for trying things out; prints its URL, runs until Ctrl-C",
        description="Starts the private MariaDB the demo and the tests use (mariadbd from "
        "PATH, a temporary data directory, its own socket and a free loopback port, root "
        "without a password), creates and migrates the database 'fundsync', prints the URL "
        "to export, and runs until Ctrl-C or SIGTERM; then everything is removed.",
    )
    dev_db.set_defaults(func=run_dev_db)

    generate = command(
        commands,
        "generate",
        help="write a deterministic synthetic export (for trials and benchmarks)",
    )
    generate.add_argument("path", help="output file")
    generate.add_argument("--rows", type=positive_int, default=100_000)
    generate.add_argument("--seed", type=int, default=20251209)
    generate.add_argument(
        "--start-date", type=day, help="the first trade date (YYYY-MM-DD; default 2025-12-09)"
    )
    generate.add_argument("--encoding", default="utf-8", choices=["utf-8", "cp1252", "cp874"])
    generate.add_argument("--gzip", action="store_true")
    generate.add_argument(
        "--days",
        type=positive_int,
        help="spread the rows over this many trade days (default: as needed)",
    )
    generate.add_argument(
        "--col-codes", type=positive_int, default=20, help="figures per fund a day (20)"
    )
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
    generate.set_defaults(func=run_generate)


def run_demo(args: argparse.Namespace) -> int:
    from loader.devtools.demo import run_demo as demo

    return demo(rows=args.rows, keep=Path(args.keep) if args.keep else None, db_url=args.db)


def run_dev_db(args: argparse.Namespace) -> int:
    import signal
    import threading

    from loader.devtools.dbserver import ThrowawayServer
    from loader.mysql.config import DbConfig
    from loader.mysql.connection import connect
    from loader.mysql.migrate import migrate

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with ThrowawayServer() as server:
        admin = connect(DbConfig.from_url(server.url_for("mysql")))
        admin.cursor().execute(
            "CREATE DATABASE IF NOT EXISTS fundsync CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )
        admin.close()
        conn = connect(DbConfig.from_url(server.url))
        migrate(conn)
        conn.close()
        print(f"export FUNDSYNC_DB_URL='{server.url}'", flush=True)
        print("# a throwaway server: Ctrl-C stops it and removes its data", flush=True)
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
    return EXIT_OK


def run_generate(args: argparse.Namespace) -> int:
    from loader.devtools.samples import ExportSpec, write_export

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
        **({"start": args.start_date} if args.start_date else {}),
    )
    path = write_export(args.path, spec)
    print(f"wrote {path} ({path.stat().st_size:,} bytes, {args.rows:,} rows)")
    return EXIT_OK
