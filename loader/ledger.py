"""The load ledger, ``fund_data_loads`` (CONTRACT §2.2): every attempt, its counts and status."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mysql.connector.abstracts import MySQLConnectionAbstract

LEDGER_TABLE = "fund_data_loads"
HASH_BLOCK = 8 << 20
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


@dataclass(frozen=True, slots=True)
class SourceIdentity:
    """What the skip rule compares: the source key and the content's SHA-256."""

    key: str
    content_hash: str
    size: int
    version: str | None = None

    @property
    def key_hash(self) -> str:
        return hashlib.sha256(self.key.encode("utf-8")).hexdigest()

    @classmethod
    def of_file(cls, path: Path, key: str, version: str | None = None) -> SourceIdentity:
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as f:
            while block := f.read(HASH_BLOCK):
                digest.update(block)
                size += len(block)
        return cls(key, digest.hexdigest(), size, version)


def already_loaded(conn: MySQLConnectionAbstract, source: SourceIdentity) -> int | None:
    """The ledger id of an earlier successful load of this content from this source, if any."""
    cur: Any = conn.cursor()
    cur.execute(
        f"SELECT id FROM {LEDGER_TABLE} WHERE source_key_hash = %s AND content_hash = %s "
        "AND status = 'loaded' ORDER BY id DESC LIMIT 1",
        (source.key_hash, source.content_hash),
    )
    row = cur.fetchone()
    cur.close()
    return int(row[0]) if row else None


def start(conn: MySQLConnectionAbstract, source: SourceIdentity, status: str = "loading") -> int:
    """Record an attempt and commit it at once, so even a crashed attempt leaves its trace."""
    cur: Any = conn.cursor()
    cur.execute(
        f"INSERT INTO {LEDGER_TABLE} (source_key, source_key_hash, object_version, "
        "content_hash, size_bytes, status, started_at) VALUES (%s, %s, %s, %s, %s, %s, NOW(6))",
        (source.key, source.key_hash, source.version, source.content_hash, source.size, status),
    )
    ledger_id = int(cur.lastrowid or 0)
    cur.close()
    conn.commit()
    return ledger_id


def finish(
    conn: MySQLConnectionAbstract,
    ledger_id: int,
    status: str,
    report: dict[str, Any],
    error: str | None = None,
) -> None:
    """Set an attempt's outcome. Does not commit: a load commits it with its merge."""
    fields = [f for f in (*COUNT_FIELDS, *TEXT_FIELDS) if report.get(f) is not None]
    assignments = ", ".join(f"{f} = %s" for f in fields)
    cur: Any = conn.cursor()
    cur.execute(
        f"UPDATE {LEDGER_TABLE} SET status = %s, {assignments}{', ' if fields else ''}"
        "error = %s, finished_at = NOW(6), "
        "duration_ms = TIMESTAMPDIFF(MICROSECOND, started_at, NOW(6)) DIV 1000 WHERE id = %s",
        (status, *(report[f] for f in fields), error, ledger_id),
    )
    cur.close()


def loaded_version(conn: MySQLConnectionAbstract, key: str, version: str) -> int | None:
    """The ledger id of a successful load of this exact object version (id or ETag), if any."""
    cur: Any = conn.cursor()
    cur.execute(
        f"SELECT id FROM {LEDGER_TABLE} WHERE source_key_hash = %s AND object_version = %s "
        "AND status = 'loaded' ORDER BY id DESC LIMIT 1",
        (hashlib.sha256(key.encode("utf-8")).hexdigest(), version),
    )
    row = cur.fetchone()
    cur.close()
    return int(row[0]) if row else None


def record_skip_of(conn: MySQLConnectionAbstract, earlier_id: int) -> int:
    """Record a ``skipped`` attempt for the content an earlier load already merged; commits."""
    cur: Any = conn.cursor()
    cur.execute(
        f"INSERT INTO {LEDGER_TABLE} (source_key, source_key_hash, object_version, content_hash, "
        "size_bytes, status, started_at, finished_at, duration_ms) "
        "SELECT source_key, source_key_hash, object_version, content_hash, size_bytes, "
        f"'skipped', NOW(6), NOW(6), 0 FROM {LEDGER_TABLE} WHERE id = %s",
        (earlier_id,),
    )
    ledger_id = int(cur.lastrowid or 0)
    cur.close()
    conn.commit()
    return ledger_id


def loaded_sources(
    conn: MySQLConnectionAbstract, keys: list[str]
) -> list[tuple[str, str, str | None]]:
    """(source key, content hash, object version) of every successful load of these keys."""
    if not keys:
        return []
    hashes = [hashlib.sha256(k.encode("utf-8")).hexdigest() for k in keys]
    marks = ", ".join(["%s"] * len(hashes))
    cur: Any = conn.cursor()
    cur.execute(
        f"SELECT source_key, content_hash, object_version FROM {LEDGER_TABLE} "
        f"WHERE status = 'loaded' AND source_key_hash IN ({marks})",
        hashes,
    )
    rows = [(str(k), str(h), None if v is None else str(v)) for k, h, v in cur.fetchall()]
    cur.close()
    return rows
