"""``fundsync demo``: the main job end to end on generated exports, with nothing to set up.

Until the S3/SQS pipeline lands, the demo runs what exists on a throwaway
MariaDB (or the database given with ``--db``): it writes a day's UTF-8
export, a cp1252 export with accented fund names and a broken export,
migrates, loads all three exactly as ``fundsync load`` does, loads the day
again (skipped: already loaded) and a correction of it (1% of the values
changed), and prints the reports, the rows in ``fund_data`` and the ledger.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from loader.db import DbConfig, connect
from loader.dbserver import ThrowawayServer
from loader.load import Loader, LoadReport
from loader.migrate import migrate
from loader.samples import ExportSpec, changed_copy, write_export

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
    western = folder / "fund_data_2025-12-10_eu_cp1252.csv"
    write_export(
        western,
        ExportSpec(
            rows=max(rows // 20, 100),
            encoding="cp1252",
            seed=7,
            start=ExportSpec().start.replace(day=10),
        ),
    )
    broken = folder / "fund_data_2025-12-11_broken.csv"
    broken.write_bytes(BROKEN_EXPORT.encode("utf-8"))
    return [day, western, broken]


def _line(report: LoadReport) -> str:
    counts = (
        f"{report.rows_merged or 0:>9,} rows: {report.inserted or 0:,} inserted, "
        f"{report.updated or 0:,} updated, {report.unchanged or 0:,} unchanged"
    )
    extra = f", {report.encoding}" if report.encoding else ""
    how = f" via {report.method}" if report.method else ""
    name = Path(report.source).name
    return f"  {report.status:<9}{counts}{extra}{how}, {report.seconds:.2f}s  {name}"


def run_demo(rows: int = 200_000, keep: Path | None = None, db_url: str | None = None) -> int:
    """Generate, load and report; returns the exit status (0: the demo ran as expected)."""
    with tempfile.TemporaryDirectory(prefix="fundsync-demo-") as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        server = None
        if db_url is None:
            print("fund-data-sync demo: starting a throwaway MariaDB ...")
            server = ThrowawayServer().start()
            db_url = server.url
        try:
            return _run(folder, rows, DbConfig.from_url(db_url))
        finally:
            if server is not None:
                server.stop()


def _run(folder: Path, rows: int, config: DbConfig) -> int:
    print(f"database {config.redacted()}; sample exports in {folder}\n")
    conn = connect(config)
    applied = migrate(conn)
    conn.close()
    print(f"migrate: applied {', '.join(m.name for m in applied) or 'nothing (up to date)'}\n")
    files = sample_files(folder, rows)
    reports = []
    with Loader(config) as loader:
        print("load:")
        for path in files:
            report = loader.load(path)
            reports.append(report)
            print(_line(report))
            for error in report.errors[:5]:
                where = f"line {error['line']}" if error.get("line") else "file"
                column = f", column {error['column']}" if error.get("column") else ""
                print(f"             {where}{column}: {error['reason']}")
        again = loader.load(files[0])
        reports.append(again)
        print(_line(again) + "  (the same file again)")
        correction = changed_copy(files[0], folder / "fund_data_2025-12-09_correction.csv")
        fixed = loader.load(correction)
        reports.append(fixed)
        print(_line(fixed) + "  (a correction: 1% of the values changed)")
        cur: Any = loader.connection().cursor()
        cur.execute(
            "SELECT d_trade, COUNT(*), SUM(value_numeric IS NOT NULL), SUM(value_text IS NOT NULL) "
            "FROM fund_data GROUP BY d_trade ORDER BY d_trade"
        )
        print("\nfund_data:")
        for day, count, numeric, text in cur.fetchall():
            print(f"  {day}: {count:,} rows ({int(numeric):,} numeric, {int(text):,} text)")
        cur.execute("SELECT status, COUNT(*) FROM fund_data_loads GROUP BY status ORDER BY status")
        print("\nfund_data_loads: " + ", ".join(f"{n} {s}" for s, n in cur.fetchall()))
        loader.connection().commit()
    print(
        "\nThe good exports are merged exactly (the correction updates only what changed); "
        "the broken one is rejected with the line and column of each problem, and nothing "
        "from it was written."
    )
    expected = ["loaded", "loaded", "rejected", "skipped", "loaded"]
    return 0 if [r.status for r in reports] == expected else 1
