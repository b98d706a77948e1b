"""The benchmarks' server: its settings (printed with every result), waiting for it to be
quiet before a run, its counters, and the untimed set-up of a table (clean rows loaded
raw, the ticker index dropped, rows counted)."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import mysql.connector

from loader.devtools.dbserver import ThrowawayServer
from loader.mysql import sql
from loader.mysql.config import DbConfig
from loader.mysql.connection import connect

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def load_clean(config: DbConfig, clean: Path, key: str) -> None:
    """Put clean rows into fund_data with LOAD DATA (untimed set-up and the expected tables)."""
    conn = connect(config, staging_dir=clean.parent)
    cur: Any = conn.cursor()
    cur.execute(sql.SET_LINEAGE, (key,))
    cur.execute(sql.load_data_into_target(), (str(clean),))
    conn.commit()
    conn.close()


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


def url_of(base: str, database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{database}"))


def recorded_run(path: Path, script: str) -> dict[str, Any]:
    """A run's JSON record (``--replot``); a path that is not one ends the script with one line."""
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError) as error:
        raise SystemExit(f"{script}: --replot {path}: not a run's record ({error})") from None
