"""One stream or several: what a fresh day's rows cost, loaded by more than one connection.

    python bench/streams.py [--size 5] [--repeat 3]

On the history benchmark's cached table of ``--size`` million rows (bench/history.py builds
it; the buffer pool 1/4 of the table), a new day's clean rows (1M), each way ``--repeat``
times, alternating, the day removed and the server quiet before each:

  one stream           one LOAD DATA LOCAL into fund_data, one transaction (the ceiling)
  2 streams, 2 commits the rows split by key, two connections loading at once, each its own
                       transaction: faster, but a reader sees one half before the other
  2 streams to staging, then one INSERT ... SELECT
                       the halves into a staging table at once (no reader sees it), then one
                       transaction copies them into fund_data in key order: one commit, the
                       rows paid for twice (the two parts are timed apart)

Writes bench/results/streams/streams.{json,md}, the server settings with them. Nothing is
asserted: the figures are for the decision in docs/mysql.md ("One stream a file").
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench.history_setup import DAY, make_inputs, open_history  # noqa: E402
from bench.layout import _execute, _load, _split  # noqa: E402
from bench.server import machine, quiesce, settle  # noqa: E402
from loader.mysql import sql  # noqa: E402
from loader.mysql.config import DbConfig  # noqa: E402

STAGE = "fund_data_streams_stage"
COLUMNS = "d_trade, stock, ticker, col_code, value_numeric, value_text, s3_source_key, synced_at"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=5, help="M rows of history")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20251209)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "streams")
    args = parser.parse_args()
    data = (HERE / "data").resolve()
    inputs = make_inputs(data, 1_000_000, None, args.seed)
    halves = _split(inputs.day.clean, 2)
    record: dict[str, Any] = {"size_m": args.size, "runs": {}}
    with open_history(data, args.size, 1_000_000, args.seed, 0.25) as (server, admin):
        config = admin.with_database("fundsync")
        record["machine"] = machine(admin)
        ways = {
            "one stream": lambda: {"load": _streams(config, "fund_data", [inputs.day.clean])},
            "2 streams, 2 commits": lambda: {"load": _streams(config, "fund_data", halves)},
            "2 streams to staging, then one INSERT ... SELECT": lambda: _staged(config, halves),
        }
        for _ in range(args.repeat):
            for name, way in ways.items():
                _execute(config, f"DELETE FROM fund_data WHERE d_trade = '{DAY.date}'",
                         f"DROP TABLE IF EXISTS {STAGE}")  # fmt: skip
                settle(admin)
                quiesce(server, 3.0)
                parts = way()
                record["runs"].setdefault(name, []).append(parts)
                print(json.dumps({"way": name, **{k: round(v, 3) for k, v in parts.items()}}))
        _execute(config, f"DELETE FROM fund_data WHERE d_trade = '{DAY.date}'")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "streams.json").write_text(json.dumps(record, indent=1, default=str))
    (args.out / "streams.md").write_text(markdown(record))
    print(markdown(record))
    return 0


def _streams(config: DbConfig, table: str, paths: list[Path]) -> float:
    """Seconds for ``paths`` loaded into ``table`` at once, a connection (and commit) each."""
    threads = [threading.Thread(target=_load, args=(config, table, p)) for p in paths]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def _staged(config: DbConfig, halves: list[Path]) -> dict[str, float]:
    _execute(config, f"CREATE TABLE {STAGE} LIKE fund_data",
             f"ALTER TABLE {STAGE} DROP INDEX ix_fund_data_ticker")  # fmt: skip
    stage = _streams(config, STAGE, halves)
    started = time.perf_counter()
    _execute(
        config,
        f"INSERT INTO {sql.TARGET_TABLE} ({COLUMNS}) SELECT {COLUMNS} FROM {STAGE} "
        "ORDER BY d_trade, stock, ticker, col_code",
    )
    copy = time.perf_counter() - started
    _execute(config, f"DROP TABLE {STAGE}")
    return {"load": stage + copy, "staging": stage, "copy": copy}


def markdown(record: dict[str, Any]) -> str:
    runs = record["runs"]
    one = statistics.median(r["load"] for r in runs["one stream"])
    lines = [
        f"A fresh day (1M rows) into {record['size_m']}M rows of history; "
        f"{record.get('machine', '')}",
        "",
        "| way | seconds, median (best) | x one stream | parts, median |",
        "|---|---:|---:|---|",
    ]
    for name, parts in runs.items():
        total = [p["load"] for p in parts]
        pieces = ", ".join(
            f"{k} {statistics.median(p[k] for p in parts):.2f} s" for k in parts[0] if k != "load"
        )
        lines.append(
            f"| {name} | {statistics.median(total):.2f} ({min(total):.2f}) | "
            f"{statistics.median(total) / one:.2f} | {pieces} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
