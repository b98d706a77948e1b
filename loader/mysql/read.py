"""Read API: what is in ``fund_data``, as Polars frames with exact decimals."""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import mysql.connector
import polars as pl
from mysql.connector.abstracts import MySQLConnectionAbstract

from loader.mysql import sql
from loader.mysql.config import DbConfig
from loader.mysql.connection import connect
from loader.parse.numbers import DECIMAL
from loader.sources import key_hash

SCHEMA: dict[str, Any] = {
    "d_trade": pl.Date,
    "stock": pl.String,
    "ticker": pl.String,
    "col_code": pl.String,
    "value_numeric": DECIMAL,
    "value_text": pl.String,
    "s3_source_key": pl.String,
    "synced_at": pl.Datetime("us"),
}


COLUMNS = list(SCHEMA)


def rows_by_ticker(
    conn: MySQLConnectionAbstract,
    ticker: str | None,
    start: date | None = None,
    end: date | None = None,
    col_code: str | None = None,
) -> Generator[tuple[Any, ...], None, None]:
    """Every row of one ticker (or, with None, of every ticker), optionally between two trade
    dates (inclusive) and of one col_code, in key order, as the database returns them
    (decimals exact): read as they come, never all held."""
    given = (ticker, start, end, col_code)
    params: tuple[object, ...] = tuple(v for v in given if v is not None)
    statement = sql.select_rows(*(v is not None for v in given))
    yield from _rows(conn, statement, params)


def rows_by_source(
    conn: MySQLConnectionAbstract, key: str
) -> Generator[tuple[Any, ...], None, None]:
    """Every row whose last change came from the source ``key``, in key order.

    The ledger knows the trade dates the source's loads touched: only those days of the
    primary key are read. Loads recorded before those days were (migration 003) leave no
    choice but a scan of the table.
    """
    cur: Any = conn.cursor()
    hashed = key_hash(key)
    cur.execute(sql.SOURCE_LOADS_WITHOUT_DAYS, (hashed,))
    (undated,) = cur.fetchone()
    cur.execute(sql.SOURCE_DAYS, (hashed,))
    days = [d for (d,) in cur.fetchall()]
    cur.close()
    if undated:
        yield from _rows(conn, sql.SELECT_BY_SOURCE, (key,))
    elif days:
        yield from _rows(conn, sql.select_by_source_days(len(days)), (*days, key))


def _rows(
    conn: MySQLConnectionAbstract, statement: str, params: tuple[object, ...]
) -> Generator[tuple[Any, ...], None, None]:
    cur: Any = conn.cursor()
    try:
        cur.execute(statement, params)
        while batch := cur.fetchmany(10_000):
            yield from batch
    finally:
        with contextlib.suppress(mysql.connector.Error):
            cur.close()
            conn.commit()  # end the read's snapshot


def _frame(rows: Iterator[tuple[Any, ...]]) -> pl.DataFrame:
    held = list(rows)
    data = {c: [row[i] for row in held] for i, c in enumerate(COLUMNS)}
    data["value_numeric"] = [v if v is None else Decimal(v) for v in data["value_numeric"]]
    return pl.DataFrame(data, schema=SCHEMA)


def _with_connection(
    config: DbConfig | None, conn: MySQLConnectionAbstract | None
) -> tuple[MySQLConnectionAbstract, bool]:
    if conn is not None:
        return conn, False
    return connect(config or DbConfig.from_env()), True


def get_by_ticker(
    ticker: str,
    start: date | None = None,
    end: date | None = None,
    *,
    config: DbConfig | None = None,
    conn: MySQLConnectionAbstract | None = None,
) -> pl.DataFrame:
    """Every row of one ticker, optionally between two trade dates (inclusive), in key order."""
    connection, own = _with_connection(config, conn)
    try:
        return _frame(rows_by_ticker(connection, ticker, start, end))
    finally:
        if own:
            connection.close()


def get_by_source(
    key: str, *, config: DbConfig | None = None, conn: MySQLConnectionAbstract | None = None
) -> pl.DataFrame:
    """Every row whose last change came from the source ``key``, in key order."""
    connection, own = _with_connection(config, conn)
    try:
        return _frame(rows_by_source(connection, key))
    finally:
        if own:
            connection.close()
