"""The table layout, by measurement: one table, or RANGE partitions by trade date.

    python bench/layout.py [--size 20] [--repeat 3]

On the history benchmark's cached table of ``--size`` million rows (bench/history.py builds
it; the buffer pool 1/4 of the table), a copy partitioned by day (``PARTITION BY RANGE
COLUMNS(d_trade)``, one partition a trade date and one for the future) is made beside it.
Then, alternating, each ``--repeat`` times, on both:

  fresh day     LOAD DATA LOCAL of a new day's clean rows (1M) into the table (for the
                partitioned one, into a partition of its own made first)
  side+exchange the same rows into an empty side table, in one stream and in two parallel
                streams (half the keys each), then ALTER TABLE ... EXCHANGE PARTITION
                WITHOUT VALIDATION (partitioned only)
  restate       the day's rows again, every value changed, LOAD DATA ... REPLACE
  ticker, a year  one ticker's rows of the whole history, by the secondary index
  retention     the oldest day removed: DELETE, or ALTER TABLE ... DROP PARTITION

Writes bench/results/layout/layout.{json,md}. Nothing is asserted: the figures are for the
layout decision in docs/mysql.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench.history_setup import DAY, make_inputs, open_history  # noqa: E402
from bench.server import machine, quiesce, settle  # noqa: E402
from loader.mysql import sql  # noqa: E402
from loader.mysql.config import DbConfig  # noqa: E402
from loader.mysql.connection import connect  # noqa: E402

PART = "fund_data_part"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20, help="M rows of history")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20251209)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "layout")
    args = parser.parse_args()
    inputs = make_inputs((HERE / "data").resolve(), 1_000_000, None, args.seed)
    record: dict[str, Any] = {"size_m": args.size, "runs": {}}
    with open_history((HERE / "data").resolve(), args.size, 1_000_000, args.seed, 0.25) as h:
        server, admin = h
        config = admin.with_database("fundsync")
        record["machine"] = machine(admin)
        started = time.perf_counter()
        partitioned_copy(config)
        record["partition_copy_seconds"] = time.perf_counter() - started
        restated = inputs.variants["restated"].clean
        for _ in range(args.repeat):
            for name, run in experiments(config, inputs.day.clean, restated).items():
                settle(admin)
                quiesce(server, 3.0)
                seconds = run()
                record["runs"].setdefault(name, []).append(seconds)
                print(json.dumps({"run": name, "seconds": round(seconds, 3)}), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "layout.json").write_text(json.dumps(record, indent=1, default=str))
    (args.out / "layout.md").write_text(markdown(record))
    print(markdown(record))
    return 0


def partitioned_copy(config: DbConfig) -> None:
    """fund_data_part: fund_data's rows in one partition per trade date."""
    conn = connect(config)
    cur: Any = conn.cursor()
    cur.execute("SELECT DISTINCT d_trade FROM fund_data ORDER BY 1")
    days = [d for (d,) in cur.fetchall()]
    parts = ", ".join(
        f"PARTITION p{d:%Y%m%d} VALUES LESS THAN ('{d + timedelta(days=1)}')" for d in days
    )
    cur.execute(f"DROP TABLE IF EXISTS {PART}")
    cur.execute(f"CREATE TABLE {PART} LIKE fund_data")
    cur.execute(
        f"ALTER TABLE {PART} PARTITION BY RANGE COLUMNS(d_trade) "
        f"({parts}, PARTITION pfuture VALUES LESS THAN (MAXVALUE))"
    )
    cur.execute(f"INSERT INTO {PART} SELECT * FROM fund_data")
    conn.commit()
    conn.close()


def _load(config: DbConfig, table: str, path: Path, replace: bool = False) -> None:
    conn = connect(config, staging_dir=path.parent)
    cur: Any = conn.cursor()
    cur.execute(sql.SET_LINEAGE, (DAY.key,))
    statement = sql.load_data_into_target().replace(sql.TARGET_TABLE, table, 1)
    if replace:
        statement = statement.replace("INTO TABLE", "REPLACE INTO TABLE", 1)
    cur.execute(statement, (str(path),))
    conn.commit()
    conn.close()


def _execute(config: DbConfig, *statements: str) -> None:
    conn = connect(config)
    try:
        cur: Any = conn.cursor()
        for statement in statements:
            cur.execute(statement)
        conn.commit()
    finally:
        conn.close()


def _timed(run: Any, before: Any = None, after: Any = None) -> Any:
    def timed() -> float:
        if before:
            before()
        started = time.perf_counter()
        run()
        seconds = time.perf_counter() - started
        if after:
            after()
        return seconds

    return timed


def experiments(config: DbConfig, day: Path, restated: Path) -> dict[str, Any]:
    name = f"p{DAY.date:%Y%m%d}"
    upper = DAY.date + timedelta(days=1)
    new_part = (
        f"ALTER TABLE {PART} REORGANIZE PARTITION pfuture INTO (PARTITION {name} VALUES LESS "
        f"THAN ('{upper}'), PARTITION pfuture VALUES LESS THAN (MAXVALUE))"
    )
    drop_day = f"DELETE FROM fund_data WHERE d_trade = '{DAY.date}'"

    def clear_part() -> None:
        with contextlib.suppress(Exception):
            _execute(config, f"ALTER TABLE {PART} DROP PARTITION {name}")
        _execute(config, new_part)

    def side(streams: int) -> None:
        _execute(config, "DROP TABLE IF EXISTS fund_data_side",
                 f"CREATE TABLE fund_data_side LIKE {PART}",
                 "ALTER TABLE fund_data_side REMOVE PARTITIONING")  # fmt: skip
        halves = _split(day, streams)
        threads = [
            threading.Thread(target=_load, args=(config, "fund_data_side", h)) for h in halves
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        exchange = f"ALTER TABLE {PART} EXCHANGE PARTITION {name} WITH TABLE fund_data_side"
        # MySQL 8 and MariaDB 11.4+ can skip checking every row's date; MariaDB 10.11 checks
        _execute(config, exchange + ("" if _mariadb_before_11_4(config) else " WITHOUT VALIDATION"))

    oldest = _oldest(config)
    return {
        "fresh day: one table": _timed(
            lambda: _load(config, "fund_data", day), before=lambda: _execute(config, drop_day)
        ),
        "fresh day: partitioned": _timed(lambda: _load(config, PART, day), before=clear_part),
        "side table, 1 stream + exchange": _timed(lambda: side(1), before=clear_part),
        "side table, 2 streams + exchange": _timed(lambda: side(2), before=clear_part),
        "restate a day: one table": _timed(lambda: _load(config, "fund_data", restated, True)),
        "restate a day: partitioned": _timed(lambda: _load(config, PART, restated, True)),
        "ticker, a year: one table": _timed(lambda: _ticker(config, "fund_data")),
        "ticker, a year: partitioned": _timed(lambda: _ticker(config, PART)),
        "retention, a day: DELETE": _timed(
            lambda: _execute(config, f"DELETE FROM fund_data WHERE d_trade = '{oldest}'"),
            after=lambda: _execute(
                config, f"INSERT INTO fund_data SELECT * FROM {PART} WHERE d_trade = '{oldest}'"
            ),
        ),
        "retention, a day: DROP PARTITION": _timed(
            lambda: _execute(config, f"ALTER TABLE {PART} DROP PARTITION p{oldest:%Y%m%d}"),
            after=lambda: _restore_oldest(config, oldest),
        ),
    }


def _mariadb_before_11_4(config: DbConfig) -> bool:
    conn = connect(config)
    cur: Any = conn.cursor()
    cur.execute("SELECT VERSION()")
    (version,) = cur.fetchone()
    conn.close()
    major, minor = (int(p) for p in str(version).split(".")[:2])
    return "mariadb" in str(version).lower() and (major, minor) < (11, 4)


def _oldest(config: DbConfig) -> date:
    conn = connect(config)
    cur: Any = conn.cursor()
    cur.execute("SELECT MIN(d_trade) FROM fund_data")
    (oldest,) = cur.fetchone()
    conn.close()
    return oldest  # type: ignore[no-any-return]


def _restore_oldest(config: DbConfig, oldest: date) -> None:
    """Put the dropped day back: its partition, then its rows."""
    upper = oldest + timedelta(days=1)
    conn = connect(config)
    cur: Any = conn.cursor()
    cur.execute(
        "SELECT PARTITION_NAME FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = "
        "DATABASE() AND TABLE_NAME = %s ORDER BY PARTITION_ORDINAL_POSITION LIMIT 1",
        (PART,),
    )
    (first,) = cur.fetchone()
    cur.execute(
        f"ALTER TABLE {PART} REORGANIZE PARTITION {first} INTO (PARTITION p{oldest:%Y%m%d} "
        f"VALUES LESS THAN ('{upper}'), PARTITION {first} VALUES LESS THAN "
        f"('{upper + timedelta(days=1)}'))"
    )
    cur.execute(f"INSERT INTO {PART} SELECT * FROM fund_data WHERE d_trade = %s", (oldest,))
    conn.commit()
    conn.close()


def _ticker(config: DbConfig, table: str) -> None:
    conn = connect(config)
    cur: Any = conn.cursor()
    cur.execute(
        f"SELECT * FROM {table} WHERE ticker = %s AND d_trade >= %s",
        ("F00007-A", DAY.date - timedelta(days=366)),
    )
    cur.fetchall()
    conn.close()


def _split(path: Path, parts: int) -> list[Path]:
    """The clean rows in ``parts`` files of consecutive keys (the file is in key order)."""
    if parts == 1:
        return [path]
    lines = path.read_bytes().splitlines(keepends=True)
    size = -(-len(lines) // parts)
    out = []
    for i in range(parts):
        part = path.with_name(f"{path.stem}.part{i}.tsv")
        part.write_bytes(b"".join(lines[i * size : (i + 1) * size]))
        out.append(part)
    return out


def markdown(record: dict[str, Any]) -> str:
    lines = [
        f"Layout, {record['size_m']}M rows of history; {record.get('machine', '')}",
        "",
        f"Copying the table into daily partitions took {record['partition_copy_seconds']:.0f} s.",
        "",
        "| operation | seconds, median (best) |",
        "|---|---:|",
    ]
    for name, runs in record["runs"].items():
        lines.append(f"| {name} | {statistics.median(runs):.2f} ({min(runs):.2f}) |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
