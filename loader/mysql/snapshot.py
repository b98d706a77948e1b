"""Whole-day snapshots (``--mode replace-days``): keys of the file's trade dates it lacks go.

After the merge, in its transaction: per fund of each of the file's trade
dates, the rows ``fund_data`` holds (a locking read) against the rows of the
file. A fund the file does not hold loses all its rows of that date; a fund
with more rows than the file loses the keys the file lacks. The share of a
day deleted is checked before anything is deleted (a truncated export looks
like a mass delete); the deleted rows must add up to what the counts said.
A file none of whose dates existed (the fast path) deletes nothing; neither
does one older than a file already loaded for its dates (it fills gaps only,
like an upsert: the newer file is the snapshot).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from loader.errors import MassDeleteRefused, MergeCountMismatch
from loader.mysql import sql
from loader.mysql.digest import funds_by_day
from loader.prepare.digest import keys_frame

_GROUP = ["d_trade", "stock"]
_HELD = {"d_trade": pl.Date, "stock": pl.String, "held": pl.Int64}


def delete_missing(
    cur: Any,
    key: str,
    rows: pl.DataFrame,
    max_share: float | None,
    before: pl.DataFrame | None = None,
    proven: pl.DataFrame | None = None,
) -> int:
    """Delete the keys of the file's trade dates that ``rows`` (the file) lacks; returns how
    many. Raises :class:`MassDeleteRefused` before deleting anything when a day would lose
    more than ``max_share`` of its rows.

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
    _guard(key, groups, max_share)
    deleted = 0
    gone = groups.filter(pl.col("file_rows").is_null())
    for day, batch in funds_by_day(gone):
        cur.execute(sql.delete_groups(len(batch)), [day, *batch])
        deleted += int(cur.rowcount)
    partial = groups.filter(pl.col("file_rows").is_not_null() & (pl.col("extra") > 0))
    for day, stock in partial.select(_GROUP).iter_rows():
        kept = keys.filter((pl.col("d_trade") == day) & (pl.col("stock") == stock))
        pairs = [v for pair in kept.select("ticker", "col_code").iter_rows() for v in pair]
        cur.execute(sql.delete_group_except(kept.height), [day, stock, *pairs])
        deleted += int(cur.rowcount)
    expected = int(groups["extra"].sum() or 0)
    if deleted != expected:
        raise MergeCountMismatch(
            f"{key}: replace-days deleted {deleted} rows where the counts said {expected}"
        )
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


def _guard(key: str, groups: pl.DataFrame, max_share: float | None) -> None:
    if max_share is None:
        return
    days = (
        groups.group_by("d_trade")
        .agg(pl.col("held").sum(), pl.col("extra").sum())
        .filter(pl.col("extra") > max_share * pl.col("held"))
        .sort("d_trade")
    )
    if days.is_empty():
        return
    parts = [
        f"{d} would lose {extra:,} of its {held:,} rows ({extra / held:.1%})"
        for d, held, extra in days.select("d_trade", "held", "extra").iter_rows()
    ]
    raise MassDeleteRefused(
        f"{key}: replace-days refused, nothing written: {'; '.join(parts)}; the limit is "
        f"{max_share:.0%} of a day (--max-delete-share), or --allow-mass-delete"
    )
