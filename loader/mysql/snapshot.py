"""Whole-day snapshots (``--mode replace-days``): keys of the file's trade dates it lacks go.

After the merge, in its transaction, under the load's locks on its trade dates: per fund
of each of the file's trade dates, the rows ``fund_data`` holds (a locking read) against
the rows of the file. A fund the file does not hold loses all its rows of that date; a
fund with more rows than the file loses the keys the file lacks (read from the server
and deleted by key, in statements of bounded size however many keys a fund holds).

The share of a day deleted is checked before anything is deleted (a truncated export
looks like a mass delete): it is the share of the rows the day held **before** this load,
so a file of all-new keys cannot pass a 10% limit by counting its own rows. The rows
deleted must add up to what the counts said; when they do not, another writer changed
the date during the load: a conflict, retried. A file none of whose dates existed (the
fast path) deletes nothing; neither does one older than a file already loaded for its
dates (it fills gaps only, like an upsert: the newer file is the snapshot).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date
from typing import Any

import polars as pl

from loader.errors import ConcurrentWrite, MassDeleteRefused
from loader.mysql import changes, sql
from loader.mysql.digest import funds_by_day
from loader.prepare.digest import keys_frame

_GROUP = ["d_trade", "stock"]
_HELD = {"d_trade": pl.Date, "stock": pl.String, "held": pl.Int64}


def delete_missing(
    cur: Any,
    key: str,
    rows: pl.DataFrame,
    max_share: float | None,
    inserted: Mapping[date, int],
    before: pl.DataFrame | None = None,
    proven: pl.DataFrame | None = None,
) -> dict[date, int]:
    """Delete the keys of the file's trade dates that ``rows`` (the file) lacks; returns how
    many per date. Raises :class:`MassDeleteRefused` before deleting anything when a day
    would lose more than ``max_share`` of the rows it held before this load
    (``inserted``: the rows this load's merge inserted per date).

    ``before``: every (d_trade, stock) group of the file's dates with the rows fund_data held
    before the merge, read under this transaction's shared locks (the digest pre-pass's
    whole-day read); ``proven``: the groups it proved equal (not staged). Then only the
    groups the merge wrote are counted again, not the whole days."""
    keys = keys_frame(rows)
    mine = keys.group_by(_GROUP).agg(pl.len().alias("file_rows"))
    groups = (
        _held(cur, keys, before, proven)
        .join(mine, on=_GROUP, how="left")
        .with_columns(extra=pl.col("held") - pl.col("file_rows").fill_null(0))
    )
    _guard(key, groups, max_share, inserted)
    deleted: Counter[date] = Counter()
    gone = groups.filter(pl.col("file_rows").is_null())
    for day, batch in funds_by_day(gone):
        deleted[day] += _delete(cur, sql.delete_groups(len(batch)), [day, *batch])
    partial = groups.filter(pl.col("file_rows").is_not_null() & (pl.col("extra") > 0))
    for day, stock in partial.select(_GROUP).iter_rows():
        deleted[day] += _delete_keys_not_in(cur, keys, day, stock)
    expected = groups.group_by("d_trade").agg(pl.col("extra").sum())
    for day, extra in expected.iter_rows():
        if deleted[day] != extra:
            raise ConcurrentWrite(
                f"{key}: another writer changed trade date {day} during the load (replace-days "
                f"deleted {deleted[day]} rows where the counts said {extra}): rolled back"
            )
    return dict(deleted)


def _delete(cur: Any, statement: str, values: list[Any]) -> int:
    """Delete, the rows going logged first in the change log (:mod:`loader.mysql.changes`);
    how many were deleted."""
    cur.execute(changes.logged_delete(statement), values)
    cur.execute(statement, values)
    return int(cur.rowcount)


def _delete_keys_not_in(cur: Any, keys: pl.DataFrame, day: date, stock: str) -> int:
    """Delete the keys of one (d_trade, stock) group the file lacks, by key, in statements of
    bounded size; how many."""
    cur.execute(sql.group_keys(), (day, stock))
    held = pl.DataFrame(cur.fetchall(), schema=["ticker", "col_code"], orient="row")
    file_keys = keys.filter((pl.col("d_trade") == day) & (pl.col("stock") == stock))
    missing = held.join(
        file_keys.select("ticker", "col_code"), on=["ticker", "col_code"], how="anti"
    )
    pairs = list(missing.iter_rows())
    deleted = 0
    for batch in sql.by_bytes(pairs):
        values = [day, stock, *(v for pair in batch for v in pair)]
        deleted += _delete(cur, sql.delete_keys(len(batch)), values)
    return deleted


def _held(
    cur: Any, keys: pl.DataFrame, before: pl.DataFrame | None, proven: pl.DataFrame | None
) -> pl.DataFrame:
    """d_trade, stock, held: the rows fund_data holds now per fund of the file's dates."""
    counted: list[tuple[Any, ...]] = []
    if before is None:
        for day in keys["d_trade"].unique().sort().to_list():
            cur.execute(sql.group_counts(), [day])
            counted.extend(cur.fetchall())
        return pl.DataFrame(counted, schema=_HELD, orient="row")
    written = keys.select(_GROUP).unique()
    if proven is not None:
        written = written.join(proven, on=_GROUP, how="anti")
    # the groups the merge did not write hold what they held before
    known = before.join(written, on=_GROUP, how="anti").select(
        *_GROUP, pl.col("rows").cast(pl.Int64).alias("held")
    )
    for day, batch in funds_by_day(written.sort(_GROUP)):
        cur.execute(sql.group_counts(len(batch)), [day, *batch])
        counted.extend(cur.fetchall())
    return pl.concat([known, pl.DataFrame(counted, schema=_HELD, orient="row")])


def _guard(
    key: str, groups: pl.DataFrame, max_share: float | None, inserted: Mapping[date, int]
) -> None:
    """Refuse a day that would lose more than ``max_share`` of the rows it held before the
    load (its rows now, less those this load inserted)."""
    per_day = groups.group_by("d_trade").agg(pl.col("held").sum(), pl.col("extra").sum())
    days = {
        d: (int(held) - inserted.get(d, 0), int(extra))
        for d, held, extra in per_day.select("d_trade", "held", "extra").iter_rows()
    }
    _guard_days(key, days, max_share)


def delete_lacking(
    cur: Any,
    key: str,
    rows: pl.DataFrame,
    lacking: pl.DataFrame,
    held: Mapping[date, int],
    max_share: float | None,
) -> dict[date, int]:
    """replace-days after the diff (:mod:`loader.mysql.diff`): delete ``lacking`` (the keys
    of the file's dates that fund_data held and the file lacks, read with shared locks);
    ``held``: the rows each date held before the load (the guard's denominator). Whole funds
    the file lacks go by fund, the rest by key, in statements of bounded size."""
    extra = dict(lacking.group_by("d_trade").len().iter_rows())
    _guard_days(key, {d: (held.get(d, 0), n) for d, n in extra.items()}, max_share)
    file_funds = keys_frame(rows).select(_GROUP).unique()
    gone = lacking.select(_GROUP).unique().join(file_funds, on=_GROUP, how="anti")
    deleted: Counter[date] = Counter()
    for day, batch in funds_by_day(gone.sort(_GROUP)):
        deleted[day] += _delete(cur, sql.delete_groups(len(batch)), [day, *batch])
    partial = lacking.join(gone, on=_GROUP, how="anti")
    for (day, stock), group in partial.group_by(_GROUP, maintain_order=True):
        pairs = list(group.select("ticker", "col_code").iter_rows())
        for run in sql.by_bytes(pairs):
            values = [v for pair in run for v in pair]
            deleted[day] += _delete(cur, sql.delete_keys(len(run)), [day, stock, *values])
    for day, count in extra.items():
        if deleted[day] != count:
            raise ConcurrentWrite(
                f"{key}: another writer changed trade date {day} during the load (replace-days "
                f"deleted {deleted[day]} rows where the read said {count}): rolled back"
            )
    return dict(deleted)


def _guard_days(key: str, days: Mapping[date, tuple[int, int]], max_share: float | None) -> None:
    """Refuse when a date would lose more than ``max_share`` of the rows it held before."""
    if max_share is None:
        return
    over = sorted((d, h, e) for d, (h, e) in days.items() if e > max_share * h)
    if not over:
        return
    parts = [
        f"{d} would lose {e:,} of the {h:,} rows it held ({e / h:.1%})"
        if h
        else f"{d} would lose {e:,} rows"
        for d, h, e in over
    ]
    raise MassDeleteRefused(
        f"{key}: replace-days refused, nothing written: {'; '.join(parts)}; the limit is "
        f"{max_share:.0%} of a day (--max-delete-share), or --allow-mass-delete"
    )
