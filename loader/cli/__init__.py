"""``fundsync``: the command line. Thin: parse flags, call the library, turn reports into exit
codes.

Exit status: 0 when every source loaded (or parsed, or was skipped), 1 when any was rejected
or failed, 2 for usage errors, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from loader import __version__
from loader.cli import backfill, dev, load, ops, parse, prune, queue, revert, verify, watch
from loader.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_USAGE,
    apply_aws_options,
    prepare_argv,
)
from loader.errors import ConfigError, LoaderError


class OneLineParser(argparse.ArgumentParser):
    """A usage error is one line on stderr and exit status 2, pointing to ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="fundsync",
        description="Load SQL Server fund-data exports into Aurora MySQL, exactly.",
    )
    parser.add_argument("--version", action="version", version=f"fundsync {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser
    )
    for module in (parse, load, backfill, ops, verify, prune, revert, watch, queue, dev):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every way it can end is an exit status and at most one line on
    stderr (``--verbose`` adds the traceback of an unexpected error)."""
    args = build_parser().parse_args(prepare_argv(list(sys.argv[1:] if argv is None else argv)))
    try:
        apply_aws_options(args)
        return int(args.func(args))
    except ConfigError as error:
        print(f"fundsync: {error}", file=sys.stderr)
        return EXIT_USAGE
    except LoaderError as error:  # the database, AWS or the schema, not one file
        print(f"fundsync: {first_line(error)}", file=sys.stderr)
        return EXIT_REJECTED
    except KeyboardInterrupt:
        print("fundsync: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as error:
        return _unexpected(error, getattr(args, "verbose", False))


def _unexpected(error: Exception, verbose: bool) -> int:
    from loader import aws

    classified = aws.classify(error, "AWS")  # botocore's errors: what to set, one line
    if classified is not error:
        print(f"fundsync: {first_line(classified)}", file=sys.stderr)
        return EXIT_USAGE if isinstance(classified, ConfigError) else EXIT_REJECTED
    if verbose:
        traceback.print_exc()
    print(
        f"fundsync: unexpected error ({type(error).__name__}): {first_line(error)} "
        "(--verbose shows where)",
        file=sys.stderr,
    )
    return EXIT_REJECTED


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
