"""``fundsync``: the command line. Thin: parse flags, call the library, turn reports into exit
codes.

Exit status: 0 when every source loaded (or parsed, or was skipped), 1 when any was rejected
or failed, 2 for usage errors, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from loader import __version__
from loader.cli import backfill, dev, load, parse, queue
from loader.cli.common import EXIT_REJECTED, EXIT_USAGE
from loader.errors import ConfigError, LoaderError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fundsync",
        description="Load SQL Server fund-data exports into Aurora MySQL, exactly.",
    )
    parser.add_argument("--version", action="version", version=f"fundsync {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (parse, load, backfill, queue, dev):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as error:
        print(f"fundsync: {error}", file=sys.stderr)
        return EXIT_USAGE
    except LoaderError as error:  # the database or the schema, not one file
        print(f"fundsync: {error}", file=sys.stderr)
        return EXIT_REJECTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
