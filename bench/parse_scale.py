"""Parse-stage throughput and peak memory at scale, each measurement in a fresh process.

    python bench/parse_scale.py --rows 10000000

Writes bench/results/parse_scale.{json,md}. Compares fund-data-sync's parse
stage with the naive baseline it replaces (``polars.read_csv`` + ``unique``
on the composite key, strings throughout) on the same generated export.
Nothing here is asserted: the figures are for people and for the closing note.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from loader.devtools.samples import ExportSpec, write_export  # noqa: E402

FUNDSYNC = """
import json, resource, sys, time
from loader.parse import parse_file
t = time.perf_counter()
r = parse_file(sys.argv[1])
dt = time.perf_counter() - t
print(json.dumps({"rows_read": r.rows_read, "rows": r.row_count, "seconds": dt,
                  "stage_seconds": r.seconds, "duplicates": r.duplicates_in_file,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

BASELINE = """
import json, resource, sys, time
import polars as pl
t = time.perf_counter()
df = pl.read_csv(sys.argv[1], infer_schema=False)
df = df.unique(subset=["d_trade", "stock", "ticker", "col_code"], keep="last", maintain_order=True)
dt = time.perf_counter() - t
print(json.dumps({"rows": df.height, "seconds": dt,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(script: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool; the best is kept")
    parser.add_argument("--data", type=Path, default=HERE / "data")
    args = parser.parse_args()

    args.data.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    record: dict = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine, "runs": []}
    lines = [
        f"Parse stage, best of {args.repeat} (each run a fresh process), {machine}:",
        "",
        "| rows | file MB | tool | rows/s | seconds | peak RSS (MB) | exact decimals |",
        "|---:|---:|---|---:|---:|---:|---|",
    ]
    for rows in args.rows:
        export = args.data / f"export_{rows}.csv"
        if not export.exists():
            print(f"generating {export} ...", flush=True)
            write_export(export, ExportSpec(rows=rows))
        size_mb = export.stat().st_size / 2**20
        for tool, script in (("fund-data-sync parse", FUNDSYNC), ("read_csv + unique", BASELINE)):
            runs = [run(script, export) for _ in range(args.repeat)]
            best = min(runs, key=lambda r: r["seconds"])
            best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
            best["rows_per_second"] = rows / best["seconds"]
            record["runs"].append(
                {"rows": rows, "file_mb": round(size_mb, 1), "tool": tool, **best}
            )
            exact = "yes" if tool.startswith("fund") else "no (strings only, nothing checked)"
            lines.append(
                f"| {rows:,} | {size_mb:,.0f} | {tool} | {best['rows_per_second']:,.0f} | "
                f"{best['seconds']:.2f} | {best['peak_rss_mb']:,.0f} | {exact} |"
            )
            print(lines[-1], flush=True)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "parse_scale.json").write_text(json.dumps(record, indent=2) + "\n")
    (HERE / "results" / "parse_scale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
