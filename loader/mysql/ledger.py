"""The load ledger, ``fund_data_loads`` (CONTRACT §2.2): every attempt, its counts and status.

The statements are built by pure functions (testable without a server) and
run by the small functions below. What a row holds comes from the report
(:meth:`loader.report.LoadReport.to_dict`): the ledger decides nothing.
"""

from __future__ import annotations

from typing import Any

from mysql.connector.abstracts import MySQLConnectionAbstract

from loader.sources import SourceIdentity, key_hash

LEDGER_TABLE = "fund_data_loads"
COUNT_FIELDS = (
    "rows_read",
    "rows_merged",
    "duplicates_in_file",
    "conflicting_duplicates",
    "inserted",
    "updated",
    "unchanged",
    "rejected_rows",
)
TEXT_FIELDS = ("encoding", "date_format", "date_order", "method")
ERROR_LIMIT = 60_000
_IDENTITY = "source_key, source_key_hash, object_version, content_hash, size_bytes"


def _identity_values(source: SourceIdentity) -> tuple[object, ...]:
    return (source.key, source.key_hash, source.version, source.content_hash, source.size)


def _outcome_fields(report: dict[str, Any]) -> list[str]:
    return [f for f in (*COUNT_FIELDS, *TEXT_FIELDS) if report.get(f) is not None]


def latest_load(conn: MySQLConnectionAbstract, key: str) -> SourceIdentity | None:
    """The identity the most recent successful load of this source recorded, if any.

    The skip rule reads it (CONTRACT §1.2): the latest load decides, so content
    that was replaced and then comes back (v1, v2, v1) loads again.
    """
    cur: Any = conn.cursor()
    cur.execute(
        f"SELECT content_hash, size_bytes, object_version FROM {LEDGER_TABLE} "
        "WHERE source_key_hash = %s AND status = 'loaded' ORDER BY id DESC LIMIT 1",
        (key_hash(key),),
    )
    row = cur.fetchone()
    cur.close()
    if row is None:
        return None
    return SourceIdentity(key, str(row[0]), int(row[1]), None if row[2] is None else str(row[2]))


def start(conn: MySQLConnectionAbstract, source: SourceIdentity) -> int:
    """Record an attempt as ``loading`` and commit at once: a crashed attempt leaves a trace."""
    cur: Any = conn.cursor()
    cur.execute(
        f"INSERT INTO {LEDGER_TABLE} ({_IDENTITY}, status, started_at) "
        "VALUES (%s, %s, %s, %s, %s, 'loading', NOW(6))",
        _identity_values(source),
    )
    ledger_id = int(cur.lastrowid or 0)
    cur.close()
    conn.commit()
    return ledger_id


def finish(
    conn: MySQLConnectionAbstract, ledger_id: int, report: dict[str, Any], error: str | None
) -> None:
    """Set an attempt's outcome from its report. Does not commit: a load commits it with its
    merge."""
    fields = _outcome_fields(report)
    assignments = "".join(f"{f} = %s, " for f in fields)
    cur: Any = conn.cursor()
    cur.execute(
        f"UPDATE {LEDGER_TABLE} SET status = %s, {assignments}error = %s, finished_at = NOW(6), "
        "duration_ms = TIMESTAMPDIFF(MICROSECOND, started_at, NOW(6)) DIV 1000 WHERE id = %s",
        (report["status"], *(report[f] for f in fields), _cut(error), ledger_id),
    )
    cur.close()


def record(
    conn: MySQLConnectionAbstract,
    source: SourceIdentity,
    report: dict[str, Any],
    error: str | None,
    seconds: float,
) -> int:
    """Record a finished attempt in one row (skipped, or failed before its merge); commits."""
    fields = _outcome_fields(report)
    columns = "".join(f", {f}" for f in fields)
    marks = "".join(", %s" for _ in fields)
    cur: Any = conn.cursor()
    cur.execute(
        f"INSERT INTO {LEDGER_TABLE} ({_IDENTITY}, status{columns}, error, started_at, "
        f"finished_at, duration_ms) VALUES (%s, %s, %s, %s, %s, %s{marks}, %s, "
        "NOW(6) - INTERVAL %s MICROSECOND, NOW(6), %s)",
        (
            *_identity_values(source),
            report["status"],
            *(report[f] for f in fields),
            _cut(error),
            int(seconds * 1_000_000),
            int(seconds * 1000),
        ),
    )
    ledger_id = int(cur.lastrowid or 0)
    cur.close()
    conn.commit()
    return ledger_id


def loaded_sources(
    conn: MySQLConnectionAbstract, keys: list[str]
) -> list[tuple[str, str, str | None]]:
    """(source key, content hash, object version) of every successful load of these keys,
    oldest first."""
    if not keys:
        return []
    hashes = [key_hash(k) for k in keys]
    marks = ", ".join(["%s"] * len(hashes))
    cur: Any = conn.cursor()
    cur.execute(
        f"SELECT source_key, content_hash, object_version FROM {LEDGER_TABLE} "
        f"WHERE status = 'loaded' AND source_key_hash IN ({marks}) ORDER BY id",
        hashes,
    )
    rows = [(str(k), str(h), None if v is None else str(v)) for k, h, v in cur.fetchall()]
    cur.close()
    return rows


def _cut(error: str | None) -> str | None:
    return None if error is None else error[:ERROR_LIMIT]
