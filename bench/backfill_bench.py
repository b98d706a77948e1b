"""Backfill throughput: 30 daily files, against loading them one by one and the ceiling.

    python bench/backfill_bench.py [--files 30] [--rows 200000] [--grid 1x1 2x1 ...]
                                   [--history-days 0] [--again] [--db URL]

One throwaway MariaDB (unless --db), each measurement in a fresh fund_data and a
fresh process, the server quiet before each:

  one by one   `fundsync load FILE` for each file in turn (30 processes), summed
  backfill     `fundsync backfill FOLDER --workers W --db-concurrency D`, for each WxD
  ceiling      raw LOAD DATA LOCAL INFILE of the same rows, already clean and key-ordered
               (bench/reference.py), file after file on one connection

With --history-days N every measurement starts from a fund_data that already holds N days
of 200k rows before the backfilled ones (loaded untimed with LOAD DATA), as production does.
With --again each grid cell's backfill is followed by the same backfill with --force
--verify (every file already loaded: the digest pass, the quality gate and the proof each
consume the staging rows a worker wrote, none of them staged again), timed on its own.
Times are wall clock of the whole command (start-up included: that is what a user
waits for). Writes bench/results/backfill.{md,json} (backfill_history.* with history).
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import loader  # noqa: E402,F401
from bench.reference import expected_rows, write_clean  # noqa: E402
from bench.scenarios import history_exports  # noqa: E402
from bench.server import SERVER_OPTIONS, load_clean, machine, quiesce, url_of  # noqa: E402
from loader.devtools.dbserver import ThrowawayServer, fresh_database  # noqa: E402
from loader.devtools.samples import ExportSpec, write_export  # noqa: E402
from loader.mysql import sql  # noqa: E402
from loader.mysql.config import DbConfig  # noqa: E402
from loader.mysql.connection import connect  # noqa: E402
from loader.prepare.stagedir import StagingDir  # noqa: E402

FUNDSYNC = str(Path(sys.executable).parent / "fundsync")


def exports(
    folder: Path, files: int, rows: int, start: date = date(2025, 11, 1), seed: int = 1000
) -> list[Path]:
    """One daily export per day from ``start``, in YYYY-MM-DD folders (cached)."""
    paths = []
    for i in range(files):
        day = start + timedelta(days=i)
        path = folder / day.isoformat() / f"fund_data_{day.isoformat()}.csv"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_export(path, ExportSpec(rows=rows, seed=seed + i, start=day, days=1))
        paths.append(path)
    return paths


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=False, capture_output=True)
    return time.perf_counter() - started


# size: a script's measurements in the order they run (ceiling, one by one, the grid); to be split as bench/compare.py was
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--grid", nargs="+", default=["1x1", "2x1", "3x1", "1x2", "2x2"])
    parser.add_argument("--history-days", type=int, default=0, help="days already loaded")
    parser.add_argument(
        "--again", action="store_true", help="then each backfill again, --force --verify"
    )
    parser.add_argument("--db", help="an admin URL (default: a throwaway MariaDB)")
    args = parser.parse_args()

    folder = HERE / "data" / f"backfill_{args.files}x{args.rows}"
    paths = exports(folder, args.files, args.rows)
    total_rows = args.files * args.rows
    server = None if args.db else ThrowawayServer(options=SERVER_OPTIONS).start()
    base = args.db or server.url  # type: ignore[union-attr]
    admin = DbConfig.from_url(base)
    results: list[dict[str, Any]] = []

    def record(name: str, seconds: float, database: DbConfig, **extra: Any) -> None:
        conn = connect(database)
        cur: Any = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM fund_data")
        rows = int(cur.fetchone()[0])
        conn.close()
        row = {"run": name, "seconds": round(seconds, 2), "rows_in_table": rows, **extra}
        row["rows_per_second"] = round(total_rows / seconds)
        results.append(row)
        print(json.dumps(row), flush=True)

    def run_cell(config: DbConfig, workers: int, concurrency: int, again: bool = False) -> None:
        quiesce(server, 5)
        flags = ["--force", "--verify"] if again else []
        seconds = timed(
            [FUNDSYNC, "backfill", str(folder), "--workers", str(workers),
             "--db-concurrency", str(concurrency), "--progress", "none", *flags,
             "--db", url_of(base, "bench_backfill")]
        )  # fmt: skip
        record(
            f"fundsync backfill --workers {workers} --db-concurrency {concurrency}"
            + (" again, --force --verify" if again else ""),
            seconds,
            config,
            workers=workers,
            db_concurrency=concurrency,
        )

    history_dir = StagingDir()
    history_clean = []
    for day in history_exports(HERE / "data", args.history_days, 200_000, 20251209,
                               before=date(2025, 11, 1)):  # fmt: skip
        target = history_dir.path / f"{day.day}.tsv"
        write_clean(expected_rows(day.path), target)
        history_clean.append((target, day.key))

    @contextlib.contextmanager
    def target_database() -> Iterator[DbConfig]:
        """A fresh fund_data, holding the history (untimed) when there is one."""
        with fresh_database(admin, "bench_backfill") as config:
            for clean_file, key in history_clean:
                load_clean(config, clean_file, key)
            yield config

    try:
        described = machine(admin)
        with StagingDir() as clean_dir:
            print("computing the clean rows with the reference ...", flush=True)
            clean = []
            for i, path in enumerate(paths):
                target = clean_dir.path / f"{i:03d}.tsv"
                write_clean(expected_rows(path), target)
                clean.append(target)
            with target_database() as config:
                quiesce(server, 5)
                conn = connect(config, staging_dir=clean_dir.path)
                cur: Any = conn.cursor()
                started = time.perf_counter()
                for target in clean:
                    cur.execute(sql.SET_LINEAGE, (target.name,))
                    cur.execute(sql.load_data_into_target(), (str(target),))
                    conn.commit()
                ceiling = time.perf_counter() - started
                conn.close()
                record("ceiling: raw LOAD DATA of the clean rows, file after file", ceiling, config)

        with target_database() as config:
            quiesce(server, 5)
            seconds = sum(
                timed([FUNDSYNC, "load", str(p), "--db", url_of(base, "bench_backfill")])
                for p in paths
            )
            record("fundsync load, one file at a time (30 processes)", seconds, config)

        for cell in args.grid:
            workers, concurrency = (int(x) for x in cell.split("x"))
            with target_database() as config:
                run_cell(config, workers, concurrency)
                if args.again:
                    run_cell(config, workers, concurrency, again=True)

    finally:
        history_dir.close()
        if server is not None:
            server.stop()

    ceiling = results[0]["seconds"]
    one_by_one = results[1]["seconds"]
    for row in results:
        row["x_ceiling"] = round(row["seconds"] / ceiling, 2)
        row["speedup_over_one_by_one"] = round(one_by_one / row["seconds"], 2)
    name = ("backfill_history" if args.history_days else "backfill") + (
        "_again" if args.again else ""
    )
    record_ = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": described,
        "files": args.files,
        "rows_per_file": args.rows,
        "history_days": args.history_days,
        "results": results,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"{name}.json").write_text(json.dumps(record_, indent=2) + "\n")
    lines = [
        f"Backfill of {args.files} daily files x {args.rows:,} rows ({total_rows:,} rows), one "
        f"server ({described}; {record_['when']}). Wall time of the whole command."
        + (
            f" Every run starts from a fund_data already holding {args.history_days} days x "
            "200,000 rows."
            if args.history_days
            else ""
        ),
        "",
        "| run | seconds | rows/s | x ceiling | faster than one by one | rows in table |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in results:
        lines.append(
            f"| {row['run']} | {row['seconds']:.1f} | {row['rows_per_second']:,} | "
            f"{row['x_ceiling']:.2f} | {row['speedup_over_one_by_one']:.2f}x | {row['rows_in_table']:,} |"
        )
    table = "\n".join(lines) + "\n"
    (HERE / "results" / f"{name}.md").write_text(table)
    print("\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
