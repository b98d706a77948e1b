"""The change log (``fund_data_changes``): what each load replaced, for ``fundsync revert`` and
the history of a value.

Inside a load's transaction, before a row is updated or deleted, the row it held (value and
lineage: the before-image) is written here under the load's ledger id (``@fundsync_load``,
set by :func:`set_load`), by the same predicate as the write itself, so the log and the
change agree by construction and commit or vanish together. A load's inserts are not
logged: a key it inserted holds the load's own lineage (``s3_source_key`` and
``synced_at``, recorded in the ledger row), so a fresh day of new keys writes nothing here
and an unchanged row costs nothing either. A revert logs its inserts too (op ``insert``):
the keys it puts back carry their old lineage, not its own.

Kept for ``change_log_days`` (settings; ``fundsync prune --changes``), then pruned; a load
whose log is pruned can no longer be reverted.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from loader.mysql import sql

CHANGES_TABLE = "fund_data_changes"
KEY = "d_trade, stock, ticker, col_code"
IMAGE = "value_numeric, value_text, s3_source_key, synced_at"
_COLUMNS = f"load_id, {KEY}, op, {IMAGE}"

CHANGE_LOG_DAYS = 30
"""Days a load's change log is kept by default (``fundsync prune --changes``)."""

SET_LOAD = "SET @fundsync_load = %s"
"""The ledger id the change log's rows are written under, for the session."""

SYNCED_AT = "UPDATE fund_data_loads SET synced_at = @fundsync_synced_at WHERE id = %s"
"""Record in the load's ledger row the lineage time its rows carry."""


def set_load(cur: Any, ledger_id: int) -> None:
    cur.execute(SET_LOAD, (ledger_id,))


def logged_delete(statement: str) -> str:
    """The INSERT ... SELECT that logs the rows a ``DELETE FROM fund_data WHERE ...``
    statement is about to delete (same predicate, same parameters), as op ``delete``."""
    head = f"DELETE FROM {sql.TARGET_TABLE} WHERE "
    if not statement.startswith(head):
        raise ValueError(f"not a delete from {sql.TARGET_TABLE}: {statement[:60]}")
    return (
        f"INSERT INTO {CHANGES_TABLE} ({_COLUMNS}) SELECT @fundsync_load, {KEY}, 'delete', "
        f"{IMAGE} FROM {sql.TARGET_TABLE} WHERE {statement[len(head) :]}"
    )


def log_staged_updates(stage: str) -> str:
    """Log the rows of fund_data that the staged merge is about to change (the staged rows
    whose key fund_data holds with another value), as op ``update``."""
    return (
        f"INSERT INTO {CHANGES_TABLE} ({_COLUMNS}) SELECT @fundsync_load, "
        f"f.d_trade, f.stock, f.ticker, f.col_code, 'update', f.value_numeric, f.value_text, "
        f"f.s3_source_key, f.synced_at FROM {stage} s JOIN {sql.TARGET_TABLE} f "
        f"USING ({KEY}) WHERE NOT (f.value_numeric <=> s.value_numeric "
        "AND BINARY f.value_text <=> BINARY s.value_text)"
    )


def record_lineage(cur: Any, ledger_id: int) -> None:
    """The load's lineage time into its ledger row (in the load's transaction)."""
    cur.execute(SYNCED_AT, (ledger_id,))


def forget_day(cur: Any, day: date) -> None:
    """A pruned trade date's change log goes with its rows (in the prune's transaction)."""
    cur.execute(f"DELETE FROM {CHANGES_TABLE} WHERE d_trade = %s", (day,))


def prune_before(cur: Any, cutoff: datetime) -> tuple[int, int]:
    """Remove the change log of every load finished before ``cutoff``, marking each such
    load as no longer revertible; (loads, rows) removed."""
    cur.execute(
        "SELECT id FROM fund_data_loads WHERE finished_at < %s AND synced_at IS NOT NULL "
        "AND changes_pruned_at IS NULL ORDER BY id",
        (cutoff,),
    )
    ids = [int(i) for (i,) in cur.fetchall()]
    rows = 0
    for ledger_id in ids:
        cur.execute(f"DELETE FROM {CHANGES_TABLE} WHERE load_id = %s", (ledger_id,))
        rows += int(cur.rowcount)
        cur.execute(
            "UPDATE fund_data_loads SET changes_pruned_at = NOW(6) WHERE id = %s", (ledger_id,)
        )
    return len(ids), rows


def value_history(
    cur: Any, ticker: str, col_code: str, first: date | None, last: date | None
) -> list[dict[str, Any]]:
    """Every value each (d_trade, stock) key of this ticker and col_code held within the
    change log's retention, oldest first: the value, the load that wrote it (and when),
    and the load that replaced it (None: the value held now)."""
    lo, hi = first or date.min, last or date.max
    cur.execute(
        f"SELECT c.d_trade, c.stock, c.op, c.value_numeric, c.value_text, c.s3_source_key, "
        f"c.synced_at, w.id, c.load_id, r.finished_at FROM {CHANGES_TABLE} c "
        "JOIN fund_data_loads r ON r.id = c.load_id "
        "LEFT JOIN fund_data_loads w ON w.synced_at = c.synced_at "
        "AND w.source_key = c.s3_source_key "
        "WHERE c.ticker = %s AND c.col_code = %s AND c.d_trade BETWEEN %s AND %s "
        "ORDER BY c.d_trade, c.stock, c.load_id",
        (ticker, col_code, lo, hi),
    )
    past = [
        _entry(day, stock, numeric, text, source, synced, writer, replaced, replaced_at, op)
        for day, stock, op, numeric, text, source, synced, writer, replaced, replaced_at in (
            cur.fetchall()
        )
    ]
    cur.execute(
        f"SELECT f.d_trade, f.stock, f.value_numeric, f.value_text, f.s3_source_key, "
        f"f.synced_at, w.id FROM {sql.TARGET_TABLE} f LEFT JOIN fund_data_loads w "
        "ON w.synced_at = f.synced_at AND w.source_key = f.s3_source_key "
        "WHERE f.ticker = %s AND f.col_code = %s AND f.d_trade BETWEEN %s AND %s",
        (ticker, col_code, lo, hi),
    )
    now = [
        _entry(day, stock, numeric, text, source, synced, writer, None, None, "held")
        for day, stock, numeric, text, source, synced, writer in cur.fetchall()
    ]
    return sorted(past + now, key=_order)


def _order(entry: dict[str, Any]) -> tuple[Any, ...]:
    replaced = entry["replaced_by"]
    return (entry["d_trade"], entry["stock"], replaced is None, replaced or 0)


def _entry(
    day: date,
    stock: str,
    numeric: Any,
    text: Any,
    source: Any,
    synced: Any,
    writer: Any,
    replaced: Any,
    replaced_at: Any,
    op: str,
) -> dict[str, Any]:
    absent = op == "insert"  # a revert put the key back: before it, the key was absent
    return {
        "d_trade": day,
        "stock": str(stock),
        "value_numeric": numeric,
        "value_text": None if text is None else str(text),
        "absent": absent,
        "s3_source_key": None if source is None else str(source),
        "synced_at": synced,
        "written_by": None if writer is None else int(writer),
        "replaced_by": None if replaced is None else int(replaced),
        "replaced_at": replaced_at,
    }
