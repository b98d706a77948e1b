"""What every command shares: exit statuses, the parsing and database options, small helpers."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import TYPE_CHECKING

from loader.outcome import Status, is_success
from loader.settings import ENV, BadRowAllowance, ParseSettings, parse_prefix_map

if TYPE_CHECKING:
    from loader.mysql.config import DbConfig

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def exit_status(statuses: list[Status]) -> int:
    """0 when every source loaded or was skipped, 1 when any was rejected or failed."""
    return EXIT_OK if all(is_success(s) for s in statuses) else EXIT_REJECTED


def parse_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("parsing")
    group.add_argument(
        "--encoding",
        help="force this encoding for every file (overrides BOM and detection) "
        f"[{ENV['encoding']}]",
    )
    group.add_argument(
        "--allowed-encodings",
        help="comma-separated code pages a non-UTF-8 file may be in "
        f"(default cp1252,cp874) [{ENV['allowed_encodings']}]",
    )
    group.add_argument(
        "--encoding-by-prefix",
        help="PREFIX=ENCODING;... forced encodings per source prefix "
        f"[{ENV['encoding_by_prefix']}]",
    )
    group.add_argument(
        "--date-order",
        choices=["month-first", "day-first"],
        help="order of slash dates when the file proves neither (default month-first) "
        f"[{ENV['default_date_order']}]",
    )
    group.add_argument(
        "--buddhist-era",
        action="store_true",
        default=None,
        help=f"read years 2443..2643 as Buddhist era (minus 543) [{ENV['buddhist_era']}]",
    )
    group.add_argument(
        "--max-bad-rows",
        help="bad rows a file may have and still load: a count (100), a fraction (0.01) "
        f"or a percentage (1%%); default 0, strict [{ENV['max_bad_rows']}]",
    )


def parse_settings(args: argparse.Namespace) -> ParseSettings:
    return ParseSettings.from_env(
        encoding=args.encoding,
        allowed_encodings=tuple(args.allowed_encodings.split(","))
        if args.allowed_encodings
        else None,
        encoding_by_prefix=parse_prefix_map(args.encoding_by_prefix)
        if args.encoding_by_prefix
        else None,
        default_date_order=args.date_order,
        buddhist_era=args.buddhist_era,
        max_bad_rows=BadRowAllowance.parse(args.max_bad_rows) if args.max_bad_rows else None,
    )


def db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help="mysql://user@host:port/db[?ssl_mode=REQUIRED&ssl_ca=...&unix_socket=...] "
        "(default: FUNDSYNC_DB_URL, else AURORA_HOST/PORT/USER/PASSWORD/DATABASE); "
        "the password from FUNDSYNC_DB_PASSWORD, not the command line",
    )


PASSWORD_ON_COMMAND_LINE = (
    "fundsync: warning: the password in --db is visible to every user of this machine "
    "(ps shows command lines): set FUNDSYNC_DB_PASSWORD or FUNDSYNC_DB_URL instead"
)


def db_config(args: argparse.Namespace) -> DbConfig:
    """The database: ``--db``, else the environment; a password on the command line is
    warned about, never printed."""
    from loader.mysql.config import DbConfig

    config = DbConfig.from_env(args.db)
    if args.db and DbConfig.from_url(args.db).password:
        print(PASSWORD_ON_COMMAND_LINE, file=sys.stderr)
    return config


def day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def error_lines(errors: list[dict[str, object]], limit: int = 5, indent: str = "    ") -> list[str]:
    """Located errors, one line each: ``line 3, column d_trade: reason``."""
    lines = []
    for error in errors[:limit]:
        where = [f"line {error['line']}"] if error.get("line") is not None else []
        if error.get("column") is not None:
            where.append(f"column {error['column']}")
        if error.get("offset") is not None:
            where.append(f"byte {error['offset']}")
        lines.append(f"{indent}{', '.join(where) or 'file'}: {error['reason']}")
    return lines
