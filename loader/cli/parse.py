"""``fundsync parse``: decode and check exports without a database."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from loader.cli.common import (
    EXIT_OK,
    EXIT_REJECTED,
    command,
    error_lines,
    parse_options,
    parse_settings,
)
from loader.errors import FileRejected
from loader.local_files import readable_file
from loader.outcome import outcome_of

if TYPE_CHECKING:
    from loader.parse import ParseResult


def register(commands: Any) -> None:
    parser = command(
        commands,
        "parse",
        help="decode and check exports without a database: what would load, or why not",
        description="Decode, parse and deduplicate each export exactly as a load would, "
        "and report the result. Nothing is written anywhere unless --write-rejects. "
        "Exit status 0 when every source parsed, 1 when any was rejected, 2 for usage errors.",
    )
    parser.add_argument("sources", nargs="+", metavar="SOURCE", help="local export file(s)")
    parser.add_argument("--json", action="store_true", help="one JSON object per source")
    parser.add_argument(
        "--write-rejects",
        action="store_true",
        help="with a bad-row allowance, write <name>.rejects.csv beside each input",
    )
    parse_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from loader.parse import parse_file  # Polars: imported by the commands that parse

    settings = parse_settings(args)
    status = EXIT_OK
    for source in args.sources:
        try:
            result = parse_file(readable_file(source), name=source, settings=settings)
        except Exception as error:  # the outcome function decides: a bad file, or not
            report = failure_report(source, error)
            status = EXIT_REJECTED
        else:
            report = {"status": "parsed", **result.to_dict()}
            if args.write_rejects and (written := _write_rejects(result, source)):
                report["rejects_file"] = written
        if args.json:
            print(json.dumps(report, ensure_ascii=False), flush=True)
        else:
            print(describe(report), flush=True)
    return status


def _write_rejects(result: ParseResult, source: str) -> str | None:
    from loader.rejects import rejects_path, write_rejects_file

    written = write_rejects_file(result.rejects, rejects_path(source))
    return None if written is None else str(written)


def failure_report(source: str, error: Exception) -> dict[str, Any]:
    """The JSON report of a source that did not parse."""
    failure = outcome_of(error)
    report: dict[str, Any] = {
        "source": source,
        "status": failure.status,
        "error_type": failure.error_type,
        "error": failure.message,
        "errors": [e.to_dict() for e in failure.errors],
    }
    if isinstance(error, FileRejected):
        report.update(kind=error.kind, encoding=error.encoding, error_count=error.error_count)
    return report


def describe(report: dict[str, Any]) -> str:
    """A few lines a person reads at a glance."""
    source = report["source"]
    if report["status"] != "parsed":
        if "kind" not in report:
            return f"{source}: {report['status'].upper()} ({report['error']})"
        lines = [f"{source}: REJECTED ({report['kind']}, {report['error_count']} error(s))"]
        lines += error_lines(report["errors"], limit=10, indent="  ")
        if report["error_count"] > 10:
            lines.append(f"  ... {report['error_count'] - 10} more (see --json)")
        return "\n".join(lines)
    order = ""
    if report["date_order"]:
        proof = "proven" if report["date_order_proven"] else "default, not proven"
        order = f", {report['date_order']} ({proof})"
    lines = [
        f"{source}: {report['rows_parsed']:,} rows ready "
        f"({report['rows_read']:,} read, {report['duplicates_in_file']:,} duplicates, "
        f"{report['conflicting_duplicates']:,} conflicting, "
        f"{report['rejected_rows']:,} rejected)",
        f"  encoding {report['encoding']} (by {report['encoding_detected_by']}), "
        f"delimiter {report['delimiter']!r}, dates {report['date_format']}{order}",
        f"  {report['seconds']:.3f}s, {report['rows_per_second'] or 0:,.0f} rows/s",
    ]
    if report["extra_columns"]:
        lines.append(f"  extra columns ignored: {', '.join(report['extra_columns'])}")
    lines += error_lines(report["errors"], indent="  rejected ")
    return "\n".join(lines)
