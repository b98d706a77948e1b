"""Read API: what is in ``fund_data``, as Polars frames with exact decimals."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl
from mysql.connector.abstracts import MySQLConnectionAbstract

from loader.mysql import sql
from loader.mysql.config import DbConfig
from loader.mysql.connection import connect
from loader.parse.numbers import DECIMAL

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


def _frame(
    conn: MySQLConnectionAbstract, statement: str, params: tuple[object, ...]
) -> pl.DataFrame:
    cur: Any = conn.cursor()
    cur.execute(statement, params)
    rows = cur.fetchall()
    cur.close()
    conn.commit()  # end the read's snapshot
    columns = list(SCHEMA)
    data = {c: [row[i] for row in rows] for i, c in enumerate(columns)}
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
        params: tuple[object, ...] = (ticker, *(d for d in (start, end) if d is not None))
        return _frame(connection, sql.select_by_ticker(start is not None, end is not None), params)
    finally:
        if own:
            connection.close()


def get_by_source(
    key: str, *, config: DbConfig | None = None, conn: MySQLConnectionAbstract | None = None
) -> pl.DataFrame:
    """Every row whose last change came from the source ``key``, in key order."""
    connection, own = _with_connection(config, conn)
    try:
        return _frame(connection, sql.SELECT_BY_SOURCE, (key,))
    finally:
        if own:
            connection.close()
