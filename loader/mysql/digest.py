"""The digest pre-pass: groups of a file that ``fund_data`` already holds exactly are never staged.

A correction that changes 1% of a day used to stage, join and compare every
row of the day on the server. Instead, per (trade date, fund) the server's
count and digest of what it holds (:func:`loader.mysql.sql.group_digests`, a
locking read) are compared with the client's of the parsed rows
(:mod:`loader.prepare.digest`); only the groups that differ go on to the
staging table, the unchanged-row pre-pass and the merge. The rows of equal
groups are counted as unchanged: their stored values, lineage and
``synced_at`` stay as they are, as the merge would have left them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import polars as pl

from loader.mysql import sql
from loader.prepare.digest import group_digests, typed, without_groups
from loader.prepare.staging import StagingStream, StagingText

STOCKS_PER_QUERY = 5_000
WHOLE_DAY_FUNDS = 1_000
"""A file with at least this many funds on each of its trade dates reads the whole dates'
digests (one key range per date; measured ~2x faster than 50,000 one-fund ranges, and
computed while the client computes its own); a smaller file names its funds."""

_SCHEMA = {"d_trade": pl.Date, "stock": pl.String, "rows": pl.UInt32, "digest": pl.String}


def server_digests(cur: Any, groups: pl.DataFrame, whole_days: bool = False) -> pl.DataFrame | None:
    """What fund_data holds for these (d_trade, stock) groups: d_trade, stock, rows, digest;
    with ``whole_days``, for every fund of the groups' trade dates.

    None when the server truncated a group's text (a warning): no digest is then trusted.
    """
    cur.execute(sql.GROUP_CONCAT_LIMIT)
    found: list[tuple[date, str, int, str]] = []
    for (day,), funds in groups.group_by("d_trade", maintain_order=True):
        if whole_days:
            batches: list[list[str] | None] = [None]
        else:
            stocks = funds["stock"].to_list()
            batches = [
                stocks[start : start + STOCKS_PER_QUERY]
                for start in range(0, len(stocks), STOCKS_PER_QUERY)
            ]
        for batch in batches:
            cur.execute(
                sql.group_digests(None if batch is None else len(batch)), [day, *(batch or [])]
            )
            found.extend(cur.fetchall())
            if cur.warning_count:
                return None
    return pl.DataFrame(found, schema=_SCHEMA, orient="row")


def unchanged_groups(cur: Any, staging: StagingText) -> tuple[StagingText, int]:
    """The staging text without the groups fund_data holds exactly, and how many rows those
    groups have. The same text when no group matched."""
    rows = typed(staging.frame())
    order = staging.order if isinstance(staging, StagingStream) else None
    funds = rows.group_by("d_trade").agg(pl.col("stock").n_unique().alias("funds"))
    if funds["funds"].min() >= WHOLE_DAY_FUNDS:  # type: ignore[operator]
        with ThreadPoolExecutor(1) as pool:  # Polars works while the server does
            computing = pool.submit(group_digests, rows, order)
            theirs = server_digests(cur, funds.select("d_trade"), whole_days=True)
            mine = computing.result()
    else:
        mine = group_digests(rows, order)
        theirs = server_digests(cur, mine.select("d_trade", "stock"))
    if theirs is None or theirs.is_empty():
        return staging, 0
    same = mine.join(theirs, on=["d_trade", "stock", "rows", "digest"], how="inner")
    if same.is_empty():
        return staging, 0
    rest = without_groups(rows, same)
    return StagingStream(rest), rows.height - rest.height
