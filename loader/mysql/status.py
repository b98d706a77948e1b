"""What the ledger and fund_data say, for the operator: recent loads, problems, stuck attempts,
rows per trade date with the missing and short days, one source's history and last change.

Read-only queries (the statements are built here, run by the small functions below); the
command line (``fundsync status``, ``history``, ``show``) prints what they return.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
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
    "digest, deleted, quality, acked_at, acked_by, ack_note"
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
    quality: str | None = None
    """The quality gate's findings (JSON), if any."""
    acked_at: datetime | None = None
    acked_by: str | None = None
    ack_note: str | None = None
    stuck: bool = False
    """A ``loading`` row whose process or connection is gone (its named lock is free)."""
    resolved_by: int | None = None
    """A later attempt of the same source that loaded (or found it loaded): the problem is
    over."""

    @property
    def settled(self) -> bool:
        """A problem that needs no look: resolved by a later load, or acknowledged."""
        return self.resolved_by is not None or self.acked_at is not None

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
class StatusReport:
    since: date
    recent: list[Attempt]
    problems: list[Attempt]
    stuck: list[Attempt]
    days: list[Day] = field(default_factory=list)
    held: Held = field(default_factory=Held)
    held_files: list[Attempt] = field(default_factory=list)
    """Files the quality gate kept out, not yet released or discarded."""
    warned: list[Attempt] = field(default_factory=list)
    """Loads with quality warnings in the window, not acknowledged."""
    late: list[date] = field(default_factory=list)
    """Expected trade dates with no loaded file past their deadline (freshness)."""

    @property
    def flagged(self) -> list[Day]:
        return [d for d in self.days if d.flag]

    @property
    def needs_look(self) -> list[str]:
        """Why ``status`` exits 1: what still needs a look, one line each (empty: all well)."""
        reasons = []
        open_problems = [a for a in self.problems if not a.settled]
        if open_problems:
            reasons.append(f"{len(open_problems)} rejected or failed load(s) not resolved by a "
                           "later load nor acknowledged")  # fmt: skip
        if self.held_files:
            reasons.append(f"{len(self.held_files)} file(s) held by the quality gate")
        if self.warned:
            reasons.append(f"{len(self.warned)} load(s) with quality warnings not acknowledged")
        if self.stuck:
            reasons.append(f"{len(self.stuck)} attempt(s) stuck in 'loading'")
        if self.late:
            reasons.append(f"{len(self.late)} trade date(s) past their deadline with no file")
        if self.flagged:
            reasons.append(f"{len(self.flagged)} trade date(s) flagged missing or short")
        return reasons


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


@dataclass(frozen=True, slots=True)
class Calendar:
    """The trade dates a file is expected for (weekdays, less ``holidays``), and when: by
    ``deadline`` (local time of the session's zone) on the next calendar day; no deadline, no
    freshness check (``FUNDSYNC_DEADLINE`` turns it on)."""

    holidays: frozenset[date] = frozenset()
    deadline: time | None = None

    @classmethod
    def of(cls, holidays: str | None = None, deadline: str | None = None) -> Calendar:
        """From the settings: ``holidays`` a file of dates (one per line, ``#`` comments) or
        dates separated by commas; ``deadline`` ``HH:MM``."""
        import os
        import re

        from loader.errors import ConfigError

        text = holidays or ""
        if text and os.path.isfile(text):
            with open(text, encoding="utf-8") as handle:
                text = "\n".join(line.split("#", 1)[0] for line in handle)
        try:
            days = frozenset(date.fromisoformat(t) for t in re.split(r"[\s,]+", text) if t)
            due = None if not deadline else time.fromisoformat(deadline.strip())
        except ValueError as error:
            raise ConfigError(f"calendar: {error} (holidays YYYY-MM-DD, deadline HH:MM)") from None
        return cls(days, due)

    def expected(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def late(self, held: set[date], now: datetime, days: int = PROBLEM_DAYS) -> list[date]:
        """Expected trade dates of the last ``days`` days past their deadline with no row."""
        out: list[date] = []
        if self.deadline is None:
            return out
        for back in range(days, 0, -1):
            day = now.date() - timedelta(days=back)
            due = datetime.combine(day + timedelta(days=1), self.deadline)
            if self.expected(day) and now > due and day not in held:
                out.append(day)
        return out


def status(
    conn: MySQLConnectionAbstract,
    since: date | None = None,
    prefix: str | None = None,
    limit: int = 20,
    calendar: Calendar | None = None,
) -> StatusReport:
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
    problems = [_resolved(cur, a) for a in _attempts(cur, failed, (moment, *params), limit)]
    held_files = _attempts(cur, f"status = 'held' AND acked_at IS NULL{where}", params, limit)
    warning = "status = 'loaded' AND quality IS NOT NULL AND acked_at IS NULL AND started_at >= %s"
    warned = _attempts(cur, f"{warning}{where}", (moment, *params), limit)
    loading = _attempts(cur, f"status = 'loading'{where}", params, 1000)
    stuck = [a for a in loading if not ledger.lock_held(conn, a.id)]
    stuck_ids = {a.id for a in stuck}
    recent = [_mark(a, stuck_ids) for a in recent]
    calendar = calendar or Calendar()
    counts = [(d, n) for d, n in rows_by_day(cur, days_from) if n > 0]
    days = flag_days(counts, calendar=calendar, funds=_funds_by_day(cur, days_from))
    window = now.date() - timedelta(days=PROBLEM_DAYS + 1)
    loaded_days = {d for d, n in rows_by_day(cur, window) if n > 0}
    late = calendar.late(loaded_days, now) if since is None else []
    cur.close()
    conn.commit()
    held = Held(oldest, latest, int(total or 0))
    stuck = [_mark(a, stuck_ids) for a in stuck]
    return StatusReport(days_from, recent, problems, stuck, days, held, held_files, warned, late)


def _resolved(cur: Any, attempt: Attempt) -> Attempt:
    """The problem, marked resolved when a later attempt of its source loaded it (or found it
    loaded: a skip)."""
    cur.execute(
        f"SELECT MIN(id) FROM {ledger.LEDGER_TABLE} WHERE source_key_hash = %s AND id > %s "
        "AND status IN ('loaded', 'skipped')",
        (key_hash(attempt.source), attempt.id),
    )
    (later,) = cur.fetchone()
    if later is None:
        return attempt
    return Attempt(**{**{k: getattr(attempt, k) for k in attempt.__slots__}, "resolved_by": later})


def _mark(attempt: Attempt, stuck: set[int]) -> Attempt:
    if attempt.id not in stuck:
        return attempt
    return Attempt(**{**{k: getattr(attempt, k) for k in attempt.__slots__}, "stuck": True})


def flag_days(
    counts: list[tuple[date, int]],
    short_share: float = SHORT_SHARE,
    calendar: Calendar | None = None,
    funds: dict[date, int] | None = None,
) -> list[Day]:
    """Each date's rows; expected dates (weekdays, not holidays) with none between the first
    and the last date as ``missing``, dates under ``short_share`` of the median day as
    ``short``, dates whose whole-day file held fewer funds than the date before (more than
    5% fewer) as ``fewer funds``."""
    if not counts:
        return []
    calendar = calendar or Calendar()
    funds = funds or {}
    median = statistics.median(n for _, n in counts)
    held = dict(counts)
    days = []
    day, last = counts[0][0], counts[-1][0]
    previous_funds = None
    while day <= last:
        if day in held:
            flag = "short" if held[day] < short_share * median else None
            mine = funds.get(day)
            if flag is None and mine and previous_funds and mine < 0.95 * previous_funds:
                flag = f"fewer funds ({mine:,}, {previous_funds:,} the date before)"
            previous_funds = mine or previous_funds
            days.append(Day(day, held[day], flag))
        elif calendar.expected(day):
            days.append(Day(day, 0, "missing"))
        day += timedelta(days=1)
    return days


def _funds_by_day(cur: Any, first: date) -> dict[date, int]:
    """The funds of each trade date's whole-day file (the quality gate's profile)."""
    cur.execute(
        "SELECT d_trade, COUNT(*) FROM fund_data_day_funds WHERE d_trade >= %s GROUP BY d_trade",
        (first,),
    )
    return {d: int(n) for d, n in cur.fetchall()}


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
