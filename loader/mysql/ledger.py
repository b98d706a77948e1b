"""The load ledger, ``fund_data_loads`` (spec §2.2): every attempt, its counts and status.

The statements are built by pure functions (testable without a server) and
run by the small functions below. What a row holds comes from the report
(:meth:`loader.report.LoadReport.to_dict`): the ledger decides nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from mysql.connector.abstracts import MySQLConnectionAbstract

from loader.sources import SourceIdentity, key_hash, ledger_keys

LEDGER_TABLE = "fund_data_loads"
DAYS_TABLE = "fund_data_load_days"
COUNT_FIELDS = (
    "deleted",
    "rows_read",
    "rows_merged",
    "duplicates_in_file",
    "conflicting_duplicates",
    "inserted",
    "updated",
    "unchanged",
    "rejected_rows",
)
TEXT_FIELDS = (
    "encoding",
    "date_format",
    "date_order",
    "method",
    "digest",
    "mode",
    "request",
    "quality",
)
ERROR_BYTES = 60_000
"""The ``error`` column is TEXT (65,535 bytes): longer error texts are cut to this many."""
KEY_CHARS = 1024
_IDENTITY = (
    "source_key, source_key_hash, object_version, content_hash, size_bytes, source_modified, "
    "source_bucket"
)
_IDENTITY_MARKS = "%s, %s, %s, %s, %s, %s, %s"

Day = tuple[date, int]
"""A trade date a load touched, and the rows of the file on it."""


def _identity_values(source: SourceIdentity) -> tuple[object, ...]:
    key = source.key if len(source.key) <= KEY_CHARS else source.key[: KEY_CHARS - 1] + "…"
    values = (key, source.key_hash, source.version, source.content_hash, source.size)
    return (*values, source.modified, source.bucket)


ABANDONED = "abandoned: the attempt's process or connection ended before it finished"


def lock_name(ledger_id: int) -> str:
    """The named lock a loading attempt holds while its connection lives (64 characters max)."""
    return f"fundsync.load.{ledger_id}"


def _outcome_fields(report: dict[str, Any]) -> list[str]:
    return [f for f in (*COUNT_FIELDS, *TEXT_FIELDS) if report.get(f) not in (None, [])]


def _value(report: dict[str, Any], name: str) -> Any:
    """A report field as the ledger stores it (the quality findings as JSON)."""
    value = report[name]
    return json.dumps(value) if name == "quality" else value


def latest_digest(conn: MySQLConnectionAbstract, key: str) -> str | None:
    """The load digest of the most recent successful load of this source (None: that load
    was not verified)."""
    row = latest_loaded(conn, key, "digest")
    return None if row is None or row[0] is None else str(row[0])


def latest_loaded(
    conn: MySQLConnectionAbstract, key: str, columns: str, reverted: bool = False
) -> tuple[Any, ...] | None:
    """``columns`` of the most recent successful load of this source that no revert undid
    (with ``reverted``: that a revert undid), if any."""
    undone = "IS NOT NULL" if reverted else "IS NULL"
    cur: Any = conn.cursor()
    cur.execute(
        f"SELECT {columns} FROM {LEDGER_TABLE} WHERE source_key_hash = %s AND status = 'loaded' "
        f"AND reverted_by {undone} ORDER BY id DESC LIMIT 1",
        (key_hash(key),),
    )
    row = cur.fetchone()
    cur.close()
    return None if row is None else tuple(row)


def known_key(conn: MySQLConnectionAbstract, text: str) -> str:
    """The source key the ledger knows a source by, given in any form the logs and reports
    print it (``s3://bucket/key``, the key, a relative or absolute path); the normalised key
    when the ledger has none of them."""
    candidates = ledger_keys(text)
    marks = ", ".join(["%s"] * len(candidates))
    cur: Any = conn.cursor()
    cur.execute(
        f"SELECT source_key FROM {LEDGER_TABLE} WHERE source_key_hash IN ({marks}) "
        "ORDER BY id DESC LIMIT 1",
        [key_hash(k) for k in candidates],
    )
    row = cur.fetchone()
    cur.close()
    return str(row[0]) if row else candidates[0]


@dataclass(frozen=True, slots=True)
class Loaded:
    """The most recent successful load of a source: what it merged and how it was asked."""

    identity: SourceIdentity
    request: str
    digest: str | None
    """The load digest of a verified load (None: not verified)."""
    ledger_id: int
    encoding: str | None = None
    """The encoding the load read the file in."""

    @property
    def verified(self) -> bool:
        return self.digest is not None

    def answers(self, request: str, verify: bool) -> bool:
        """Whether this load did what a new load asked ``request`` (and ``verify``) would
        do: the same request, and a proof when one is asked (spec §1.2's skip rule, with
        what was asked as part of "already loaded")."""
        return self.request == request and (self.verified or not verify)


_LOADED = (
    "content_hash, size_bytes, object_version, source_bucket, "
    "COALESCE(request, IF(deleted IS NULL, 'mode=upsert', 'mode=replace-days')), "
    "digest, id, encoding"
)
"""A load recorded before requests were (migration 005): its mode is known from ``deleted``."""


def latest_load(conn: MySQLConnectionAbstract, key: str) -> Loaded | None:
    """The most recent successful load of this source, if any.

    The skip rule reads it (spec §1.2): the latest load decides, so content
    that was replaced and then comes back (v1, v2, v1) loads again.
    """
    row = latest_loaded(conn, key, _LOADED)
    if row is None:
        return None
    return _loaded(key, row)


def _loaded(key: str, row: tuple[Any, ...]) -> Loaded:
    content, size, version, bucket, request, digest, ledger_id, encoding = row
    identity = SourceIdentity(
        key, str(content), int(size), None if version is None else str(version), bucket=bucket
    )
    return Loaded(identity, str(request), digest, int(ledger_id), encoding)


def abandon_stale(conn: MySQLConnectionAbstract, key: str) -> int:
    """Mark this source's ``loading`` rows whose attempt is gone as ``abandoned``; commits.

    An attempt holds a named lock (:func:`lock_name`) for as long as its
    connection lives; a row whose lock nobody holds belongs to a process or
    a connection that ended without finishing (killed, lost). It never blocks
    a load; marking it says so in the ledger.
    """
    cur: Any = conn.cursor()
    cur.execute(
        f"SELECT id FROM {LEDGER_TABLE} WHERE source_key_hash = %s AND status = 'loading'",
        (key_hash(key),),
    )
    stale = [int(i) for (i,) in cur.fetchall() if not _lock_held(cur, int(i))]
    conn.commit()
    for ledger_id in stale:
        cur.execute(
            f"UPDATE {LEDGER_TABLE} SET status = 'abandoned', finished_at = NOW(6), error = %s "
            "WHERE id = %s AND status = 'loading'",
            (ABANDONED, ledger_id),
        )
    cur.close()
    conn.commit()
    return len(stale)


def _lock_held(cur: Any, ledger_id: int) -> bool:
    cur.execute("SELECT IS_USED_LOCK(%s)", (lock_name(ledger_id),))
    return cur.fetchone()[0] is not None


def lock_held(conn: MySQLConnectionAbstract, ledger_id: int) -> bool:
    """Whether an attempt's connection still lives (it holds its named lock)."""
    cur: Any = conn.cursor()
    try:
        return _lock_held(cur, ledger_id)
    finally:
        cur.close()


def start(conn: MySQLConnectionAbstract, source: SourceIdentity) -> int:
    """Record an attempt as ``loading``, commit at once (a crashed attempt leaves a trace), and
    hold its named lock while this connection lives."""
    cur: Any = conn.cursor()
    cur.execute(
        f"INSERT INTO {LEDGER_TABLE} ({_IDENTITY}, status, started_at) "
        f"VALUES ({_IDENTITY_MARKS}, 'loading', NOW(6))",
        _identity_values(source),
    )
    ledger_id = int(cur.lastrowid or 0)
    conn.commit()
    cur.execute("SELECT GET_LOCK(%s, 0)", (lock_name(ledger_id),))
    cur.fetchall()
    cur.close()
    return ledger_id


def release(conn: MySQLConnectionAbstract, ledger_id: int) -> None:
    """Give up an attempt's named lock (its row is finished)."""
    cur: Any = conn.cursor()
    cur.execute("SELECT RELEASE_LOCK(%s)", (lock_name(ledger_id),))
    cur.fetchall()
    cur.close()


def finish(
    conn: MySQLConnectionAbstract,
    ledger_id: int,
    report: dict[str, Any],
    error: str | None,
    days: Sequence[Day] = (),
) -> None:
    """Set an attempt's outcome from its report, and the trade dates it touched. Does not
    commit: a load commits it with its merge."""
    fields = _outcome_fields(report)
    assignments = "".join(f"{f} = %s, " for f in fields)
    cur: Any = conn.cursor()
    cur.execute(
        f"UPDATE {LEDGER_TABLE} SET status = %s, {assignments}error = %s, finished_at = NOW(6), "
        "duration_ms = TIMESTAMPDIFF(MICROSECOND, started_at, NOW(6)) DIV 1000 WHERE id = %s",
        (report["status"], *(_value(report, f) for f in fields), cut_error(error), ledger_id),
    )
    record_days(cur, ledger_id, days)
    cur.close()


def record(
    conn: MySQLConnectionAbstract,
    source: SourceIdentity,
    report: dict[str, Any],
    error: str | None,
    seconds: float,
    commit: bool = True,
) -> int:
    """Record a finished attempt in one row (skipped, or failed before its merge; a prune);
    commits unless told not to (a prune commits it with its deletion)."""
    fields = _outcome_fields(report)
    columns = "".join(f", {f}" for f in fields)
    marks = "".join(", %s" for _ in fields)
    cur: Any = conn.cursor()
    cur.execute(
        f"INSERT INTO {LEDGER_TABLE} ({_IDENTITY}, status{columns}, error, started_at, "
        f"finished_at, duration_ms) VALUES ({_IDENTITY_MARKS}, %s{marks}, %s, "
        "NOW(6) - INTERVAL %s MICROSECOND, NOW(6), %s)",
        (
            *_identity_values(source),
            report["status"],
            *(_value(report, f) for f in fields),
            cut_error(error),
            int(seconds * 1_000_000),
            int(seconds * 1000),
        ),
    )
    ledger_id = int(cur.lastrowid or 0)
    cur.close()
    if commit:
        conn.commit()
    return ledger_id


def record_days(cur: Any, ledger_id: int, days: Sequence[Day]) -> None:
    for start in range(0, len(days), 500):
        batch = days[start : start + 500]
        rows = ", ".join(["(%s, %s, %s)"] * len(batch))
        values = [v for day, count in batch for v in (ledger_id, day, count)]
        cur.execute(
            f"INSERT INTO {DAYS_TABLE} (load_id, d_trade, rows_in_file) VALUES {rows}", values
        )


def cut_error(error: str | None) -> str | None:
    """An error text that fits the column: cut at a character boundary, its length said."""
    if error is None:
        return None
    encoded = error.encode("utf-8")
    if len(encoded) <= ERROR_BYTES:
        return error
    head = encoded[: ERROR_BYTES - 100].decode("utf-8", "ignore")
    return f"{head}... [cut: {len(error):,} characters in all]"


def loaded_sources(conn: MySQLConnectionAbstract, keys: list[str]) -> dict[str, Loaded]:
    """The latest successful load of each of these keys (those that have one)."""
    if not keys:
        return {}
    hashes = [key_hash(k) for k in keys]
    marks = ", ".join(["%s"] * len(hashes))
    cur: Any = conn.cursor()
    cur.execute(
        f"SELECT source_key, {_LOADED} FROM {LEDGER_TABLE} "
        f"WHERE status = 'loaded' AND source_key_hash IN ({marks}) ORDER BY id",
        hashes,
    )
    latest: dict[str, Loaded] = {}
    for key, *row in cur.fetchall():
        latest[str(key)] = _loaded(str(key), tuple(row))
    cur.close()
    return latest
