"""What the ledger and fund_data say, for the operator: recent loads, problems, stuck attempts,
rows per trade date with the missing and short days, one source's history and last change.

Read-only queries (the statements are built here, run by the small functions below); the
command line (``fundsync status``, ``history``, ``show``) prints what they return.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from mysql.connector.abstracts import MySQLConnectionAbstract

from loader.mysql import ledger, sql
from loader.mysql.days import rows_by_day
from loader.sources import key_hash

PROBLEM_DAYS = 7
SHORT_SHARE = 0.5
"""A trade date with fewer rows than this share of the window's median day is short."""
LEDGER_COLUMNS = (
    "id, source_key, status, rows_read, rows_merged, inserted, updated, unchanged, "
    "rejected_rows, duration_ms, started_at, finished_at, object_version, content_hash, error, "
    "digest, deleted"
)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One ledger row, as an operator reads it."""

    id: int
    source: str
    status: str
    rows_read: int | None
    rows_merged: int | None
    inserted: int | None
    updated: int | None
    unchanged: int | None
    rejected_rows: int | None
    duration_ms: int | None
    started_at: datetime
    finished_at: datetime | None
    version: str | None
    content_hash: str
    error: str | None
    digest: str | None = None
    """The load digest of a verified load (None: not verified)."""
    deleted: int | None = None
    """Rows a replace-days load deleted (None: an upsert)."""
    stuck: bool = False
    """A ``loading`` row whose process or connection is gone (its named lock is free)."""

    @property
    def verified(self) -> bool:
        return self.digest is not None

    @property
    def reason(self) -> str | None:
        return self.error.strip().splitlines()[0] if self.error and self.error.strip() else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["reason"] = self.reason
        out["verified"] = self.verified
        return out


@dataclass(frozen=True, slots=True)
class Day:
    """The rows fund_data holds on one trade date, and whether that looks wrong."""

    d_trade: date
    rows: int
    flag: str | None = None
    """``missing`` (a weekday with no row between the first and last date) or ``short``."""


@dataclass(frozen=True, slots=True)
class Held:
    """What fund_data holds in all, from the day counts (no scan): the oldest and the newest
    trade date, and the rows."""

    oldest: date | None = None
    newest: date | None = None
    rows: int = 0


@dataclass(frozen=True, slots=True)
class Status:
    since: date
    recent: list[Attempt]
    problems: list[Attempt]
    stuck: list[Attempt]
    days: list[Day] = field(default_factory=list)
    held: Held = field(default_factory=Held)

    @property
    def flagged(self) -> list[Day]:
        return [d for d in self.days if d.flag]


def _attempts(cur: Any, where: str, params: tuple[object, ...], limit: int) -> list[Attempt]:
    cur.execute(
        f"SELECT {LEDGER_COLUMNS} FROM {ledger.LEDGER_TABLE} WHERE {where} "
        f"ORDER BY id DESC LIMIT {int(limit)}",
        params,
    )
    return [Attempt(*row) for row in cur.fetchall()]


def _prefix(prefix: str | None) -> tuple[str, tuple[object, ...]]:
    if not prefix:
        return "", ()
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return " AND source_key LIKE %s", (escaped + "%",)


def status(
    conn: MySQLConnectionAbstract,
    since: date | None = None,
    prefix: str | None = None,
    limit: int = 20,
) -> Status:
    """The state of the loads: recent attempts, problems, stuck attempts, rows per trade date.

    Rows per trade date come from ``fund_data_days`` (kept exact by every load): instant at
    any size, fund_data itself is never counted. With ``since``: the loads started since that
    day, the trade dates from it. Without: the last ``limit`` loads, the problems of the last
    seven days, and the 31 days up to the latest trade date fund_data holds.
    """
    cur: Any = conn.cursor()
    where, params = _prefix(prefix)
    cur.execute(
        f"SELECT MIN(d_trade), MAX(d_trade), SUM(row_count), NOW() FROM {sql.DAYS_TABLE} "
        "WHERE row_count > 0"
    )
    oldest, latest, total, now = cur.fetchone()
    if since is None:
        days_from = (latest or now.date()) - timedelta(days=30)
        recent = _attempts(cur, f"TRUE{where}", params, limit)
        moment = now - timedelta(days=PROBLEM_DAYS)
    else:
        days_from, moment = since, datetime.combine(since, datetime.min.time())
        recent = _attempts(cur, f"started_at >= %s{where}", (moment, *params), limit)
    failed = f"status IN ('rejected', 'failed') AND started_at >= %s{where}"
    problems = _attempts(cur, failed, (moment, *params), limit)
    loading = _attempts(cur, f"status = 'loading'{where}", params, 1000)
    stuck = [a for a in loading if not ledger.lock_held(conn, a.id)]
    stuck_ids = {a.id for a in stuck}
    recent = [_mark(a, stuck_ids) for a in recent]
    days = flag_days([(d, n) for d, n in rows_by_day(cur, days_from) if n > 0])
    cur.close()
    conn.commit()
    held = Held(oldest, latest, int(total or 0))
    return Status(days_from, recent, problems, [_mark(a, stuck_ids) for a in stuck], days, held)


def _mark(attempt: Attempt, stuck: set[int]) -> Attempt:
    if attempt.id not in stuck:
        return attempt
    return Attempt(**{**{k: getattr(attempt, k) for k in attempt.__slots__}, "stuck": True})


def flag_days(counts: list[tuple[date, int]], short_share: float = SHORT_SHARE) -> list[Day]:
    """Each date's rows; weekdays with none between the first and the last date as
    ``missing``, dates under ``short_share`` of the median day as ``short``."""
    if not counts:
        return []
    median = statistics.median(n for _, n in counts)
    held = dict(counts)
    days = []
    day, last = counts[0][0], counts[-1][0]
    while day <= last:
        if day in held:
            short = held[day] < short_share * median
            days.append(Day(day, held[day], "short" if short else None))
        elif day.weekday() < 5:
            days.append(Day(day, 0, "missing"))
        day += timedelta(days=1)
    return days


def mark_abandoned(conn: MySQLConnectionAbstract, prefix: str | None = None) -> int:
    """Mark every stuck ``loading`` row (its process gone) as ``abandoned``; how many."""
    cur: Any = conn.cursor()
    where, params = _prefix(prefix)
    cur.execute(
        f"SELECT DISTINCT source_key FROM {ledger.LEDGER_TABLE} WHERE status = 'loading'{where}",
        params,
    )
    keys = [str(k) for (k,) in cur.fetchall()]
    cur.close()
    return sum(ledger.abandon_stale(conn, key) for key in keys)


def history(conn: MySQLConnectionAbstract, source: str, limit: int = 1000) -> list[Attempt]:
    """Every attempt of one source, oldest first."""
    cur: Any = conn.cursor()
    attempts = _attempts(cur, "source_key_hash = %s", (key_hash(source),), limit)
    cur.close()
    conn.commit()
    stuck = {a.id for a in attempts if a.status == "loading" and not ledger.lock_held(conn, a.id)}
    return [_mark(a, stuck) for a in reversed(attempts)]


@dataclass(frozen=True, slots=True)
class Change:
    """What a source's last load changed: its ledger row and, per trade date, the rows of the
    file and (when asked) the rows fund_data still holds as that source wrote them."""

    attempt: Attempt
    days: list[tuple[date, int, int | None]]
    """(trade date, rows in the file, rows whose lineage is still this source or None)."""


def last_change(conn: MySQLConnectionAbstract, source: str, held: bool = False) -> Change | None:
    """The latest successful load (or revert) of a source and what it changed; None if it
    never loaded.
    ``held``: also count, per trade date, the rows still as it wrote them (reads each of its
    days of fund_data: seconds on a large table; the rest reads only the ledger)."""
    cur: Any = conn.cursor()
    which = "source_key_hash = %s AND status IN ('loaded', 'reverted')"
    loaded = _attempts(cur, which, (key_hash(source),), 1)
    if not loaded:
        cur.close()
        conn.commit()
        return None
    attempt = loaded[0]
    still = (
        "(SELECT COUNT(*) FROM fund_data f WHERE f.d_trade = d.d_trade AND f.s3_source_key = %s)"
        if held
        else "NULL"
    )
    cur.execute(
        f"SELECT d.d_trade, d.rows_in_file, {still} FROM {ledger.DAYS_TABLE} d "
        "WHERE d.load_id = %s ORDER BY d.d_trade",
        (source, attempt.id) if held else (attempt.id,),
    )
    days = [(d, int(n), None if k is None else int(k)) for d, n, k in cur.fetchall()]
    cur.close()
    conn.commit()
    return Change(attempt, days)
