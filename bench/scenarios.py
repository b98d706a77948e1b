"""The side-by-side benchmark's tools and scenarios: who loads (fund-data-sync, the peers,
the raw ceiling), what (a fresh day, a reload, a correction, a day inside the history), in
which database, checked exact against the reference after every run (bench/compare.py
is its command line)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.reference import expected_rows, write_clean
from bench.server import (
    count_rows,
    drop_ticker_index,
    load_clean,
    quiesce,
    server_status,
    settle,
    status_delta,
    url_of,
)
from loader.devtools.dbserver import ThrowawayServer, fresh_database
from loader.devtools.samples import ExportSpec, write_export
from loader.mysql.config import DbConfig
from loader.mysql.connection import connect

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


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
        return url_of(self.args.db or self.server.url, database)  # type: ignore[union-attr]


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
