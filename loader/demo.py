"""``fundsync demo``: the main job end to end on generated exports, with nothing to set up.

Until the database and pipeline stages land, the demo runs what exists: it
writes a day's UTF-8 export, a cp1252 export with accented fund names and a
broken export, runs each through the decode and parse stages exactly as a
load would, and prints the reports.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from loader.errors import FileRejected
from loader.parse import parse_file
from loader.report import describe, parse_report, rejection_report
from loader.samples import ExportSpec, write_export

BROKEN_EXPORT = (
    "d_trade,stock,ticker,col_code,value\r\n"
    "2025-12-09,KF-FIXED,KF-FIXED-A,NAV,10.1234\r\n"
    "2025-12-09,KF-FIXED,KF-FIXED-A,AUM\r\n"  # a field missing
    "2025-12-32,KF-FIXED,KF-FIXED-A,BID,10.12\r\n"  # no such day
    "2025-12-09,,KF-FIXED-A,OFFER,10.13\r\n"  # no stock
)


def sample_files(folder: Path, rows: int) -> list[Path]:
    """The demo's three exports, written into ``folder``."""
    day = folder / "fund_data_2025-12-09.csv"
    write_export(day, ExportSpec(rows=rows))
    western = folder / "fund_data_2025-12-09_eu_cp1252.csv"
    write_export(western, ExportSpec(rows=max(rows // 20, 100), encoding="cp1252", seed=7))
    broken = folder / "fund_data_2025-12-09_broken.csv"
    broken.write_bytes(BROKEN_EXPORT.encode("utf-8"))
    return [day, western, broken]


def run_demo(rows: int = 200_000, keep: Path | None = None) -> int:
    """Generate, parse and report; returns the process exit status (0: demo ran as expected)."""
    with tempfile.TemporaryDirectory(prefix="fundsync-demo-") as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"fund-data-sync demo: sample exports in {folder}\n")
        outcomes = []
        for path in sample_files(folder, rows):
            try:
                report = parse_report(parse_file(path))
            except FileRejected as rejected:
                report = rejection_report(str(path), rejected)
            outcomes.append(report["status"])
            print(describe(report), end="\n\n")
        print(
            "The first two exports parse into exact, deduplicated rows; the third is "
            "rejected with the line and column of each problem, and nothing from it would load."
        )
        print("(Loading into MySQL and the S3/SQS pipeline arrive with the next stages.)")
    expected = ["parsed", "parsed", "rejected"]
    return 0 if outcomes == expected else 1
