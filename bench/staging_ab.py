"""A/B of the staging text: streamed through a named pipe (the loader's way) or written
to a file first (the earlier way), on one throwaway server, alternating, each load in a
fresh process, so the machine's drift between runs falls on both alike.

    .venv/bin/python bench/staging_ab.py [--rows 1000000] [--runs 6]

Prints each load's stage seconds, then the best and the median per way. Not a test:
nothing is asserted; docs/benchmarks.md quotes the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def one_load(way: str, url: str, path: str) -> None:
    """In a fresh process: load ``path`` once, the ``way`` given; print the report as JSON."""
    import loader.prepare.staging as stage
    from loader.load import load_source
    from loader.mysql.config import DbConfig
    from loader.mysql.merge_options import MergeOptions
    from loader.mysql.session import Session
    from loader.sources import LocalFile

    stage.StagedRows.use_pipe = way == "pipe"  # "file": written whole, then read
    started = time.perf_counter()
    with Session(DbConfig.from_url(url)) as session:
        merging = MergeOptions.of(session.config, force=True)
        report = load_source(LocalFile(path), session, None, merging)
    seconds = time.perf_counter() - started
    stages = report.to_dict()["stage_seconds"]
    print(
        json.dumps(
            {
                "way": way,
                "status": report.status,
                "method": report.method,
                "seconds": round(seconds, 3),
                "stages": stages,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=6, help="loads per way (6)")
    parser.add_argument("--one", nargs=3, metavar=("WAY", "URL", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_load(*args.one)
        return

    from loader.devtools.dbserver import ThrowawayServer, fresh_database
    from loader.devtools.samples import ExportSpec, write_export
    from loader.mysql.connection import connect

    data = HERE / "data"
    data.mkdir(exist_ok=True)
    path = data / f"staging_ab_{args.rows}.csv"
    if not path.exists():
        write_export(path, ExportSpec(rows=args.rows))
    seconds: dict[str, list[float]] = {"pipe": [], "file": []}
    with ThrowawayServer() as server, fresh_database(server.url, "bench_ab") as config:
        url = server.url_for("bench_ab")
        conn = connect(config)
        for run in range(args.runs):
            for way in ("pipe", "file") if run % 2 == 0 else ("file", "pipe"):
                cur = conn.cursor()
                cur.execute("TRUNCATE fund_data")
                cur.execute("DELETE FROM fund_data_loads")
                conn.commit()
                cur.close()
                time.sleep(2)  # let the server's background flushing settle
                done = subprocess.run(
                    [sys.executable, __file__, "--one", way, url, str(path)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                result = json.loads(done.stdout.strip().splitlines()[-1])
                print(json.dumps(result), flush=True)
                seconds[way].append(result["seconds"])
        conn.close()
    for way, values in seconds.items():
        print(
            f"{way}: best {min(values):.3f} s, median {statistics.median(values):.3f} s "
            f"over {len(values)} fresh-day loads of {args.rows:,} rows"
        )


if __name__ == "__main__":
    main()
