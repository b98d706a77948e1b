"""The operator's answers to what ``status`` shows: acknowledgements (``fundsync ack``), and
the settling of a file the quality gate held (``fundsync release``, ``fundsync discard``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mysql.connector.abstracts import MySQLConnectionAbstract

from loader.mysql.ledger import LEDGER_TABLE
from loader.sources import key_hash

OPEN = (
    "acked_at IS NULL AND (status IN ('rejected', 'failed', 'held') "
    "OR (status = 'loaded' AND quality IS NOT NULL))"
)
"""A ledger row that may page: a problem, a held file, a load with quality warnings."""


def acknowledge(
    conn: MySQLConnectionAbstract, source: str | None, load_id: int | None, who: str, note: str
) -> list[int]:
    """Acknowledge the open rows of ``source`` (or the one row ``load_id``); their ids."""
    cur: Any = conn.cursor()
    params: tuple[object, ...]
    if load_id is not None:
        where, params = "id = %s", (load_id,)
    else:
        where, params = "source_key_hash = %s", (key_hash(source or ""),)
    cur.execute(f"SELECT id FROM {LEDGER_TABLE} WHERE {where} AND {OPEN} FOR UPDATE", params)
    ids = [int(i) for (i,) in cur.fetchall()]
    if ids:
        marks = ", ".join(["%s"] * len(ids))
        cur.execute(
            f"UPDATE {LEDGER_TABLE} SET acked_at = NOW(6), acked_by = %s, ack_note = %s "
            f"WHERE id IN ({marks})",
            (who[:128], note[:512], *ids),
        )
    conn.commit()
    cur.close()
    return ids


@dataclass(frozen=True)
class HeldFile:
    """The latest file of a source the quality gate held, not yet released or discarded."""

    ledger_id: int
    source: str
    bucket: str | None
    content_hash: str
    request: str
    reasons: str | None


def held_file(conn: MySQLConnectionAbstract, source: str) -> HeldFile | None:
    cur: Any = conn.cursor()
    cur.execute(
        f"SELECT id, source_key, source_bucket, content_hash, COALESCE(request, 'mode=upsert'), "
        f"error FROM {LEDGER_TABLE} WHERE source_key_hash = %s AND status = 'held' "
        "AND acked_at IS NULL ORDER BY id DESC LIMIT 1",
        (key_hash(source),),
    )
    row = cur.fetchone()
    cur.close()
    conn.commit()
    if row is None:
        return None
    lid, key, bucket, content, request, reasons = row
    return HeldFile(int(lid), str(key), bucket, str(content), str(request), reasons)


def settle(
    conn: MySQLConnectionAbstract, held: HeldFile, who: str, note: str, discard: bool = False
) -> None:
    """Mark a held file released (``note`` names the load) or discarded."""
    status = ", status = 'discarded'" if discard else ""
    cur: Any = conn.cursor()
    cur.execute(
        f"UPDATE {LEDGER_TABLE} SET acked_at = NOW(6), acked_by = %s, ack_note = %s{status} "
        "WHERE id = %s AND status = 'held'",
        (who[:128], note[:512], held.ledger_id),
    )
    conn.commit()
    cur.close()
