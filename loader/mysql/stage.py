"""Rows into the database: LOAD DATA of the staging text, straight or into the staging table.

The statements a merge runs against its open transaction, each returning
what the server said. ``LOAD DATA LOCAL`` turns data errors into warnings,
so a staged row count that differs from the rows written, or any warning,
fails the load (spec §2.1).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import mysql.connector
import polars as pl
from mysql.connector.abstracts import MySQLConnectionAbstract

from loader.errors import StagingError
from loader.mysql import sql
from loader.mysql.connection import LOCAL_INFILE_REFUSED
from loader.mysql.counts import counts_from_server
from loader.report import MergeCounts

INSERT_BATCH = 1000
OVERHEAD_BYTES = 40
"""Per row in an INSERT: quotes, commas, parentheses."""


def any_day_exists(cur: Any, days: tuple[object, ...]) -> bool:
    """Whether fund_data holds any row on these trade dates."""
    cur.execute(sql.any_key_exists(len(days)), list(days))
    return cur.fetchone() is not None


def load_direct(cur: Any, path: Path, written: int) -> MergeCounts | None:
    """Straight into fund_data; None when any row was not inserted (a key appeared)."""
    try:
        cur.execute(sql.load_data_into_target(), (str(path),))
    except mysql.connector.Error as error:
        if error.errno in LOCAL_INFILE_REFUSED:
            return None
        raise
    if cur.rowcount != written or cur.warning_count:
        return None
    return MergeCounts(written, 0, 0)


def stage_rows(
    cur: Any,
    path: Path,
    written: int,
    rows: Callable[[], pl.DataFrame],
    max_packet: int,
    stage: str = sql.STAGE_TABLE,
) -> str:
    """The staging text into the staging table; returns how (``load_data_local`` or
    ``insert_batches`` when LOCAL INFILE is refused)."""
    method = "load_data_local"
    try:
        cur.execute(sql.load_data(stage), (str(path),))
        staged, warnings = cur.rowcount, cur.warning_count
    except mysql.connector.Error as error:
        if error.errno not in LOCAL_INFILE_REFUSED:
            raise
        method = "insert_batches"
        staged, warnings = insert_batches(cur, rows(), max_packet, stage), 0
    if staged != written or warnings:
        raise StagingError(f"staging loaded {staged} of {written} rows with {warnings} warning(s)")
    return method


def insert_batches(
    cur: Any, rows: pl.DataFrame, max_packet: int, stage: str = sql.STAGE_TABLE
) -> int:
    """The fallback when LOCAL INFILE is refused: multi-row INSERTs of up to 1,000 rows, and of
    at most half the server's ``max_allowed_packet`` (values escaped may double in size)."""
    day = pl.col("d_trade")
    frame = rows.select(
        day.dt.to_string("%Y-%m-%d") if rows.schema["d_trade"] == pl.Date else day,
        *(pl.col(c).cast(pl.String) for c in ("stock", "ticker", "col_code")),
        pl.col("value_numeric").cast(pl.String),
        pl.col("value_text").cast(pl.String),
    )
    sizes = frame.select(
        pl.sum_horizontal(pl.all().str.len_bytes().fill_null(4)) + OVERHEAD_BYTES
    ).to_series()
    total = 0
    for start, stop in _batches(sizes.to_list(), budget=max_packet // 4):
        batch = frame.slice(start, stop - start)
        values = [v for row in batch.iter_rows() for v in row]
        cur.execute(sql.insert_stage_rows(batch.height, stage), values)
        total += cur.rowcount
    return total


def _batches(sizes: list[int], budget: int) -> list[tuple[int, int]]:
    """Cut rows into runs of at most ``INSERT_BATCH`` rows and ``budget`` bytes (a row larger
    than the budget goes alone)."""
    runs, start, used = [], 0, 0
    for index, size in enumerate(sizes):
        if index > start and (index - start >= INSERT_BATCH or used + size > budget):
            runs.append((start, index))
            start, used = index, 0
        used += size
    if start < len(sizes):
        runs.append((start, len(sizes)))
    return runs


def drop_unchanged(cur: Any, stage: str = sql.STAGE_TABLE) -> int:
    """Delete the staged rows fund_data already holds with the same values; returns how many.

    The multi-table DELETE reads fund_data with shared locks, held to the
    commit, so a row judged unchanged cannot change under this load: the
    outcome is still that of some serial order of concurrent loads. It
    costs about half of what the merge's duplicate-key path costs for the
    same row (docs/mysql.md).
    """
    cur.execute(sql.delete_unchanged_from_stage(stage))
    return int(cur.rowcount)


def merge_staged(
    conn: MySQLConnectionAbstract, staged: int, mariadb: bool, stage: str = sql.STAGE_TABLE
) -> MergeCounts:
    """The one-statement merge of the staging table into fund_data, with exact counts."""
    result = conn.cmd_query(sql.merge(stage))
    assert isinstance(result, dict)
    info = str(result.get("info_msg") or "")
    return counts_from_server(staged, int(result["affected_rows"]), info, mariadb)
