"""The trade dates fund_data holds (``fund_data_days``): one lock per date, and exact counts.

Every load takes the rows of its trade dates first, in date order, inside its transaction
(:func:`lock_days`): two loads of one date run one after the other, so the second sees
what the first committed (a second replace-days snapshot of a new date cannot slip in
beside the first through the direct path), and a crash releases the locks with the rest.
Every load also keeps each date's ``row_count`` exact in the same transaction
(:func:`count_changes`), so the operator's views read one row per date instead of
counting fund_data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from loader.mysql import sql

BATCH = 500


def lock_days(cur: Any, days: Iterable[date]) -> None:
    """Lock these trade dates' rows (made, counting 0, when new) until the transaction ends."""
    ordered = sorted(set(days))
    for start in range(0, len(ordered), BATCH):
        batch = ordered[start : start + BATCH]
        cur.execute(sql.lock_days(len(batch)), batch)


def empty_days(cur: Any, days: Iterable[date]) -> set[date]:
    """The trade dates among ``days`` that fund_data holds no row of (after :func:`lock_days`)."""
    ordered = sorted(set(days))
    if not ordered:
        return set()
    marks = ", ".join(["%s"] * len(ordered))
    cur.execute(f"SELECT d_trade FROM {sql.DAYS_TABLE} WHERE d_trade IN ({marks}) "
                "AND row_count > 0", ordered)  # fmt: skip
    return set(ordered) - {d for (d,) in cur.fetchall()}


def new_keys_by_day(cur: Any, stage: str) -> dict[date, int]:
    """Per trade date, the staged rows whose key fund_data does not hold: what the merge will
    insert (read before it, under this load's day locks)."""
    cur.execute(sql.new_keys_by_day(stage))
    return {day: int(n) for day, n in cur.fetchall()}


def count_changes(
    cur: Any, ledger_id: int, inserted: Mapping[date, int], deleted: Mapping[date, int]
) -> None:
    """Add each date's inserted rows and take away its deleted ones; every date of the load
    records it as the date's last load."""
    for day in sorted(set(inserted) | set(deleted)):
        change = inserted.get(day, 0) - deleted.get(day, 0)
        cur.execute(sql.COUNT_DAY_CHANGE, (change, ledger_id, day))


def rows_by_day(cur: Any, first: date | None = None) -> list[tuple[date, int]]:
    """Every trade date held (from ``first`` on) and its rows, in date order."""
    cur.execute(sql.DAYS_FROM, (first or date.min,))
    return [(day, int(n)) for day, n in cur.fetchall()]
