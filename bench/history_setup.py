"""The history benchmark's inputs and its cached tables (bench/history.py).

The history of each size is built once, by fund-data-sync itself (`fundsync load` of
generated daily exports, so the ledger and the day counts are what production's are), and
cached as a MariaDB data directory in ``bench/data/history-<N>M-<rows>-<seed>/``: about
0.3 GB a million rows (50M: about 15 GB of disk, and 2.5 GB of generated exports). A later
run copies it (a minute at 50M) instead of loading it again (about 5 minutes at 50M).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.process import cli, timed_process
from bench.reference import expected_rows, write_clean
from bench.server import SERVER_OPTIONS, load_clean
from loader.devtools.dbserver import ThrowawayServer, fresh_database
from loader.devtools.samples import ExportSpec, changed_copy, write_export
from loader.mysql.config import DbConfig
from loader.mysql.connection import connect
from loader.mysql.migrate import migrate
from loader.sources import key_hash, local_key


@dataclass(frozen=True)
class Day:
    date: date = date(2025, 12, 9)
    key: str = "raw/sql_server/fund_data/2025-12-09/fund_data_2025-12-09.csv"


DAY = Day()


@dataclass
class File:
    """One file a scenario loads: the export, its clean rows, the expected table."""

    path: Path
    clean: Path
    rows: int
    truth: DbConfig | None = None


@dataclass
class Inputs:
    day: File
    variants: dict[str, File]
    days: tuple[date, ...]
    ticker: str = "F00007-A"
    keys: list[str] = field(default_factory=list)
    """The ledger keys of every file (the scenarios' loads are cleared by them)."""

    def file_of(self, scenario: str) -> File:
        return self.day if scenario == "fresh" else self.variants[scenario]


def make_inputs(data: Path, rows: int, days: int | None, seed: int) -> Inputs:
    """The day's export and its variants (cached in ``data``), with their clean rows."""
    data.mkdir(exist_ok=True)
    spread = f"_{days}d" if days else ""
    stem = f"history_day_{rows}_{seed}{spread}"
    path = data / f"{stem}.csv"
    if not path.exists():
        print(f"generating {path.name} ...", flush=True)
        write_export(path, ExportSpec(rows=rows, seed=seed, start=DAY.date, days=days))
    copy = data / f"{stem}_copy.csv"
    if not copy.exists():
        shutil.copyfile(path, copy)
    variants = {
        "reload": copy,
        "few": changed_copy(path, data / f"{stem}_few.csv", share=0.2, fund_share=0.02),
        "scattered": changed_copy(path, data / f"{stem}_scattered.csv", share=0.01),
        "restated": changed_copy(path, data / f"{stem}_restated.csv", share=1.0),
    }
    files = {name: _file(p) for name, p in {"fresh": path, **variants}.items()}
    expected = expected_rows(path)
    trade_dates = tuple(sorted({date.fromisoformat(k[0]) for k in expected}))
    keys = [local_key(str(f.path)) for f in files.values()]
    return Inputs(files.pop("fresh"), files, trade_dates, keys=keys)


def _file(path: Path) -> File:
    clean = path.with_suffix(".clean.tsv")
    if not clean.exists() or clean.stat().st_mtime < path.stat().st_mtime:
        rows = write_clean(expected_rows(path), clean)
    else:
        with open(clean, "rb") as lines:
            rows = sum(1 for _ in lines)
    return File(path, clean, rows)


@contextlib.contextmanager
def truths(admin: DbConfig, inputs: Inputs) -> Iterator[None]:
    """The expected table of every file, each in a database of its own (for the checks)."""
    with contextlib.ExitStack() as stack:
        for name, file in {"fresh": inputs.day, **inputs.variants}.items():
            file.truth = stack.enter_context(fresh_database(admin, f"bench_expected_{name}"))
            load_clean(file.truth, file.clean, "expected")
        yield


@contextlib.contextmanager
def open_history(
    data: Path, size_m: int, day_rows: int, seed: int, pool_share: float
) -> Iterator[tuple[ThrowawayServer, DbConfig]]:
    """A throwaway server holding ``size_m`` million rows of history in ``fundsync``, its
    buffer pool set to ``pool_share`` of the table."""
    cache = data / f"history-{size_m}M-{day_rows}-{seed}"
    if (cache / "fundsync").is_dir():
        server = ThrowawayServer(options=SERVER_OPTIONS, datadir_from=cache).start()
    else:
        server = ThrowawayServer(options=SERVER_OPTIONS).start()
        _build(server, data, size_m, day_rows, seed)
        print(f"caching the history in {cache} ...", flush=True)
        server.save_datadir(cache)
    try:
        admin = DbConfig.from_url(server.url_for("mysql"))
        conn = connect(admin.with_database("fundsync"))
        migrate(conn)  # a history cached by an older loader gets this one's tables
        conn.close()
        data_bytes, index_bytes = table_size(admin.with_database("fundsync"))
        pool = max(128 << 20, int(pool_share * (data_bytes + index_bytes)))
        pool = -(-pool // (128 << 20)) * (128 << 20)
        conn = connect(admin)
        conn.cursor().execute(f"SET GLOBAL innodb_buffer_pool_size = {pool}")
        conn.close()
        yield server, admin
    finally:
        server.stop()


def _build(server: ThrowawayServer, data: Path, size_m: int, day_rows: int, seed: int) -> None:
    config = DbConfig.from_url(server.url_for("fundsync"))
    conn = connect(config)
    migrate(conn)
    conn.close()
    days = max(1, size_m * 1_000_000 // day_rows)
    for i in range(days):
        day = DAY.date - timedelta(days=days - i)
        path = data / f"history_{day_rows}_{seed}_{day.isoformat()}.csv"
        if not path.exists():
            spec = ExportSpec(
                rows=day_rows, seed=seed + day.toordinal() % 100_000, start=day, days=1
            )
            write_export(path, spec)
        run = timed_process(cli("load", "--db", server.url_for("fundsync"), str(path)), {})
        if run["returncode"] != 0:
            raise RuntimeError(f"history load of {path.name} failed: {run['stderr']}")
        print(f"history {i + 1}/{days}: {day} in {run['seconds']:.1f} s", flush=True)


def table_size(config: DbConfig) -> tuple[int, int]:
    """fund_data's data and index bytes (InnoDB's estimate, refreshed first)."""
    conn = connect(config)
    cur: Any = conn.cursor()
    cur.execute("ANALYZE TABLE fund_data")
    cur.fetchall()
    cur.execute(
        "SELECT data_length, index_length FROM information_schema.TABLES "
        "WHERE table_schema = DATABASE() AND table_name = 'fund_data'"
    )
    data_bytes, index_bytes = cur.fetchone()
    conn.close()
    return int(data_bytes), int(index_bytes)


def put_day_back(config: DbConfig, inputs: Inputs, present: bool) -> None:
    """The benchmark's trade dates as a scenario starts them (untimed): absent, or holding the
    day's original rows (loaded plainly); the ledger forgets the scenarios' loads."""
    days = inputs.days
    marks = ", ".join(["%s"] * len(days))
    hashes = [key_hash(k) for k in inputs.keys]
    conn = connect(config)
    cur: Any = conn.cursor()
    cur.execute(f"DELETE FROM fund_data WHERE d_trade IN ({marks})", days)
    cur.execute(
        f"DELETE FROM fund_data_loads WHERE source_key_hash IN ({', '.join(['%s'] * len(hashes))})",
        hashes,
    )
    cur.execute(f"DELETE FROM fund_data_load_days WHERE d_trade IN ({marks})", days)
    cur.execute(f"DELETE FROM fund_data_changes WHERE d_trade IN ({marks})", days)
    cur.execute(f"DELETE FROM fund_data_days WHERE d_trade IN ({marks})", days)
    conn.commit()
    conn.close()
    if present:
        load_clean(config, inputs.day.clean, local_key(str(inputs.day.path)))
        conn = connect(config)
        cur = conn.cursor()
        cur.execute(
            "INSERT INTO fund_data_days (d_trade, row_count, updated_at) "
            f"SELECT d_trade, COUNT(*), NOW(6) FROM fund_data WHERE d_trade IN ({marks}) "
            "GROUP BY d_trade",
            days,
        )
        conn.commit()
        conn.close()
