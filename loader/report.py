"""Turning results and rejections into what people and programs read."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from loader.errors import FileRejected
from loader.result import ParseResult


def parse_report(result: ParseResult) -> dict[str, Any]:
    """The JSON report of a file that parsed."""
    return {"status": "parsed", **result.to_dict()}


def rejection_report(source: str, error: FileRejected) -> dict[str, Any]:
    """The JSON report of a file that was rejected."""
    return {
        "source": source,
        "status": "rejected",
        "kind": error.kind,
        "encoding": error.encoding,
        "error_count": error.error_count,
        "errors": [e.to_dict() for e in error.errors],
    }


def describe(report: dict[str, Any]) -> str:
    """A few lines a person reads at a glance."""
    source = report["source"]
    if report["status"] == "rejected":
        lines = [
            f"{source}: REJECTED ({report['kind']}, {report['error_count']} error(s))",
        ]
        lines += [f"  {_where(e)}: {e['reason']}" for e in report["errors"][:10]]
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
    lines += [f"  rejected {_where(e)}: {e['reason']}" for e in report["errors"][:5]]
    return "\n".join(lines)


def _where(error: dict[str, Any]) -> str:
    parts = []
    if error.get("line") is not None:
        parts.append(f"line {error['line']}")
    if error.get("column") is not None:
        parts.append(f"column {error['column']}")
    if error.get("offset") is not None:
        parts.append(f"byte {error['offset']}")
    return ", ".join(parts) or "file"


def write_rejects(result: ParseResult, path: str | Path) -> Path | None:
    """Write the rejected rows with their reasons as CSV (CONTRACT §1.1); None if there are none."""
    if result.rejects is None or result.rejects.height == 0:
        return None
    path = Path(path)
    columns = ["line", "d_trade", "stock", "ticker", "col_code", "value", "reason"]
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows(result.rejects.sort("line").select(columns).iter_rows())
    return path


def rejects_path(source: str) -> Path:
    """``<name>.rejects.csv`` beside the input."""
    return Path(f"{source}.rejects.csv")
