"""Retention: ``fundsync prune --before DATE`` removes the trade dates older than DATE.

Each trade date goes in one transaction of its own, under the date's lock (the loads' lock:
:mod:`loader.mysql.days`): its rows deleted, its ``fund_data_days`` row removed, and a
ledger row recording it (status ``pruned``, the date and its rows in
``fund_data_load_days``, ``deleted``), committed together. A crash mid-prune leaves the
dates before it pruned and recorded, the rest untouched; the same command again finishes
the job. A date is deleted in statements of at most :data:`BATCH_ROWS` rows within that
transaction, so its undo stays bounded in each statement.

**The guard.** A prune that would remove more than ``max_share`` of the rows fund_data holds
(25% by default) is refused unless it names the plan of a ``--dry-run`` of the same
``--before`` date recorded in the last :data:`PLAN_DAYS` days (``--plan ID``): the operator
has seen the dates and the counts first. A dry-run is recorded too (status ``planned``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from mysql.connector.abstracts import MySQLConnectionAbstract

from loader.errors import MassDeleteRefused
from loader.mysql import changes, ledger, sql
from loader.mysql.days import lock_days
from loader.sources import SourceIdentity

DEFAULT_MAX_SHARE = 0.25
PLAN_DAYS = 7
BATCH_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class PrunePlan:
    """What a prune before ``before`` removes: each trade date and its rows, of ``held``."""

    before: date
    days: tuple[tuple[date, int], ...]
    held: int

    @property
    def rows(self) -> int:
        return sum(n for _, n in self.days)

    @property
    def share(self) -> float:
        return self.rows / self.held if self.held else 0.0

    @property
    def key(self) -> str:
        return f"fundsync prune --before {self.before.isoformat()}"


def plan(conn: MySQLConnectionAbstract, before: date) -> PrunePlan:
    """The trade dates held before ``before`` (from the day counts: no scan)."""
    cur: Any = conn.cursor()
    cur.execute(
        f"SELECT d_trade, row_count FROM {sql.DAYS_TABLE} WHERE d_trade < %s ORDER BY d_trade",
        (before,),
    )
    days = tuple((d, int(n)) for d, n in cur.fetchall())
    cur.execute(f"SELECT COALESCE(SUM(row_count), 0) FROM {sql.DAYS_TABLE}")
    (held,) = cur.fetchone()
    cur.close()
    conn.commit()
    return PrunePlan(before, days, int(held))


def record_plan(conn: MySQLConnectionAbstract, planned: PrunePlan) -> int:
    """Record a dry-run in the ledger (status ``planned``); its id, for ``--plan``."""
    report = {"status": "planned", "deleted": planned.rows, "method": "prune"}
    ledger_id = ledger.record(conn, _identity(planned), report, _summary(planned), 0.0)
    cur: Any = conn.cursor()
    ledger.record_days(cur, ledger_id, planned.days)
    cur.close()
    conn.commit()
    return ledger_id


def check_guard(
    conn: MySQLConnectionAbstract, planned: PrunePlan, max_share: float, plan_id: int | None
) -> None:
    """Refuse a prune over ``max_share`` of the rows held without a recent matching plan."""
    if planned.share <= max_share:
        return
    if plan_id is not None and _plan_matches(conn, planned, plan_id):
        return
    raise MassDeleteRefused(
        f"prune refused, nothing removed: it would remove {planned.rows:,} of the "
        f"{planned.held:,} rows fund_data holds ({planned.share:.1%}, over the "
        f"{max_share:.0%} limit): run it with --dry-run first, then again with --plan ID"
    )


def _plan_matches(conn: MySQLConnectionAbstract, planned: PrunePlan, plan_id: int) -> bool:
    cur: Any = conn.cursor()
    cur.execute(
        f"SELECT source_key FROM {ledger.LEDGER_TABLE} WHERE id = %s AND status = 'planned' "
        "AND started_at >= NOW(6) - INTERVAL %s DAY",
        (plan_id, PLAN_DAYS),
    )
    row = cur.fetchone()
    cur.close()
    conn.commit()
    return row is not None and str(row[0]) == planned.key


def prune_day(conn: MySQLConnectionAbstract, planned: PrunePlan, day: date) -> int:
    """Remove one trade date and record it, in one transaction; the rows removed."""
    conn.start_transaction(isolation_level="READ COMMITTED")
    try:
        cur: Any = conn.cursor()
        lock_days(cur, [day])
        removed = 0
        while True:
            cur.execute(sql.PRUNE_BATCH, (day, BATCH_ROWS))
            removed += int(cur.rowcount)
            if cur.rowcount < BATCH_ROWS:
                break
        cur.execute(f"DELETE FROM {sql.DAYS_TABLE} WHERE d_trade = %s", (day,))
        changes.forget_day(cur, day)
        report = {"status": "pruned", "deleted": removed, "method": "prune"}
        note = f"pruned {day}: {removed:,} rows"
        ledger_id = ledger.record(conn, _identity(planned), report, note, 0.0, commit=False)
        ledger.record_days(cur, ledger_id, [(day, removed)])
        cur.close()
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return removed


def _identity(planned: PrunePlan) -> SourceIdentity:
    return SourceIdentity(planned.key, "", 0)


def _summary(planned: PrunePlan) -> str:
    if not planned.days:
        return f"nothing held before {planned.before}"
    first, last = planned.days[0][0], planned.days[-1][0]
    return (
        f"would remove {planned.rows:,} rows of {len(planned.days)} trade date(s), {first} to "
        f"{last} ({planned.share:.1%} of {planned.held:,})"
    )
