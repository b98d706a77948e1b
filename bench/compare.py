"""fund-data-sync side by side with what a user would otherwise use, and with the ceiling.

    python bench/compare.py [--rows 1000000] [--big] [--history-days 25] [--repeat 3]
                            [--db URL] [--tools ...] [--scenarios ...] [--no-empty]

One server (a throwaway MariaDB unless --db, set up as SERVER_OPTIONS says), each tool in
a process of its own:

  fundsync     fund-data-sync `load`
  rowwise      the original design: csv + Decimal per row, executemany of 1,000-row
               INSERT ... ON DUPLICATE KEY UPDATE batches
  awswrangler  pandas.read_csv + awswrangler.mysql.to_sql(mode="upsert_duplicate_key",
               chunksize=1000)
  ceiling      raw LOAD DATA LOCAL INFILE of the already-clean, key-ordered rows into the
               same table shape

and, when named in --tools: fundsync_regular (the regular staging table), fundsync_verify
(--verify), fundsync_replace (--mode replace-days), ceiling_noticker and fundsync_noticker
(into a fund_data without ix_fund_data_ticker).

The production shape first: every tool has a fund_data of its own that already holds
--history-days days of --history-rows rows (25 x 200k = 5M; --big: 50 days and a
10M-row day), loaded untimed. Scenarios: a fresh day; the identical file under a new
name; the day with 1% of its values changed (the reloads start from the day already in
fund_data, put back untimed before each run); a corrected day inside the history (1% of
a history day's values changed). Then, as a secondary table, the same into an empty
fund_data (--no-empty skips it). The tools alternate within each of --repeat
repetitions; the median and the best are reported. After each run the trade date is
compared row by row with the expected rows computed by an independent reference
(bench/reference.py), exact decimals and exact text, and the rest of the table counted.
Writes bench/results/compare.{json,md,png}. Nothing is asserted: the figures are for
people.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import loader  # noqa: E402,F401  (allocator settings before Polars)
from bench.compare_report import add_ratios, chart, markdown  # noqa: E402
from bench.scenarios import EXTRA_TOOLS, SCENARIOS, TOOLS, Bench, history_exports  # noqa: E402
from bench.server import SERVER_OPTIONS, machine, recorded_run  # noqa: E402
from loader.devtools.dbserver import ThrowawayServer  # noqa: E402
from loader.devtools.samples import ExportSpec, changed_copy, write_export  # noqa: E402
from loader.mysql.config import DbConfig  # noqa: E402
from loader.prepare.stagedir import StagingDir  # noqa: E402


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the day loaded")
    parser.add_argument(
        "--big", action="store_true", help="a 10,000,000-row day on 50 days of history"
    )
    parser.add_argument(
        "--days",
        type=int,
        help="trade dates the day's rows spread over (default: 50,000 funds a date, so --big "
        "has 10)",
    )
    parser.add_argument("--seed", type=int, default=20251209)
    parser.add_argument(
        "--db", help="an admin URL of the server to use (default: a throwaway MariaDB)"
    )
    parser.add_argument("--tools", nargs="+", default=TOOLS, choices=TOOLS + EXTRA_TOOLS)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument(
        "--history-days",
        type=int,
        help="days already in fund_data before each run (25; --big: 50; 0: only the "
        "empty-table runs)",
    )
    parser.add_argument(
        "--history-rows", type=int, default=200_000, help="rows per day of history (200,000)"
    )
    parser.add_argument(
        "--no-empty", action="store_true", help="skip the secondary runs into an empty table"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where the results go")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="repetitions; the tools alternate within each; best and median reported (3)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="with --db, seconds to let the server settle before each run (default 5)",
    )
    parser.add_argument(
        "--replot", type=Path, metavar="JSON", help="only redraw the table and chart of a run"
    )
    return parser.parse_args()


def main() -> int:
    args = arguments()
    if args.replot:
        record = recorded_run(args.replot, "compare.py")
        (args.replot.parent / "compare.md").write_text(markdown(record))
        chart(record, args.replot.parent / "compare.png")
        return 0
    record = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compare.json").write_text(json.dumps(record, indent=2) + "\n")
    table = markdown(record)
    (args.out / "compare.md").write_text(table)
    chart(record, args.out / "compare.png")
    print("\n" + table)
    return 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every tool in every scenario, as ``args`` ask; the record of the run."""
    rows = 10_000_000 if args.big else args.rows
    history_days = args.history_days if args.history_days is not None else 50 if args.big else 25
    tools = [t for t in TOOLS + EXTRA_TOOLS if t in args.tools]

    data = HERE / "data"
    data.mkdir(exist_ok=True)
    spread = f"_{args.days}d" if args.days else ""
    export = data / f"compare_{rows}_{args.seed}{spread}.csv"
    if not export.exists():
        print(f"generating {export.name} ...", flush=True)
        write_export(export, ExportSpec(rows=rows, seed=args.seed, days=args.days))
    changed = changed_copy(export, data / f"{export.stem}_changed.csv")
    history = history_exports(data, history_days, args.history_rows, args.seed)

    server = None if args.db else ThrowawayServer(options=SERVER_OPTIONS).start()
    admin = DbConfig.from_url(args.db or server.url)  # type: ignore[union-attr]
    results: list[dict[str, Any]] = []
    try:
        described = machine(admin)
        with StagingDir() as clean_dir, contextlib.ExitStack() as databases:
            print("computing the expected rows with the reference ...", flush=True)
            bench = Bench(admin, server, args, clean_dir.path, databases)
            bench.add_input("day", export, SCENARIOS["fresh"][1])
            bench.add_input("changed", changed)
            if history:
                middle = history[len(history) // 2]
                bench.add_input("middle", middle.path, middle.key)
                fixed = data / f"{middle.path.stem}_changed.csv"
                bench.add_input("middle_changed", changed_copy(middle.path, fixed))
                for day in history:
                    bench.add_input(day.key, day.path, day.key, truth=False)
                results += bench.run_history(history, args.scenarios, tools)
            if not args.no_empty:
                empty = [s for s in args.scenarios if s != "middle"]
                results += bench.run_empty(empty, tools)
    finally:
        if server is not None:
            server.stop()
    for row in results:
        row["rows_per_second"] = round(row["rows"] / row["seconds"])
    add_ratios(results)
    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": described,
        "rows": rows,
        "history_days": len(history),
        "history_rows": args.history_rows,
        "seed": args.seed,
        "repeat": args.repeat,
        "results": results,
    }


if __name__ == "__main__":
    sys.exit(main())
