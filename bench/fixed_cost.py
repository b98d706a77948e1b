"""The fixed cost of a ``fundsync load`` process: what a one-row file costs, whole process.

    python bench/fixed_cost.py [--repeat 9] [--db URL]

A throwaway MariaDB (unless --db). Timed, each in a fresh process, alternating, median and
best of --repeat: ``python -c pass`` (the interpreter), ``fundsync --version`` (the CLI
without Polars), ``python -c "import polars"``, the mariadb client's ``SELECT 1`` when it is
installed (a connection's floor), and ``fundsync load`` of a one-row file under a new name
each time (imports, option parsing, connection, the table check, the ledger, a direct
insert, the commit). The stages of the last load's report and ``-X importtime``'s top
imports say where the time goes. Writes bench/results/fixed_cost.{md,json}. Nothing asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench.lambda_invocations import fresh  # noqa: E402
from bench.server import machine  # noqa: E402
from loader.devtools.dbserver import ThrowawayServer  # noqa: E402
from loader.mysql.config import DbConfig  # noqa: E402

BIN = Path(sys.executable).parent


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"{command[0]} failed: {run.stderr.strip()[-300:]}")
    return took


def top_imports(limit: int = 6) -> list[tuple[str, float]]:
    """The slowest imports of what a load imports (two levels deep), cumulative seconds."""
    code = "import loader.cli, loader.load, loader.prepare.prepare, loader.mysql.merge"
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True
    )
    cumulative: dict[str, float] = {}
    for line in run.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()[1:]  # after the one space that follows the bar
        depth = (len(name) - len(name.lstrip(" "))) // 2
        if depth <= 1:  # the top-level imports and what they import directly
            cumulative[name.strip()] = int(parts[1]) / 1e6
    return sorted(cumulative.items(), key=lambda kv: -kv[1])[:limit]


# size: a script's measurements in the order they run; to be split as bench/compare.py was
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--db", help="an admin URL of the server to use")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    server = None if args.db else ThrowawayServer().start()
    try:
        base = args.db or server.url  # type: ignore[union-attr]
        url = fresh(base, "fundsync_fixed_cost")
        work = Path(tempfile.mkdtemp(prefix="fundsync-fixed-"))
        fundsync = str(BIN / "fundsync")
        client = shutil.which("mariadb") or shutil.which("mysql")
        config = DbConfig.from_url(url)
        commands: dict[str, Any] = {
            "python -c pass": lambda i: [sys.executable, "-c", "pass"],
            "fundsync --version": lambda i: [fundsync, "--version"],
            "python -c 'import polars'": lambda i: [sys.executable, "-c", "import polars"],
        }
        if client and config.unix_socket:
            commands["mariadb -e 'SELECT 1'"] = lambda i: [
                client, "--no-defaults", "-S", config.unix_socket, "-u", config.user,
                "-e", "SELECT 1",
            ]  # fmt: skip
        last_report: dict[str, Any] = {}

        def load(i: int) -> list[str]:
            path = work / f"one_{i}.csv"
            path.write_text(
                f"d_trade,stock,ticker,col_code,value\n2025-12-{1 + i % 28:02d},F,F-A,NAV,{i}\n"
            )
            return [fundsync, "load", "--json", str(path), "--db", url]

        commands["fundsync load (1 row)"] = load
        times: dict[str, list[float]] = {name: [] for name in commands}
        for i in range(args.repeat):
            for name, command in commands.items():
                times[name].append(timed(command(i)))
        run = subprocess.run(load(args.repeat), capture_output=True, text=True, check=True)
        last_report = json.loads(run.stdout.splitlines()[0])
        results = [
            {"command": name, "median_s": statistics.median(t), "best_s": min(t), "runs": len(t)}
            for name, t in times.items()
        ]
        record: dict[str, Any] = {
            "machine": machine(DbConfig.from_url(base)),
            "results": results,
            "load_stage_seconds": last_report.get("stage_seconds"),
            "top_imports_s": top_imports(),
        }
        shutil.rmtree(work, ignore_errors=True)
    finally:
        if server is not None:
            server.stop()
    lines = [
        "# Fixed cost of a process (bench/fixed_cost.py)",
        "",
        f"Machine: {record['machine']}",
        "",
        "| command | median s | best s |",
        "|---|---:|---:|",
        *(f"| {r['command']} | {r['median_s']:.3f} | {r['best_s']:.3f} |" for r in results),
        "",
        f"Stages of the last load: {record['load_stage_seconds']}",
        "",
        "Slowest imports (cumulative s): "
        + ", ".join(f"{name} {s:.3f}" for name, s in record["top_imports_s"]),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fixed_cost.md").write_text(text)
    (args.out / "fixed_cost.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
