"""The digest pre-pass: groups of a file that ``fund_data`` already holds exactly are never staged.

A correction that changes 1% of a day used to stage, join and compare every
row of the day on the server. Instead, per (trade date, fund) the server's
count and digest of what it holds (:func:`loader.mysql.sql.group_digests`, a
locking read) are compared with the client's of the parsed rows
(:mod:`loader.prepare.digest`); only the groups that differ go on to the
staging table, the unchanged-row pre-pass and the merge. The rows of equal
groups are counted as unchanged: their stored values, lineage and
``synced_at`` stay as they are, as the merge would have left them. The client's digests
are the staged rows' own (:meth:`~loader.prepare.staging.StagedRows.digests`, computed
once: the proof after the merge uses the same). :mod:`loader.mysql.proof` proves a load
with the same digests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from loader.mysql import sql
from loader.prepare.digest import funds_per_day
from loader.prepare.staging import StagedRows

STOCKS_PER_QUERY = 5_000
WHOLE_DAY_FUNDS = 1_000
"""A file with at least this many funds on each of its trade dates reads the whole dates'
digests (one key range per date; measured ~2x faster than 50,000 one-fund ranges, and
computed while the client computes its own); a smaller file names its funds."""

SCHEMA = {"d_trade": pl.Date, "stock": pl.String, "rows": pl.UInt32, "digest": pl.String}
_SCHEMA_WITH_BYTES = {**SCHEMA, "text_bytes": pl.Int64}


def server_digests(
    cur: Any, groups: pl.DataFrame, whole_days: bool = False, lock: bool = True
) -> pl.DataFrame:
    """What fund_data holds for these (d_trade, stock) groups: d_trade, stock, rows, digest;
    with ``whole_days``, for every fund of the groups' trade dates.

    A group whose canonical text is longer than the server can concatenate (its
    ``group_concat_max_len`` and ``max_allowed_packet``: 16 MiB on MariaDB by default) has
    no digest (null): it is never taken as unchanged, and verification compares its rows
    one by one (:func:`loader.mysql.proof.digests_of_file_keys`).
    """
    cur.execute(sql.GROUP_CONCAT_LIMIT)
    cur.execute(sql.CONCAT_LIMIT)
    (limit,) = cur.fetchone()
    found: list[tuple[date, str, int, str, int]] = []
    queries: Iterable[tuple[date, list[str] | None]] = (
        [(day, None) for day in groups["d_trade"].unique(maintain_order=True)]
        if whole_days
        else funds_by_day(groups)
    )
    for day, batch in queries:
        statement = sql.group_digests(None if batch is None else len(batch), lock)
        cur.execute(statement, [day, *(batch or [])])
        found.extend(cur.fetchall())
    frame = pl.DataFrame(found, schema=_SCHEMA_WITH_BYTES, orient="row")
    too_long = pl.col("text_bytes") > int(limit)
    return frame.select(
        "d_trade",
        "stock",
        "rows",
        pl.when(too_long).then(None).otherwise(pl.col("digest")).alias("digest"),
    )


def funds_by_day(groups: pl.DataFrame) -> Iterator[tuple[date, list[str]]]:
    """The funds of these (d_trade, stock) groups a statement's worth at a time: (trade date,
    up to ``STOCKS_PER_QUERY`` funds and :data:`~loader.mysql.sql.STATEMENT_BUDGET` bytes),
    in the groups' order."""
    for (day,), funds in groups.group_by("d_trade", maintain_order=True):
        stocks = [(str(s),) for s in funds["stock"].to_list()]
        for batch in sql.by_bytes(stocks, most=STOCKS_PER_QUERY):
            yield day, [stock for (stock,) in batch]


@dataclass(frozen=True)
class Narrowed:
    """The digest pre-pass's result: the staging text left, and what it proved."""

    staging: StagedRows
    unchanged: int = 0
    """Rows of the groups fund_data already held exactly (not staged)."""
    proven: pl.DataFrame | None = None
    """The groups (d_trade, stock) proven equal under this load's shared locks."""
    held: pl.DataFrame | None = None
    """When the whole trade dates were read: every (d_trade, stock) group fund_data held
    of them before the merge, with its rows (under this load's shared locks)."""


def reads_whole_days(funds: pl.DataFrame) -> bool:
    """Whether every trade date holds so many funds (``funds``: per d_trade, as
    :func:`~loader.prepare.digest.funds_per_day` counts them) that reading whole dates is
    cheaper than naming the funds."""
    return bool(funds.height) and int(funds["funds"].min()) >= WHOLE_DAY_FUNDS  # type: ignore[arg-type]


def unchanged_groups(cur: Any, staging: StagedRows) -> Narrowed:
    """The staged rows without the groups fund_data holds exactly, and how many rows those
    groups have. The same rows when no group matched."""
    rows = staging.rows
    if rows.is_empty():
        return Narrowed(staging)
    funds = funds_per_day(rows)
    whole_days = reads_whole_days(funds)
    if whole_days:
        with ThreadPoolExecutor(1) as pool:  # Polars works while the server does
            computing = pool.submit(staging.digests)
            theirs = server_digests(cur, funds.select("d_trade"), whole_days=True)
            mine = computing.result()
    else:
        mine = staging.digests()
        theirs = server_digests(cur, mine.select("d_trade", "stock"))
    held = theirs.select("d_trade", "stock", "rows") if whole_days else None
    if theirs.is_empty():
        return Narrowed(staging, held=held)
    same = mine.join(theirs, on=["d_trade", "stock", "rows", "digest"], how="inner")
    if same.is_empty():
        return Narrowed(staging, held=held)
    rest = staging.without(same)
    proven = same.select("d_trade", "stock")
    return Narrowed(rest, rows.height - rest.height, proven, held)


STORED_SCHEMA = {
    "d_trade": pl.Date,
    "stock": pl.String,
    "ticker": pl.String,
    "col_code": pl.String,
    "stored_numeric": pl.String,
    "stored_text": pl.String,
    "stored_source": pl.String,
}


def stored_rows(cur: Any, groups: pl.DataFrame, lock: bool = False) -> pl.DataFrame:
    """Every row fund_data holds in these (d_trade, stock) groups, values as printed (the
    canonical text's numeric form) and the source that last changed each (``lock``: with
    shared locks, held to the commit)."""
    found: list[tuple[Any, ...]] = []
    for day, batch in funds_by_day(groups):
        cur.execute(sql.stored_rows_of_groups(len(batch), lock), [day, *batch])
        found.extend(cur.fetchall())
    return pl.DataFrame(found, schema=STORED_SCHEMA, orient="row")
