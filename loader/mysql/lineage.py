"""Which data wins, from the ledger: the sources of a trade date, and the newer or later loads
that a file's rows lose to (an older original after its correction, a whole-day snapshot),
for the merge's newer-wins rule and for ``fundsync verify``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from mysql.connector.abstracts import MySQLConnectionAbstract

from loader.mysql.ledger import DAYS_TABLE, LEDGER_TABLE, latest_loaded
from loader.sources import key_hash


def sources_of_days(
    conn: MySQLConnectionAbstract, first: date, last: date
) -> list[tuple[str, str | None]]:
    """The sources (key, and S3 bucket when known) whose successful loads touched trade
    dates from ``first`` to ``last``, the most recently loaded first."""
    cur: Any = conn.cursor()
    cur.execute(
        f"SELECT l.source_key, MAX(l.source_bucket), MAX(l.id) FROM {LEDGER_TABLE} l "
        "JOIN fund_data_load_days d ON d.load_id = l.id "
        "WHERE d.d_trade BETWEEN %s AND %s AND l.status = 'loaded' AND l.reverted_by IS NULL "
        "GROUP BY l.source_key ORDER BY 3 DESC",
        (first, last),
    )
    found = [
        (str(key), None if bucket is None else str(bucket)) for key, bucket, _ in cur.fetchall()
    ]
    cur.close()
    return found


def later_snapshot_days(
    conn: MySQLConnectionAbstract, days: Sequence[date], after: int
) -> list[date]:
    """The trade dates among ``days`` that a whole-day snapshot (replace-days) loaded after
    ledger row ``after``, or a prune, deleted rows of."""
    if not days:
        return []
    marks = ", ".join(["%s"] * len(days))
    cur: Any = conn.cursor()
    cur.execute(
        f"SELECT DISTINCT d.d_trade FROM {DAYS_TABLE} d JOIN {LEDGER_TABLE} l "
        f"ON l.id = d.load_id WHERE d.d_trade IN ({marks}) AND l.id > %s "
        "AND ((l.status IN ('loaded', 'reverted') AND l.deleted > 0) OR l.status = 'pruned')",
        (*days, after),
    )
    found = [d for (d,) in cur.fetchall()]
    cur.close()
    return found


def reverted_load(conn: MySQLConnectionAbstract, key: str) -> tuple[int, int] | None:
    """(load, revert) of the latest load of this source that a revert undid, if any."""
    row = latest_loaded(conn, key, "id, reverted_by", reverted=True)
    return None if row is None else (int(row[0]), int(row[1]))


def attempts_of(conn: MySQLConnectionAbstract, key: str) -> list[tuple[str, str | None]]:
    """(status, error) of every attempt to load this source, oldest first."""
    cur: Any = conn.cursor()
    cur.execute(
        f"SELECT status, error FROM {LEDGER_TABLE} WHERE source_key_hash = %s ORDER BY id",
        (key_hash(key),),
    )
    found = [(str(status), error) for status, error in cur.fetchall()]
    cur.close()
    return found


def newer_sources(
    conn: MySQLConnectionAbstract, days: Sequence[date], modified: datetime, key: str
) -> list[str]:
    """Other sources loaded for any of these trade dates whose content was written after
    ``modified``: the rows they wrote are not this file's to overwrite."""
    if not days:
        return []
    marks = ", ".join(["%s"] * len(days))
    cur: Any = conn.cursor()
    cur.execute(
        f"SELECT DISTINCT l.source_key FROM {DAYS_TABLE} d JOIN {LEDGER_TABLE} l "
        f"ON l.id = d.load_id WHERE d.d_trade IN ({marks}) AND l.status = 'loaded' "
        "AND l.reverted_by IS NULL "
        "AND l.source_modified > %s AND l.source_key_hash <> %s",
        (*days, modified, key_hash(key)),
    )
    keys = [str(k) for (k,) in cur.fetchall()]
    cur.close()
    return keys


def newer_snapshot_days(
    conn: MySQLConnectionAbstract, days: Sequence[date], modified: datetime, key: str
) -> list[date]:
    """The trade dates among ``days`` of which another source whose content was written
    after ``modified`` loaded a whole-day snapshot (replace-days): this older file can only
    lose to it, its rows of those dates included (the snapshot deleted what it lacked)."""
    if not days:
        return []
    marks = ", ".join(["%s"] * len(days))
    cur: Any = conn.cursor()
    cur.execute(
        f"SELECT DISTINCT d.d_trade FROM {DAYS_TABLE} d JOIN {LEDGER_TABLE} l "
        f"ON l.id = d.load_id WHERE d.d_trade IN ({marks}) AND l.status = 'loaded' "
        "AND l.reverted_by IS NULL "
        "AND (l.mode = 'replace-days' OR (l.mode IS NULL AND l.deleted IS NOT NULL)) "
        "AND l.source_modified > %s AND l.source_key_hash <> %s ORDER BY 1",
        (*days, modified, key_hash(key)),
    )
    found = [d for (d,) in cur.fetchall()]
    cur.close()
    return found
