"""The target table's shape, checked before a merge relies on it (spec §2.1)."""

from __future__ import annotations

from typing import Any

from mysql.connector.abstracts import MySQLConnectionAbstract

from loader.errors import SchemaError
from loader.mysql import sql

COMPOSITE = "d_trade,stock,ticker,col_code"
KEY_STRINGS = ("stock", "ticker", "col_code")


def check_target(conn: MySQLConnectionAbstract) -> bool:
    """Refuse a fund_data the merge cannot rely on (spec §2, §2.1); run before every merge.

    Its unique keys: the composite key as primary key, or a surrogate
    single-column primary key plus exactly one unique key on the composite
    columns. ON DUPLICATE KEY UPDATE fires on any unique key, so any other
    would silently merge the wrong rows. Returns whether rows may be replaced in place
    (:mod:`loader.mysql.diff` writes with ``LOAD DATA ... REPLACE``): the composite key is
    the primary key and the table has no trigger (REPLACE fires insert triggers, not update
    ones: a table with triggers takes the staged ``ON DUPLICATE KEY UPDATE``). Its key strings
    compare byte for byte (a ``_bin`` collation), as the in-memory deduplication does: under a
    case-insensitive collation ``abc`` and ``ABC`` would collapse into one row.
    """
    cur: Any = conn.cursor()
    cur.execute(sql.UNIQUE_INDEXES, (sql.TARGET_TABLE,))
    unique = {str(name): str(cols) for name, cols in cur.fetchall()}
    cur.execute(sql.KEY_COLLATIONS, (sql.TARGET_TABLE, *KEY_STRINGS))
    collations = {str(name): str(collation) for name, collation in cur.fetchall()}
    cur.execute(sql.TRIGGERS, (sql.TARGET_TABLE,))
    (triggers,) = cur.fetchone()
    cur.close()
    _check_unique_keys(unique)
    if soft := {c: v for c, v in collations.items() if not v.endswith("_bin")}:
        raise SchemaError(
            "fund_data's key columns must compare byte for byte (a _bin collation such as "
            f"utf8mb4_bin); found {soft}"
        )
    return unique.get("PRIMARY") == COMPOSITE and not triggers


def _check_unique_keys(unique: dict[str, str]) -> None:
    if not unique:
        raise SchemaError("fund_data does not exist or has no unique key: run fundsync migrate")
    composite = [name for name, cols in unique.items() if cols == COMPOSITE]
    others = {name: cols for name, cols in unique.items() if name not in composite}
    surrogate_pk = others.get("PRIMARY") is not None and "," not in others["PRIMARY"]
    if len(composite) == 1 and (not others or (len(others) == 1 and surrogate_pk)):
        return
    raise SchemaError(
        "fund_data must have exactly one unique key on (d_trade, stock, ticker, col_code) "
        f"besides a surrogate primary key; found {unique}"
    )
