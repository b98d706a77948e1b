"""What every command shares: exit statuses, the parsing and database options, small helpers."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import date
from typing import TYPE_CHECKING, Any

from loader.display import shown
from loader.outcome import Status, is_success
from loader.settings import (
    ENV,
    MODES,
    BadRowAllowance,
    ParseSettings,
    parse_prefix_map,
    share,
)

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


def merge_options(parser: argparse.ArgumentParser) -> None:
    """How files merge: upsert, or whole-day snapshots (load, backfill, worker)."""
    group = parser.add_argument_group("merging")
    group.add_argument(
        "--mode",
        choices=MODES,
        help="upsert: keys a file lacks stay; replace-days: a file is the whole content of "
        f"each trade date it holds, keys of those dates it lacks are deleted [{ENV['mode']}]",
    )
    group.add_argument(
        "--mode-by-prefix",
        help=f"PREFIX=MODE;... the mode per source prefix [{ENV['mode_by_prefix']}]",
    )
    group.add_argument(
        "--allow-mass-delete",
        action="store_true",
        default=None,
        help="replace-days: let a file delete more than --max-delete-share of a day "
        f"[{ENV['allow_mass_delete']}]",
    )
    group.add_argument(
        "--max-delete-share",
        help="replace-days: the largest share of a day's rows a file may delete, 0.1 or 10%% "
        f"(default 10%%) [{ENV['max_delete_share']}]",
    )


def parse_settings(args: argparse.Namespace) -> ParseSettings:
    share_text = getattr(args, "max_delete_share", None)
    mode_map = getattr(args, "mode_by_prefix", None)
    return ParseSettings.from_env(
        mode=getattr(args, "mode", None),
        mode_by_prefix=parse_prefix_map(mode_map, "MODE") if mode_map else None,
        allow_mass_delete=getattr(args, "allow_mass_delete", None),
        max_delete_share=share(share_text, "--max-delete-share") if share_text else None,
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


PROMPT = "\0prompt"
"""The value ``-p``/``--password`` gets when given alone (see :func:`prepare_argv`)."""


def command(commands: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand with the options every command has: ``--help`` (``-h`` is the host, as for
    the mysql client), ``--quiet`` and ``--verbose``."""
    parser: argparse.ArgumentParser = commands.add_parser(name, add_help=False, **kwargs)
    parser.add_argument("-?", "--help", action="help", help="show this help and exit")
    output_options(parser)
    return parser


def db_option(parser: argparse.ArgumentParser) -> None:
    """The database options, as the mysql client has them; flag > URL > environment > option
    file (docs/operations.md)."""
    group = parser.add_argument_group("database (flag > --db URL > environment > option file)")
    group.add_argument(
        "--db",
        metavar="URL",
        help="mysql://user@host:port/db[?ssl_mode=REQUIRED&ssl_ca=...&unix_socket=...] "
        "[FUNDSYNC_DB_URL; else FUNDSYNC_DB_SECRET_ARN or AURORA_HOST/PORT/USER/PASSWORD/DATABASE]",
    )
    group.add_argument("-h", "--host", help="the server's host name")
    group.add_argument("-P", "--port", type=positive_int, help="its port (3306)")
    group.add_argument("-u", "--user", help="the user to connect as")
    group.add_argument("-D", "--database", help="the database (fundsync)")
    group.add_argument("-S", "--socket", help="a Unix socket instead of host and port")
    group.add_argument(
        "-p",
        "--password",
        metavar="PASSWORD",
        help="-p alone prompts (nothing echoed); -pSECRET works but is visible in ps: "
        "prefer FUNDSYNC_DB_PASSWORD, --password-file or an option file",
    )
    group.add_argument("--password-file", metavar="FILE", help="read the password from FILE")
    group.add_argument(
        "--defaults-file",
        metavar="FILE",
        help="an option file whose [client] section names the database (default ~/.my.cnf)",
    )


def aws_options(parser: argparse.ArgumentParser) -> None:
    """The aws CLI's own options, for the commands that talk to AWS."""
    group = parser.add_argument_group("AWS")
    group.add_argument("--region", help="the AWS region [AWS_REGION, AWS_DEFAULT_REGION]")
    group.add_argument("--profile", help="a named profile of ~/.aws/config [AWS_PROFILE]")
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="another endpoint for every AWS call (LocalStack, moto) [AWS_ENDPOINT_URL]",
    )


def apply_aws_options(args: argparse.Namespace) -> None:
    """Hand ``--region``, ``--profile`` and ``--endpoint-url`` to boto3 (through its own
    environment variables, read when the clients are made). A variable set empty counts as
    unset, as in a shell: botocore would read ``AWS_PROFILE=`` as a profile named ''."""
    for flag, names in (
        ("region", ("AWS_REGION", "AWS_DEFAULT_REGION")),
        ("profile", ("AWS_PROFILE",)),
        ("endpoint_url", ("AWS_ENDPOINT_URL",)),
    ):
        value = getattr(args, flag, None)
        for name in names:
            if value:
                os.environ[name] = value
            elif os.environ.get(name) == "":
                del os.environ[name]


def output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    loudness = group.add_mutually_exclusive_group()
    loudness.add_argument(
        "-q", "--quiet", action="store_true", help="print only what went wrong (and --json)"
    )
    loudness.add_argument(
        "-v", "--verbose", action="store_true", help="more detail: stage timings, tracebacks"
    )


def prepare_argv(argv: list[str]) -> list[str]:
    """``-p`` or ``--password`` alone means "prompt", as for the mysql client (``-pSECRET``
    and ``--password=SECRET`` carry the value); a following word is never taken as it."""
    return [f"--password={PROMPT}" if arg in ("-p", "--password") else arg for arg in argv]


PASSWORD_ON_COMMAND_LINE = (
    "fundsync: warning: a password on the command line is visible to every user of this "
    "machine (ps): use FUNDSYNC_DB_PASSWORD, --password-file, -p alone (a prompt) or an "
    "option file"
)


def db_config(args: argparse.Namespace) -> DbConfig:
    """The database from the flags, ``--db``, the environment and the option files; a
    password on the command line is warned about, never printed."""
    from loader.mysql.config import url_fields
    from loader.mysql.options import ConnectionFlags, resolve

    password = getattr(args, "password", None)
    if password == PROMPT:
        password = getpass.getpass("Enter password: ")
    elif password is not None or (args.db and url_fields(args.db).get("password")):
        print(PASSWORD_ON_COMMAND_LINE, file=sys.stderr)
    flags = ConnectionFlags(
        url=args.db,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        user=getattr(args, "user", None),
        database=getattr(args, "database", None),
        socket=getattr(args, "socket", None),
        password=password,
        password_file=getattr(args, "password_file", None),
        defaults_file=getattr(args, "defaults_file", None),
    )
    config = resolve(flags)
    from dataclasses import replace

    if getattr(args, "verify", False) and not config.verify:
        config = replace(config, verify=True)
    if quality := getattr(args, "quality", None):  # the flags over the environment's
        config = replace(config, quality=",".join(filter(None, [config.quality, *quality])))
    return config


def json_default(zone: str) -> Any:
    """``json.dumps``'s ``default`` for what the database returns: a decimal exactly (never a
    float, never an exponent), a date as ISO 8601, a time as ISO 8601 with the session's
    offset (``zone``, ``+07:00``: the server's times are in the session's zone)."""
    from datetime import date, datetime
    from decimal import Decimal

    offset = zone if zone[:1] in ("+", "-") else ""

    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            return format(value, "f")
        if isinstance(value, datetime):
            return value.isoformat() + (offset if value.tzinfo is None else "")
        if isinstance(value, date):
            return value.isoformat()
        raise TypeError(type(value).__name__)

    return default


def source_or_load_id(parser: argparse.ArgumentParser, load_help: str) -> None:
    """SOURCE (a path, key or s3:// URI) or ``--load-id N`` (one ledger row): one of them."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("source", nargs="?", metavar="SOURCE", help="a path, key or s3:// URI")
    which.add_argument("--load-id", type=int, metavar="N", help=load_help)


def quality_option(parser: argparse.ArgumentParser) -> None:
    """``--quality CHECK=POLICY``: the quality gate's policy of one check (repeatable)."""
    parser.add_argument(
        "--quality",
        action="append",
        metavar="CHECK=POLICY",
        help="the quality gate: CHECK (funds_missing, funds_new, rows_per_fund, nulls, texts, "
        "duplicates, jumps, total_rows, or all) set to off, warn or hold (also "
        "FUNDSYNC_QUALITY=check=policy,...; docs/operations.md)",
    )


def verify_option(parser: argparse.ArgumentParser) -> None:
    """``--verify``: prove each load before its commit (also ``verify=1`` in the URL, or
    FUNDSYNC_VERIFY=1)."""
    parser.add_argument(
        "--verify",
        action="store_true",
        help="prove before each commit that fund_data holds exactly the file's values "
        "(costs a re-read of the file's trade dates; also FUNDSYNC_VERIFY=1)",
    )


def positive_int(text: str) -> int:
    """A whole number of at least 1 (a usage error otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number (at least 1)")
    return value


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
        lines.append(f"{indent}{', '.join(where) or 'file'}: {shown(error['reason'])}")
    return lines
