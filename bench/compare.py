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
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
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
from loader.prepare.stagedir import StagingDir  # noqa: E402

TOOLS = ["ceiling", "fundsync", "rowwise", "awswrangler"]
EXTRA_TOOLS = [
    "fundsync_regular",
    "fundsync_verify",
    "fundsync_replace",
    "ceiling_noticker",
    "fundsync_noticker",
]
"""Not run unless asked: fund-data-sync with the regular staging table (for Aurora), with
verified loads (the cost of the proof), and in replace-days mode; the ceiling and
fund-data-sync into a fund_data without the secondary index ix_fund_data_ticker (what
maintaining it costs a load)."""
WITHOUT_TICKER_INDEX = "_noticker"
"""A tool whose name ends so gets a fund_data without ix_fund_data_ticker."""
LABELS = {
    "fundsync": "fund-data-sync load",
    "fundsync_regular": "fund-data-sync load, regular staging table",
    "fundsync_verify": "fund-data-sync load --verify",
    "fundsync_replace": "fund-data-sync load --mode replace-days",
    "rowwise": "row-at-a-time (csv + Decimal, executemany ODKU)",
    "awswrangler": "awswrangler to_sql (pandas, upsert_duplicate_key)",
    "ceiling": "ceiling: raw LOAD DATA of clean rows",
    "ceiling_noticker": "ceiling, no ix_fund_data_ticker",
    "fundsync_noticker": "fund-data-sync load, no ix_fund_data_ticker",
}
SCENARIOS = {
    "fresh": ("a fresh day", "raw/sql_server/fund_data/2025-12-09/day.csv"),
    "reload": ("identical file, new name", "raw/sql_server/fund_data/2025-12-09/day-copy.csv"),
    "changed": ("1% of values changed", "raw/sql_server/fund_data/2025-12-09/day-fix.csv"),
    "middle": ("a corrected day inside the history", "raw/sql_server/fund_data/middle-fix.csv"),
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


def compare(
    config: DbConfig, expected: DbConfig, days: tuple[date, ...] | None = None
) -> dict[str, int]:
    """Rows missing, extra and differing (exact decimal, exact text) against the expected table
    (with ``days``: on those trade dates only)."""
    mine, theirs = f"{config.database}.fund_data", f"{expected.database}.fund_data"
    keys = "USING (d_trade, stock, ticker, col_code)"
    same = "f.value_numeric <=> e.value_numeric AND BINARY f.value_text <=> BINARY e.value_text"
    on_e = on_f = ""
    params: tuple[object, ...] = ()
    if days is not None:
        marks = ", ".join(["%s"] * len(days))
        on_e, on_f, params = f" AND e.d_trade IN ({marks})", f" AND f.d_trade IN ({marks})", days
    conn = connect(config)
    cur: Any = conn.cursor()
    out = {}
    for name, statement in {
        "missing": f"SELECT COUNT(*) FROM {theirs} e LEFT JOIN {mine} f {keys} WHERE f.d_trade IS NULL{on_e}",
        "extra": f"SELECT COUNT(*) FROM {mine} f LEFT JOIN {theirs} e {keys} WHERE e.d_trade IS NULL{on_f}",
        "differing": f"SELECT COUNT(*) FROM {mine} f JOIN {theirs} e {keys} WHERE NOT ({same}){on_f}",
    }.items():
        cur.execute(statement, params)
        out[name] = int(cur.fetchone()[0])
    conn.commit()
    conn.close()
    return out


STATUS_COUNTERS = (
    "Innodb_rows_inserted",
    "Innodb_rows_updated",
    "Innodb_rows_deleted",
    "Innodb_rows_read",
    "Innodb_os_log_written",
    "Innodb_buffer_pool_reads",
    "Innodb_pages_written",
    "Innodb_data_written",
)
"""The server's own account of a run (the profile of where a load's time goes): rows, redo
bytes, buffer pool misses (reads from disk) and pages written. Global counters: background
work (purge, flushing) that falls inside the run is counted too."""


def server_status(admin: DbConfig) -> dict[str, int]:
    conn = connect(admin)
    cur: Any = conn.cursor()
    marks = ", ".join(["%s"] * len(STATUS_COUNTERS))
    cur.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({marks})", STATUS_COUNTERS)
    values = {str(name): int(value) for name, value in cur.fetchall()}
    conn.close()
    return values


def status_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before.get(name, 0) for name in after}


def run_tool(tool: str, url: str, path: Path, key: str) -> dict[str, Any]:
    """The tool in a process of its own, which reports its own peak RSS (VmHWM)."""
    python = peers_python() if tool == "awswrangler" else Path(sys.executable)
    env = dict(os.environ)
    tool = tool.removesuffix(WITHOUT_TICKER_INDEX)
    if tool in ("fundsync_regular", "fundsync_verify"):
        setting = "staging_table=regular" if tool == "fundsync_regular" else "verify=1"
        tool, url = "fundsync", url + ("&" if "?" in url else "?") + setting
    elif tool == "fundsync_replace":
        tool, env["FUNDSYNC_MODE"] = "fundsync", "replace-days"
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
    done = subprocess.run(command, capture_output=True, text=True, env=env)
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


def settle(admin: DbConfig, limit: float = 60.0) -> None:
    """Write the dirty pages out and let purge catch up before a timed run.

    The untimed set-up before a run (history, a deleted and reloaded day) leaves
    hundreds of MB of dirty pages and undo to purge; flushed while the next tool runs, they
    made the same LOAD DATA take 4.4 s in one repetition and 9.1 s in the next. So every
    run starts with the buffer pool clean: ``innodb_max_dirty_pages_pct`` is set to 0
    until the dirty pages and the purge backlog are (nearly) gone, then put back. A server
    that refuses SET GLOBAL (no privilege) keeps only the idle wait of :func:`quiesce`.
    """
    conn = connect(admin)
    cur: Any = conn.cursor()
    try:
        cur.execute("SELECT @@GLOBAL.innodb_max_dirty_pages_pct")
        (saved,) = cur.fetchone()
        cur.execute("SET GLOBAL innodb_max_dirty_pages_pct = 0")
    except mysql.connector.Error:
        conn.close()
        return
    try:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            cur.execute(
                "SHOW GLOBAL STATUS WHERE Variable_name IN "
                "('Innodb_buffer_pool_pages_dirty', 'Innodb_history_list_length')"
            )
            status = {str(k): int(v) for k, v in cur.fetchall()}
            dirty = status.get("Innodb_buffer_pool_pages_dirty", 0)
            if dirty < 100 and status.get("Innodb_history_list_length", 0) < 1000:
                return
            time.sleep(0.5)
    finally:
        cur.execute(f"SET GLOBAL innodb_max_dirty_pages_pct = {float(saved)}")
        conn.close()


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


SERVER_OPTIONS = (
    "--innodb-buffer-pool-size=2G",
    "--innodb-log-file-size=1G",
    "--innodb-flush-log-at-trx-commit=1",
    "--innodb-doublewrite=0",
)
"""The throwaway server, made to resemble a production writer as far as one machine can
(docs/benchmarks.md says what still differs): a buffer pool that holds the working set, a
redo log that does not throttle a 1M-row transaction, durable commits, and no doublewrite
buffer (Aurora's storage has none)."""


def main() -> int:
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
    args = parser.parse_args()
    if args.replot:
        record = json.loads(args.replot.read_text())
        (args.replot.parent / "compare.md").write_text(markdown(record))
        chart(record, args.replot.parent / "compare.png")
        return 0
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
    record = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": described,
        "rows": rows,
        "history_days": len(history),
        "history_rows": args.history_rows,
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


@dataclass(frozen=True)
class HistoryDay:
    day: date
    path: Path
    key: str


def history_exports(
    folder: Path, days: int, rows: int, seed: int, before: date = date(2025, 12, 9)
) -> list[HistoryDay]:
    """The days before ``before`` (the benchmark's day), one export each (cached in
    bench/data)."""
    out = []
    for i in range(days):
        day = before - timedelta(days=days - i)
        path = folder / f"history_{rows}_{seed}_{day.isoformat()}.csv"
        if not path.exists():
            write_export(path, ExportSpec(rows=rows, seed=seed + 1 + i, start=day, days=1))
        out.append(HistoryDay(day, path, f"raw/sql_server/fund_data/{day}/fund_data_{day}.csv"))
    return out


@dataclass
class Input:
    path: Path
    clean: Path
    rows: int
    days: tuple[date, ...]
    """Every trade date of the file, in order (a 10M-row export spans 10)."""
    key: str
    truth: DbConfig | None


class Bench:
    """The runs of one benchmark: the inputs, their clean rows and expected tables, and one
    database per tool (holding the history, for the history runs)."""

    def __init__(
        self,
        admin: DbConfig,
        server: ThrowawayServer | None,
        args: argparse.Namespace,
        clean_dir: Path,
        databases: contextlib.ExitStack,
    ) -> None:
        self.admin, self.server, self.args = admin, server, args
        self.clean_dir, self.databases = clean_dir, databases
        self.inputs: dict[str, Input] = {}

    def add_input(self, name: str, path: Path, key: str = "", *, truth: bool = True) -> None:
        clean = self.clean_dir / f"{len(self.inputs):03d}.tsv"
        expected = expected_rows(path)
        rows = write_clean(expected, clean)
        days = tuple(sorted({date.fromisoformat(d) for d in {k[0] for k in expected}}))
        config = None
        if truth:
            config = self.databases.enter_context(
                fresh_database(self.admin, f"bench_expected_{name}")
            )
            load_clean(config, clean, "expected")
        self.inputs[name] = Input(path, clean, rows, days, key, config)

    # -- the production shape: a table that already holds the history -------------------

    def run_history(
        self, history: list[HistoryDay], scenarios: list[str], tools: list[str]
    ) -> list[dict[str, Any]]:
        """Every tool in a database of its own that holds the same history (loaded untimed).
        Before each run the scenario's trade date is put back as it must be (untimed): absent
        for a fresh day, the original rows for a correction or a reload."""
        configs = {}
        for tool in tools:
            config = self.databases.enter_context(
                fresh_database(self.admin, f"bench_history_{tool}")
            )
            if tool.endswith(WITHOUT_TICKER_INDEX):
                drop_ticker_index(config)
            print(f"history for {tool}: {len(history)} days ...", flush=True)
            for day in history:
                load_clean(config, self.inputs[day.key].clean, day.key)
            configs[tool] = config
        history_rows = sum(self.inputs[d.key].rows for d in history)
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for repetition in range(self.args.repeat):
            for scenario in scenarios:
                for tool in _rotated(tools, repetition):
                    outcome = self._history_run(configs[tool], tool, scenario, history_rows)
                    runs.setdefault((scenario, tool), []).append(outcome)
                    print(json.dumps({"scenario": scenario, "tool": tool,
                                      "seconds": round(outcome["seconds"], 3)}), flush=True)  # fmt: skip
        return [
            summarize("history", scenario, tool, runs[(scenario, tool)])
            for scenario in scenarios
            for tool in tools
        ]

    def _history_run(
        self, config: DbConfig, tool: str, scenario: str, history_rows: int
    ) -> dict[str, Any]:
        base, loaded, truth = SCENARIO_INPUTS[scenario]
        base_input = self.inputs[base]
        target = self.inputs[loaded]
        conn = connect(config)
        cur: Any = conn.cursor()
        # only the history stays: the benchmark's days go, and the scenario's days are rebuilt
        days = sorted({*base_input.days, *self.inputs["day"].days})
        cur.execute(
            f"DELETE FROM fund_data WHERE d_trade IN ({', '.join(['%s'] * len(days))})",
            tuple(days),
        )
        cur.execute("DELETE FROM fund_data_load_days")
        cur.execute("DELETE FROM fund_data_loads")
        conn.commit()
        conn.close()
        present = not tool.startswith("ceiling") and scenario != "fresh"
        if present:  # the day as it stood before the correction or the reload
            key = base_input.key or SCENARIOS["fresh"][1]
            load_clean(config, base_input.clean, key)
        settle(self.admin)
        quiesce(self.server, self.args.settle)
        path = target.clean if tool.startswith("ceiling") else target.path
        before = server_status(self.admin)
        outcome = run_tool(tool, self._url(config.database), path, SCENARIOS[scenario][1])
        outcome["server"] = status_delta(before, server_status(self.admin))
        outcome["rows"] = target.rows
        # the day is compared row by row; the rest of the table only counted (untouched)
        expected_total = history_rows + (0 if scenario == "middle" else target.rows)
        outcome["check"] = compare(config, self.inputs[truth].truth, days=base_input.days)  # type: ignore[arg-type]
        held = count_rows(config)
        outcome["check"]["extra"] += max(0, held - expected_total)
        outcome["check"]["missing"] += max(0, expected_total - held)
        return outcome

    # -- the secondary figures: an empty fund_data ---------------------------------------

    def run_empty(self, scenarios: list[str], tools: list[str]) -> list[dict[str, Any]]:
        """Each run in a fresh, empty fund_data (the reloads start from the day put there
        untimed); the tools alternate within each repetition."""
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for repetition in range(self.args.repeat):
            for scenario in scenarios:
                base, loaded, truth = SCENARIO_INPUTS[scenario]
                for tool in _rotated(tools, repetition):
                    database = f"bench_{tool}_{scenario}"
                    target = self.inputs[loaded]
                    with fresh_database(self.admin, database) as config:
                        if tool.endswith(WITHOUT_TICKER_INDEX):
                            drop_ticker_index(config)
                        if not tool.startswith("ceiling") and scenario != "fresh":
                            load_clean(config, self.inputs[base].clean, SCENARIOS["fresh"][1])
                        settle(self.admin)
                        quiesce(self.server, self.args.settle)
                        path = target.clean if tool.startswith("ceiling") else target.path
                        outcome = run_tool(tool, self._url(database), path, SCENARIOS[scenario][1])
                        outcome["rows"] = target.rows
                        outcome["check"] = compare(config, self.inputs[truth].truth)  # type: ignore[arg-type]
                    runs.setdefault((scenario, tool), []).append(outcome)
        return [
            summarize("empty", scenario, tool, runs[(scenario, tool)])
            for scenario in scenarios
            for tool in tools
        ]

    def _url(self, database: str) -> str:
        return _url(self.args.db or self.server.url, database)  # type: ignore[union-attr]


SCENARIO_INPUTS = {
    # scenario: (what the day holds before, the file loaded, the expected rows after)
    "fresh": ("day", "day", "day"),
    "reload": ("day", "day", "day"),
    "changed": ("day", "changed", "changed"),
    "middle": ("middle", "middle_changed", "middle_changed"),
}


def _rotated(tools: list[str], repetition: int) -> list[str]:
    """The tools in a different order each repetition, so that none always runs first."""
    shift = repetition % len(tools)
    return tools[shift:] + tools[:shift]


def drop_ticker_index(config: DbConfig) -> None:
    conn = connect(config)
    conn.cursor().execute("ALTER TABLE fund_data DROP INDEX ix_fund_data_ticker")
    conn.close()


def count_rows(config: DbConfig) -> int:
    conn = connect(config)
    cur: Any = conn.cursor()
    cur.execute("SELECT COUNT(*) FROM fund_data")
    (n,) = cur.fetchone()
    conn.close()
    return int(n)


def summarize(shape: str, scenario: str, tool: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One tool in one scenario over the repetitions: the median (what the ratios use) and
    the best time; one wrong run makes the tool wrong."""
    title = SCENARIOS[scenario][0]
    seconds = sorted(r["seconds"] for r in runs)
    best = min(runs, key=lambda r: r["seconds"])
    check = {name: max(r["check"][name] for r in runs) for name in best["check"]}
    return {
        "shape": shape,
        "scenario": scenario,
        "scenario_title": title,
        "tool": tool,
        "label": LABELS[tool],
        "rows": best["rows"],
        "seconds": round(statistics.median(seconds), 3),
        "best_seconds": round(seconds[0], 3),
        "all_seconds": [round(r["seconds"], 3) for r in runs],
        "methods": [r.get("method") for r in runs],
        "process_seconds": round(statistics.median(r["process_seconds"] for r in runs), 3),
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
    """x ceiling (median time over the ceiling's median, in the same shape and scenario; a
    tool without ix_fund_data_ticker over the ceiling without it, when that ran) and
    fund-data-sync's speed-up over each tool."""
    by = {(r.get("shape", "empty"), r["scenario"], r["tool"]): r for r in results}
    for r in results:
        shape = r.get("shape", "empty")
        ceiling = by.get((shape, r["scenario"], "ceiling"))
        if r["tool"].endswith(WITHOUT_TICKER_INDEX):
            ceiling = by.get((shape, r["scenario"], "ceiling_noticker"), ceiling)
        ours = by.get((shape, r["scenario"], "fundsync"))
        r["x_ceiling"] = round(r["seconds"] / ceiling["seconds"], 2) if ceiling else None
        r["fundsync_speedup"] = round(r["seconds"] / ours["seconds"], 2) if ours else None


def markdown(record: dict[str, Any]) -> str:
    """The history table first (the production shape), then the empty-table one."""
    repeat = record.get("repeat", 1)
    lines = [
        f"Side by side: a day of {record['rows']:,} rows, one server ({record['machine']}; "
        f"{record['when']}). Median of {repeat} (best in brackets); the tools alternate "
        "within each repetition. Time is from opening the file to the commit; peak RSS is "
        "the tool's own process. x ceiling: median time over the median of a raw LOAD DATA "
        "of the same clean, key-ordered rows into the same table shape. fund-data-sync "
        "faster by: this tool's time over fund-data-sync's.",
    ]
    shapes = list(dict.fromkeys(r.get("shape", "empty") for r in record["results"]))
    for shape in shapes:
        if shape == "history":
            title = (
                f"Into history: fund_data already holds {record.get('history_days', 0)} days x "
                f"{record.get('history_rows', 0):,} rows"
            )
        else:
            title = "Into an empty fund_data (secondary: production is never empty)"
        lines += [
            "",
            f"**{title}**",
            "",
            "| scenario | tool | rows | rows/s | seconds (best) | peak RSS MB | x ceiling | "
            "fund-data-sync faster by | correct |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in record["results"]:
            if r.get("shape", "empty") != shape:
                continue
            if r["exact"]:
                correct = "exact"
            else:
                parts = [f"{r[k]:,} {k}" for k in ("differing", "missing", "extra") if r[k]]
                correct = "**WRONG**: " + ", ".join(parts)
                if r["tool"] == "awswrangler":
                    correct += " (values through float64)"
            speedup = (
                "" if r["tool"] in ("fundsync", "ceiling") else f"{r['fundsync_speedup']:.1f}x"
            )
            best = r.get("best_seconds", r["seconds"])
            lines.append(
                f"| {r['scenario_title']} | {r['label']} | {r.get('rows', record['rows']):,} | "
                f"{r['rows_per_second']:,} | {r['seconds']:.2f} ({best:.2f}) | "
                f"{r['peak_rss_mb']:,.0f} | {r['x_ceiling']:.2f} | {speedup} | {correct} |"
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

    shapes = [r.get("shape", "empty") for r in record["results"]]
    primary = "history" if "history" in shapes else "empty"
    results = [r for r in record["results"] if r.get("shape", "empty") == primary]
    scenarios = list(dict.fromkeys(r["scenario_title"] for r in results))
    tools = list(dict.fromkeys(r["tool"] for r in results))
    colours = {
        "ceiling": "#9e9e9e",
        "fundsync": "#1b7f3b",
        "fundsync_regular": "#6fbf73",
        "fundsync_verify": "#0b4f24",
        "fundsync_replace": "#4c9a6a",
        "fundsync_noticker": "#8fd19e",
        "ceiling_noticker": "#cfcfcf",
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
    where = (
        f"a fund_data holding {record['history_days']} days of history"
        if primary == "history"
        else "an empty fund_data"
    )
    fig.suptitle(
        f"Loading a day of {record['rows']:,} rows into {where}, one server (median of "
        f"{record.get('repeat', 1)})",
        fontsize=11,
    )
    fig.text(0.01, 0.005, record["machine"], fontsize=6.5, color="#555")
    fig.tight_layout(rect=(0, 0.1, 1, 0.97))
    fig.savefig(target, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
