"""fund-data-sync side by side with what a user would otherwise use, and with the ceiling.

    python bench/compare.py [--rows 1000000] [--big] [--db URL] [--tools ...] [--scenarios ...]

One run, one server (a throwaway MariaDB unless --db), each tool in a fresh
fund_data and in a process of its own:

  fundsync     fund-data-sync `load`
  rowwise      the original design: csv + Decimal per row, executemany of 1,000-row
               INSERT ... ON DUPLICATE KEY UPDATE batches
  awswrangler  pandas.read_csv + awswrangler.mysql.to_sql(mode="upsert_duplicate_key",
               chunksize=1000)
  ceiling      raw LOAD DATA LOCAL INFILE of the already-clean rows into an empty fund_data

Scenarios: a fresh day; the identical file reloaded under a new name; the file with 1%
of its values changed (the reloads start from the day already in fund_data, put there
untimed). After each run the table is compared with the expected rows computed by an
independent reference (bench/reference.py): exact decimals, exact text. A tool that
loses values is marked so. Writes bench/results/compare.{json,md,png}. Nothing is
asserted: the figures are for people.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mysql.connector

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import loader  # noqa: E402,F401  (allocator settings before Polars)
from bench.reference import expected_rows, write_clean  # noqa: E402
from loader.devtools.dbserver import ThrowawayServer, fresh_database  # noqa: E402
from loader.devtools.samples import ExportSpec, changed_copy, write_export  # noqa: E402
from loader.mysql import sql  # noqa: E402
from loader.mysql.config import DbConfig  # noqa: E402
from loader.mysql.connection import connect  # noqa: E402
from loader.prepare.staging import StagingDir  # noqa: E402

TOOLS = ["ceiling", "fundsync", "rowwise", "awswrangler"]
LABELS = {
    "fundsync": "fund-data-sync load",
    "rowwise": "row-at-a-time (csv + Decimal, executemany ODKU)",
    "awswrangler": "awswrangler to_sql (pandas, upsert_duplicate_key)",
    "ceiling": "ceiling: raw LOAD DATA of clean rows",
}
SCENARIOS = {
    "fresh": ("a fresh day", "raw/sql_server/fund_data/2025-12-09/day.csv"),
    "reload": ("identical file, new name", "raw/sql_server/fund_data/2025-12-09/day-copy.csv"),
    "changed": ("1% of values changed", "raw/sql_server/fund_data/2025-12-09/day-fix.csv"),
}
PEERS_PYTHON = HERE / "peers" / ".venv" / "bin" / "python"


def peers_python() -> Path:
    """The peers' own environment (bench/peers), made with the project's uv on first use."""
    if not PEERS_PYTHON.exists():
        uv = ROOT / ".tools" / "bin" / "uv"
        subprocess.run(
            [str(uv), "sync", "--frozen", "--quiet", "--project", str(HERE / "peers")],
            check=True,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_PYTHON": sys.executable},
        )
    return PEERS_PYTHON


def load_clean(config: DbConfig, clean: Path, key: str) -> None:
    """Put clean rows into fund_data with LOAD DATA (untimed set-up and the expected tables)."""
    conn = connect(config, staging_dir=clean.parent)
    cur: Any = conn.cursor()
    cur.execute(sql.SET_LINEAGE, (key,))
    cur.execute(sql.load_data_into_target(), (str(clean),))
    conn.commit()
    conn.close()


def compare(config: DbConfig, expected: DbConfig) -> dict[str, int]:
    """Rows missing, extra and differing (exact decimal, exact text) against the expected table."""
    mine, theirs = f"{config.database}.fund_data", f"{expected.database}.fund_data"
    keys = "USING (d_trade, stock, ticker, col_code)"
    same = "f.value_numeric <=> e.value_numeric AND BINARY f.value_text <=> BINARY e.value_text"
    conn = connect(config)
    cur: Any = conn.cursor()
    out = {}
    for name, statement in {
        "missing": f"SELECT COUNT(*) FROM {theirs} e LEFT JOIN {mine} f {keys} WHERE f.d_trade IS NULL",
        "extra": f"SELECT COUNT(*) FROM {mine} f LEFT JOIN {theirs} e {keys} WHERE e.d_trade IS NULL",
        "differing": f"SELECT COUNT(*) FROM {mine} f JOIN {theirs} e {keys} WHERE NOT ({same})",
    }.items():
        cur.execute(statement)
        out[name] = int(cur.fetchone()[0])
    conn.commit()
    conn.close()
    return out


def run_tool(tool: str, url: str, path: Path, key: str) -> dict[str, Any]:
    """The tool in a process of its own, which reports its own peak RSS (VmHWM)."""
    python = peers_python() if tool == "awswrangler" else Path(sys.executable)
    command = [
        str(python),
        str(HERE / "tools.py"),
        tool,
        "--db",
        url,
        "--file",
        str(path),
        "--key",
        key,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{tool} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


def quiesce(server: ThrowawayServer | None, pause: float, limit: float = 60.0) -> None:
    """Wait until the server is idle (InnoDB flushing and purging after the last run).

    Every tool starts on a quiet server, so none pays for the one before. With
    a server given by --db its process cannot be watched: a fixed pause.
    """
    if server is None or server.process is None:
        time.sleep(pause)
        return
    stat = Path(f"/proc/{server.process.pid}/stat")
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu()
        time.sleep(0.5)
        if cpu() - before < 0.02:  # under 4% of a core
            return


def machine(admin: DbConfig) -> str:
    conn = connect(admin)
    cur: Any = conn.cursor()
    cur.execute("SELECT VERSION()")
    version = cur.fetchone()[0]
    settings = server_settings(cur)
    conn.close()
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}, "
        f"MariaDB {version} ({settings})"
    )


SERVER_SETTINGS = (
    "innodb_buffer_pool_size",
    "innodb_log_file_size",
    "innodb_flush_log_at_trx_commit",
    "innodb_doublewrite",
    "innodb_change_buffering",
)
"""The server settings a load's speed depends on most (the redo log above all: a small one
throttles loads into a table that already holds data), printed with every result."""


def server_settings(cur: Any) -> str:
    parts = []
    for name in SERVER_SETTINGS:
        try:
            cur.execute(f"SELECT @@{name}")
            value = cur.fetchone()[0]
        except (
            mysql.connector.Error
        ):  # a variable this server lacks (MySQL 8.0.30+ renamed the log)
            continue
        if isinstance(value, int) and value >= 2**20:
            value = f"{value // 2**20}M"
        parts.append(f"{name}={value}")
    return ", ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big", action="store_true", help="10,000,000 rows")
    parser.add_argument("--seed", type=int, default=20251209)
    parser.add_argument(
        "--db", help="an admin URL of the server to use (default: a throwaway MariaDB)"
    )
    parser.add_argument("--tools", nargs="+", default=TOOLS, choices=TOOLS)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where the results go")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per tool and scenario; the best counts (1)"
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
    args = parser.parse_args()
    if args.replot:
        record = json.loads(args.replot.read_text())
        (args.replot.parent / "compare.md").write_text(markdown(record))
        chart(record, args.replot.parent / "compare.png")
        return 0
    rows = 10_000_000 if args.big else args.rows
    tools = [t for t in TOOLS if t in args.tools]

    data = HERE / "data"
    data.mkdir(exist_ok=True)
    export = data / f"compare_{rows}_{args.seed}.csv"
    if not export.exists():
        print(f"generating {export.name} ...", flush=True)
        write_export(export, ExportSpec(rows=rows, seed=args.seed))
    changed = changed_copy(export, data / f"compare_{rows}_{args.seed}_changed.csv")
    inputs = {"fresh": export, "reload": export, "changed": changed}

    server = None if args.db else ThrowawayServer().start()
    admin = DbConfig.from_url(args.db or server.url)  # type: ignore[union-attr]
    results: list[dict[str, Any]] = []
    try:
        described = machine(admin)
        with StagingDir() as clean_dir, contextlib.ExitStack() as databases:
            print("computing the expected rows with the reference ...", flush=True)
            clean = {}
            expected = {}
            for name, source in (("day", export), ("changed", changed)):
                clean[name] = clean_dir.path / f"{name}.tsv"
                write_clean(expected_rows(source), clean[name])
                expected[name] = databases.enter_context(
                    fresh_database(admin, f"bench_expected_{name}")
                )
                load_clean(expected[name], clean[name], "expected")
            for scenario in args.scenarios:
                truth = expected["changed" if scenario == "changed" else "day"]
                for tool in tools:
                    source = clean["changed" if scenario == "changed" else "day"]
                    if tool != "ceiling":
                        source = inputs[scenario]
                    row = measure(tool, scenario, source, truth, clean["day"], admin, server, args)
                    row["rows"] = rows
                    row["rows_per_second"] = round(rows / row["seconds"])
                    results.append(row)
                    print(json.dumps(row), flush=True)
    finally:
        if server is not None:
            server.stop()

    add_ratios(results)
    record = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": described,
        "rows": rows,
        "seed": args.seed,
        "repeat": args.repeat,
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compare.json").write_text(json.dumps(record, indent=2) + "\n")
    table = markdown(record)
    (args.out / "compare.md").write_text(table)
    chart(record, args.out / "compare.png")
    print("\n" + table)
    return 0


def measure(
    tool: str,
    scenario: str,
    path: Path,
    truth: DbConfig,
    day_clean: Path,
    admin: DbConfig,
    server: ThrowawayServer | None,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """``--repeat`` runs of one tool in one scenario, each in a fresh fund_data: the best time.

    Every run is checked against the expected rows; one wrong run makes the tool wrong.
    """
    title, key = SCENARIOS[scenario]
    database = f"bench_{tool}_{scenario}"
    runs = []
    for _ in range(args.repeat):
        with fresh_database(admin, database) as config:
            if tool != "ceiling" and scenario != "fresh":
                load_clean(config, day_clean, SCENARIOS["fresh"][1])  # the day, already loaded
            quiesce(server, args.settle)
            outcome = run_tool(tool, _url(args.db or server.url, database), path, key)  # type: ignore[union-attr]
            outcome["check"] = compare(config, truth)
        runs.append(outcome)
    best = min(runs, key=lambda r: r["seconds"])
    check = {name: max(r["check"][name] for r in runs) for name in best["check"]}
    return {
        "scenario": scenario,
        "scenario_title": title,
        "tool": tool,
        "label": LABELS[tool],
        "seconds": round(best["seconds"], 3),
        "all_seconds": [round(r["seconds"], 3) for r in runs],
        "process_seconds": round(best["process_seconds"], 3),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "exact": not any(check.values()),
        **check,
        "detail": {
            k: v
            for k, v in best.items()
            if k not in ("seconds", "process_seconds", "peak_rss_mb", "rows", "check")
        },
    }


def _url(base: str, database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{database}"))


def add_ratios(results: list[dict[str, Any]]) -> None:
    """x ceiling (time over the ceiling's time) and fund-data-sync's speed-up over each tool."""
    by = {(r["scenario"], r["tool"]): r for r in results}
    for r in results:
        ceiling = by.get((r["scenario"], "ceiling"))
        ours = by.get((r["scenario"], "fundsync"))
        r["x_ceiling"] = round(r["seconds"] / ceiling["seconds"], 2) if ceiling else None
        r["fundsync_speedup"] = round(r["seconds"] / ours["seconds"], 2) if ours else None


def markdown(record: dict[str, Any]) -> str:
    lines = [
        f"Side by side: {record['rows']:,} rows, one run, one server ({record['machine']}; "
        f"{record['when']}; best of {record.get('repeat', 1)} per tool and scenario, each in a "
        "fresh fund_data). Time is from opening the file to the commit; peak RSS is the "
        "tool's own process. x ceiling: time over the raw LOAD DATA of the clean rows into an "
        "empty table. fund-data-sync faster by: this tool's time over fund-data-sync's.",
        "",
        "| scenario | tool | rows/s | seconds | peak RSS MB | x ceiling | fund-data-sync faster by | correct |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in record["results"]:
        if r["exact"]:
            correct = "exact"
        else:
            parts = [f"{r[k]:,} {k}" for k in ("differing", "missing", "extra") if r[k]]
            correct = "**WRONG**: " + ", ".join(parts)
            if r["tool"] == "awswrangler":
                correct += " (values through float64)"
        speedup = "" if r["tool"] in ("fundsync", "ceiling") else f"{r['fundsync_speedup']:.1f}x"
        lines.append(
            f"| {r['scenario_title']} | {r['label']} | {r['rows_per_second']:,} | "
            f"{r['seconds']:.2f} | {r['peak_rss_mb']:,.0f} | "
            f"{r['x_ceiling']:.2f} | {speedup} | {correct} |"
        )
    return "\n".join(lines) + "\n"


PANELS = (
    ("rows_per_second", "rows per second (higher is better)", "{:,.0f}"),
    ("x_ceiling", "time as a multiple of the ceiling (lower is better)", "{:.2f}x"),
    ("peak_rss_mb", "peak memory, MB (lower is better)", "{:,.0f}"),
)


def chart(record: dict[str, Any], target: Path) -> None:
    """Three panels side by side, one bar per tool and scenario in each: rows per second,
    the time as a multiple of the ceiling, and peak memory. Each axis fits its own data
    (with room for the labels); a wrong load is hatched, and the legend says so."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    results = record["results"]
    scenarios = list(dict.fromkeys(r["scenario_title"] for r in results))
    tools = list(dict.fromkeys(r["tool"] for r in results))
    colours = {
        "ceiling": "#9e9e9e",
        "fundsync": "#1b7f3b",
        "rowwise": "#c77c02",
        "awswrangler": "#2a5ea8",
    }
    rows_of = {(r["scenario_title"], r["tool"]): r for r in results}
    height = 0.8 / len(tools)
    fig, axes = plt.subplots(
        1,
        len(PANELS),
        sharey=True,
        figsize=(15, 1.6 + 0.42 * len(scenarios) * len(tools)),
        gridspec_kw={"width_ratios": [1.25, 1, 1]},
    )
    for ax, (field, title, form) in zip(axes, PANELS, strict=True):
        top = max(r[field] for r in results)
        for i, scenario in enumerate(scenarios):
            for j, tool in enumerate(tools):
                row = rows_of.get((scenario, tool))
                if row is None:
                    continue
                y = i + j * height
                ax.barh(
                    y,
                    row[field],
                    height=height * 0.9,
                    color=colours.get(tool, "#555"),
                    hatch="//" if not row["exact"] else None,
                    edgecolor="white" if row["exact"] else "#b00020",
                )
                note = " " + form.format(row[field])
                if field == "rows_per_second" and not row["exact"]:
                    wrong = row["differing"] + row["missing"] + row["extra"]
                    note += f"  WRONG: {wrong:,} rows"
                ax.text(row[field], y, note, va="center", fontsize=7.5)
        room = 1.45 if field == "rows_per_second" else 1.3
        ax.set_xlim(0, top * room)
        ax.set_title(title, fontsize=9.5)
        ax.xaxis.set_major_formatter(
            matplotlib.ticker.FuncFormatter(
                lambda x, _, f=field: f"{x:.0f}x" if f == "x_ceiling" else f"{x:,.0f}"
            )
        )
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
        ax.set_axisbelow(True)
    axes[0].set_yticks([i + 0.4 - height / 2 for i in range(len(scenarios))])
    axes[0].set_yticklabels(scenarios)
    axes[0].invert_yaxis()
    handles = [Patch(facecolor=colours.get(t, "#555"), edgecolor="white", label=LABELS[t])
               for t in tools]  # fmt: skip
    handles.append(
        Patch(facecolor="white", edgecolor="#b00020", hatch="//",
              label="hatched, red edge: the table then held wrong values")
    )  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"Loading {record['rows']:,} rows into fund_data, one server", fontsize=11)
    fig.text(0.01, 0.005, record["machine"], fontsize=6.5, color="#555")
    fig.tight_layout(rect=(0, 0.1, 1, 0.97))
    fig.savefig(target, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
