"""Reading back from a fund_data that holds years: get_by_source, --source and get_by_ticker.

    python bench/read_bench.py [--days 50] [--rows 200000] [--repeat 5] [--db URL]

One throwaway MariaDB (unless --db; set up as SERVER_OPTIONS in bench/server.py), a
fund_data built untimed by `fundsync backfill` of DAYS daily files x ROWS rows (default 10M
rows), then, median of REPEAT:

  by source, key range   rows_by_source: the ledger's trade dates of the source, a range of
                         the primary key per day (what get_by_source and `query --source` do)
  by source, scan        the same rows found by a scan (WHERE s3_source_key = ..., no index)
  by source, index       the same with a secondary index on s3_source_key(255), built for the
                         measurement (its build time, its size and what it adds to merging a
                         200k-row file with 1% changed values are measured too; dropped after;
                         the correction has by then taken about 1% of the source's rows)
  server only            COUNT(*) by each path: the server's part without the transfer
  by ticker              rows_by_ticker over the whole history (ix_fund_data_ticker)
  without the ticker     the size of ix_fund_data_ticker; then, with it dropped (at the
  index                  end), get_by_ticker (a scan) and get_by_source again
  query --source (CLI)   the whole command, `fundsync query --source KEY --format csv`

Each figure comes with the EXPLAIN row estimate of its statement. Writes
bench/results/read.{md,json}. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import loader  # noqa: E402,F401
from bench.backfill_bench import exports, url_of  # noqa: E402
from bench.server import SERVER_OPTIONS, machine, quiesce  # noqa: E402
from loader.devtools.dbserver import ThrowawayServer  # noqa: E402
from loader.devtools.samples import changed_copy  # noqa: E402
from loader.mysql import sql  # noqa: E402
from loader.mysql.config import DbConfig  # noqa: E402
from loader.mysql.connection import connect  # noqa: E402
from loader.mysql.read import rows_by_source, rows_by_ticker  # noqa: E402

FUNDSYNC = str(Path(sys.executable).parent / "fundsync")
DATABASE = "bench_read"
INDEX = "ix_bench_source"


def index_size_mb(config: DbConfig, index: str) -> int | None:
    """The size of one index of fund_data in MB, as InnoDB's statistics give it."""
    conn = connect(config)
    cur: Any = conn.cursor()
    cur.execute("ANALYZE TABLE fund_data")
    cur.fetchall()
    cur.execute(
        "SELECT ROUND(stat_value * @@innodb_page_size / 1048576) FROM mysql.innodb_index_stats "
        "WHERE database_name = %s AND table_name = 'fund_data' AND index_name = %s "
        "AND stat_name = 'size'",
        (config.database, index),
    )
    size = cur.fetchone()
    conn.close()
    return int(size[0]) if size else None


def median_seconds(action: Callable[[], int], repeat: int) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), count


def explain_rows(config: DbConfig, statement: str, params: tuple[object, ...]) -> int:
    conn = connect(config)
    cur: Any = conn.cursor(dictionary=True)
    cur.execute("EXPLAIN " + statement, params)
    rows = sum(int(r["rows"] or 0) for r in cur.fetchall())
    conn.close()
    return rows


# size: a script's measurements in the order they run (each operator command in turn); to be split as bench/compare.py was
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=50)
    parser.add_argument("--rows", type=int, default=200_000, help="rows per daily file")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", help="an admin URL (default: a throwaway MariaDB)")
    args = parser.parse_args()

    folder = HERE / "data" / f"history_{args.days}x{args.rows}"
    print(f"writing {args.days} daily exports of {args.rows:,} rows ...", flush=True)
    paths = exports(folder, args.days, args.rows, start=date(2025, 6, 2), seed=5000)
    middle = paths[len(paths) // 2]
    correction = folder.parent / f"history_{args.days}x{args.rows}_correction.csv"
    if not correction.exists():
        changed_copy(middle, correction, share=0.01, seed=77)
    server = None if args.db else ThrowawayServer(options=SERVER_OPTIONS).start()
    base = args.db or server.url  # type: ignore[union-attr]
    admin = DbConfig.from_url(base)
    results: list[dict[str, Any]] = []

    def record(name: str, seconds: float, rows: int, **extra: Any) -> None:
        row = {"measure": name, "seconds": round(seconds, 4), "rows": rows, **extra}
        results.append(row)
        print(json.dumps(row), flush=True)

    try:
        described = machine(admin)
        conn = connect(admin)
        cur: Any = conn.cursor()
        cur.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        cur.execute(f"CREATE DATABASE {DATABASE}")
        conn.close()
        url = url_of(base, DATABASE)
        config = DbConfig.from_url(url)
        subprocess.run([FUNDSYNC, "migrate", "--db", url], check=True, capture_output=True)
        print(f"building the history: fundsync backfill of {len(paths)} files ...", flush=True)
        started = time.perf_counter()
        subprocess.run(
            [FUNDSYNC, "backfill", str(folder), "--progress", "none", "--db", url],
            check=True,
            capture_output=True,
        )
        print(f"  {time.perf_counter() - started:.0f} s", flush=True)
        conn = connect(config)
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM fund_data")
        (table_rows,) = cur.fetchone()
        conn.close()
        source = str(middle.resolve())
        ticker = "F00042-A"
        days_of_source = [date.fromisoformat(middle.parent.name)]

        def by_source_range() -> int:
            with connect(config) as c:
                return sum(1 for _ in rows_by_source(c, source))

        def by_statement(statement: str, params: tuple[object, ...]) -> Callable[[], int]:
            def run() -> int:
                with connect(config) as c:
                    k: Any = c.cursor()
                    k.execute(statement, params)
                    n = 0
                    while batch := k.fetchmany(10_000):
                        n += len(batch)
                    return n

            return run

        def by_ticker() -> int:
            with connect(config) as c:
                return sum(1 for _ in rows_by_ticker(c, ticker))

        def cli_query() -> int:
            out = subprocess.run(
                [FUNDSYNC, "query", "--source", source, "--format", "csv", "--db", url],
                check=True,
                capture_output=True,
            ).stdout
            return out.count(b"\n") - 1

        ranged = sql.select_by_source_days(1)
        quiesce(server, 5)
        seconds, n = median_seconds(by_source_range, args.repeat)
        record(
            "get_by_source: key range of the ledger's trade dates",
            seconds,
            n,
            explain_rows=explain_rows(config, ranged, (*days_of_source, source)),
        )
        seconds, n = median_seconds(cli_query, args.repeat)
        record("fundsync query --source KEY --format csv (whole command)", seconds, n)
        seconds, n = median_seconds(by_ticker, args.repeat)
        record(
            f"get_by_ticker {ticker}, whole history (ix_fund_data_ticker)",
            seconds,
            n,
            explain_rows=explain_rows(config, sql.select_rows(True, False, False), (ticker,)),
        )
        count_range = "SELECT COUNT(*) FROM fund_data WHERE d_trade IN (%s) AND s3_source_key = %s"
        count_scan = "SELECT COUNT(*) FROM fund_data WHERE s3_source_key = %s"

        def counted(statement: str, params: tuple[object, ...]) -> Callable[[], int]:
            def run() -> int:
                with connect(config) as c:
                    k: Any = c.cursor()
                    k.execute(statement, params)
                    return int(k.fetchone()[0])

            return run

        seconds, n = median_seconds(counted(count_range, (*days_of_source, source)), args.repeat)
        record("server only: COUNT(*) of the source's rows by key range", seconds, n)
        seconds, n = median_seconds(counted(count_scan, (source,)), max(1, args.repeat // 2))
        record("server only: COUNT(*) of the source's rows by a scan", seconds, n)
        seconds, n = median_seconds(
            by_statement(sql.SELECT_BY_SOURCE, (source,)), max(1, args.repeat // 2)
        )
        record(
            "the same source by a scan (no index)",
            seconds,
            n,
            explain_rows=explain_rows(config, sql.SELECT_BY_SOURCE, (source,)),
        )

        # What a secondary index would cost: merge a 1%-changed day without it, build it,
        # read through it, merge the same day again with it, drop it.
        def merge_correction() -> float:
            quiesce(server, 5)
            started = time.perf_counter()
            subprocess.run(
                [FUNDSYNC, "load", str(correction), "--force", "--db", url],
                check=True,
                capture_output=True,
            )
            return time.perf_counter() - started

        without = merge_correction()
        record("fundsync load of a 1%-changed day (no source index)", without, args.rows)
        conn = connect(config)
        cur = conn.cursor()
        started = time.perf_counter()
        cur.execute(f"ALTER TABLE fund_data ADD KEY {INDEX} (s3_source_key(255))")
        built = time.perf_counter() - started
        conn.close()
        record(
            "build a secondary index on s3_source_key(255)",
            built,
            table_rows,
            index_mb=index_size_mb(config, INDEX),
        )
        quiesce(server, 5)
        seconds, n = median_seconds(by_statement(sql.SELECT_BY_SOURCE, (source,)), args.repeat)
        record(
            "the same source through the secondary index",
            seconds,
            n,
            explain_rows=explain_rows(config, sql.SELECT_BY_SOURCE, (source,)),
        )
        seconds, n = median_seconds(counted(count_scan, (source,)), args.repeat)
        record("server only: COUNT(*) of the source's rows through the index", seconds, n)
        with_index = merge_correction()
        record("fundsync load of a 1%-changed day (with the source index)", with_index, args.rows)
        conn = connect(config)
        conn.cursor().execute(f"ALTER TABLE fund_data DROP KEY {INDEX}")
        conn.close()

        # What ix_fund_data_ticker buys: its size, then the reads without it.
        record(
            "ix_fund_data_ticker (ticker, d_trade): its size",
            0.0,
            table_rows,
            index_mb=index_size_mb(config, "ix_fund_data_ticker"),
        )
        conn = connect(config)
        conn.cursor().execute("ALTER TABLE fund_data DROP KEY ix_fund_data_ticker")
        conn.close()
        quiesce(server, 5)
        seconds, n = median_seconds(by_ticker, max(1, args.repeat // 2))
        record(
            f"get_by_ticker {ticker}, whole history, without ix_fund_data_ticker (a scan)",
            seconds,
            n,
            explain_rows=explain_rows(config, sql.select_rows(True, False, False), (ticker,)),
        )
        seconds, n = median_seconds(by_source_range, args.repeat)
        record(
            "get_by_source: key range, without ix_fund_data_ticker",
            seconds,
            n,
            explain_rows=explain_rows(config, ranged, (*days_of_source, source)),
        )
    finally:
        if server is not None:
            server.stop()

    record_ = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": described,
        "table_rows": table_rows,
        "days": args.days,
        "rows_per_day": args.rows,
        "repeat": args.repeat,
        "results": results,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "read.json").write_text(json.dumps(record_, indent=2) + "\n")
    lines = [
        f"Reading back from fund_data holding {table_rows:,} rows ({args.days} days x "
        f"{args.rows:,}), one server ({described}; {record_['when']}). Median of "
        f"{args.repeat} (the scan: of {max(1, args.repeat // 2)}); one connection each.",
        "",
        "| measure | seconds | rows returned | EXPLAIN rows | index MB |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in results:
        explained = f"{row['explain_rows']:,}" if "explain_rows" in row else ""
        index_mb = f"{row['index_mb']:,}" if row.get("index_mb") is not None else ""
        seconds = f"{row['seconds']:.3f}" if row["seconds"] else ""  # a size only
        lines.append(
            f"| {row['measure']} | {seconds} | {row['rows']:,} | {explained} | {index_mb} |"
        )
    table = "\n".join(lines) + "\n"
    (HERE / "results" / "read.md").write_text(table)
    print("\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
