"""Load path against the ceiling, measured side by side in one run on one server.

    python bench/load_bench.py [--rows 1000000] [--db URL]

For each key layout, in a fresh database:
  ceiling   raw LOAD DATA LOCAL INFILE of the already-clean rows into an empty fund_data
  fresh     fundsync load of the export into an empty fund_data
  reload    the identical content again under a new source name (all unchanged)
  changed   the export with 1% of values changed, under a new name
Writes bench/results/load.{json,md}. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import loader  # noqa: E402,F401  (allocator settings before Polars)
from loader.devtools.dbserver import ThrowawayServer, fresh_database  # noqa: E402
from loader.devtools.samples import ExportSpec, changed_copy, write_export  # noqa: E402
from loader.load import load_source  # noqa: E402
from loader.mysql import sql  # noqa: E402
from loader.mysql.config import DbConfig  # noqa: E402
from loader.mysql.connection import connect  # noqa: E402
from loader.mysql.session import Session  # noqa: E402
from loader.parse import parse_file  # noqa: E402
from loader.prepare.stagedir import StagingDir  # noqa: E402
from loader.prepare.stagetext import write_staging_file  # noqa: E402
from loader.sources import LocalFile  # noqa: E402


def ceiling(config: DbConfig, export: Path) -> float:
    """Raw LOAD DATA of the clean rows (parsed beforehand, not timed) into an empty fund_data."""
    parsed = parse_file(export)
    with StagingDir() as staging:
        path = staging.new_file()
        write_staging_file(parsed.rows, path)
        conn = connect(config, staging_dir=staging.path)
        cur = conn.cursor()
        cur.execute("TRUNCATE TABLE fund_data")
        cur.execute(sql.SET_LINEAGE, ("ceiling",))
        started = time.perf_counter()
        cur.execute(sql.load_data_into_target(), (str(path),))
        conn.commit()
        seconds = time.perf_counter() - started
        cur.execute("TRUNCATE TABLE fund_data")
        conn.close()
    return seconds


# size: a script's measurements in the order they run; to be split as bench/compare.py was
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", help="server to use (default: a throwaway MariaDB)")
    parser.add_argument("--layouts", nargs="+", default=["composite-pk", "surrogate-id"])
    args = parser.parse_args()

    data = HERE / "data"
    data.mkdir(exist_ok=True)
    export = data / f"export_{args.rows}.csv"
    if not export.exists():
        write_export(export, ExportSpec(rows=args.rows))
    changed = changed_copy(export, data / f"export_{args.rows}_changed.csv")

    server = None if args.db else ThrowawayServer().start()
    admin = DbConfig.from_url(args.db or server.url)  # type: ignore[union-attr]
    results = []
    try:
        with connect(admin) as probe:
            cur = probe.cursor()
            cur.execute("SELECT VERSION()")
            version = cur.fetchone()[0]
        for layout in args.layouts:
            with fresh_database(admin, "bench_load", layout) as config, Session(config) as session:
                ceiling_s = ceiling(config, export)
                runs = {}
                for scenario, path, key in (
                    ("fresh day", export, "raw/day.csv"),
                    ("identical reload, new name", export, "raw/day-copy.csv"),
                    ("1% of values changed", changed, "raw/day-fix.csv"),
                ):
                    started = time.perf_counter()
                    report = load_source(LocalFile(str(path), key), session)
                    runs[scenario] = (time.perf_counter() - started, report)
            for scenario, (seconds, report) in runs.items():
                results.append(
                    {
                        "layout": layout,
                        "scenario": scenario,
                        "seconds": round(seconds, 3),
                        "ceiling_seconds": round(ceiling_s, 3),
                        "ratio_to_ceiling": round(seconds / ceiling_s, 3),
                        "rows_per_second": round(args.rows / seconds),
                        "status": report.status,
                        "method": report.method,
                        "inserted": report.inserted,
                        "updated": report.updated,
                        "unchanged": report.unchanged,
                        "stage_seconds": report.to_dict()["stage_seconds"],
                    }
                )
                print(json.dumps(results[-1]), flush=True)
    finally:
        if server is not None:
            server.stop()

    machine = f"{platform.machine()}, {os.cpu_count()} cores, {version}"
    (HERE / "results").mkdir(exist_ok=True)
    record = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine,
        "rows": args.rows,
        "results": results,
    }
    (HERE / "results" / "load.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        f"Load path, {args.rows:,} rows, one run, same server ({machine}):",
        "",
        "| layout | scenario | seconds | ceiling s | x ceiling | rows/s | method | ins / upd / same |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['layout']} | {r['scenario']} | {r['seconds']:.2f} | {r['ceiling_seconds']:.2f} | "
            f"{r['ratio_to_ceiling']:.2f} | {r['rows_per_second']:,} | {r['method']} | "
            f"{r['inserted'] or 0:,} / {r['updated'] or 0:,} / {r['unchanged'] or 0:,} |"
        )
    (HERE / "results" / "load.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
