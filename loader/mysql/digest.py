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

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from loader.errors import VerificationFailed
from loader.mysql import sql
from loader.prepare.digest import (
    NUMERIC_DTYPE,
    group_digests,
    keys_frame,
    load_digest,
    typed,
    without_groups,
)
from loader.prepare.staging import StagingStream, StagingText

STOCKS_PER_QUERY = 5_000
WHOLE_DAY_FUNDS = 1_000
"""A file with at least this many funds on each of its trade dates reads the whole dates'
digests (one key range per date; measured ~2x faster than 50,000 one-fund ranges, and
computed while the client computes its own); a smaller file names its funds."""

_SCHEMA = {"d_trade": pl.Date, "stock": pl.String, "rows": pl.UInt32, "digest": pl.String}
_SCHEMA_WITH_BYTES = {**_SCHEMA, "text_bytes": pl.Int64}


def server_digests(
    cur: Any, groups: pl.DataFrame, whole_days: bool = False, lock: bool = True
) -> pl.DataFrame:
    """What fund_data holds for these (d_trade, stock) groups: d_trade, stock, rows, digest;
    with ``whole_days``, for every fund of the groups' trade dates.

    A group whose canonical text is longer than the server can concatenate (its
    ``group_concat_max_len`` and ``max_allowed_packet``: 16 MiB on MariaDB by default) has
    no digest (null): it is never taken as unchanged, and verification compares its rows
    one by one (:func:`digests_of_file_keys`).
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

    staging: StagingText
    unchanged: int = 0
    """Rows of the groups fund_data already held exactly (not staged)."""
    mine: pl.DataFrame | None = None
    """The client's group digests of the whole file (None: not computed)."""
    proven: pl.DataFrame | None = None
    """The groups (d_trade, stock) proven equal under this load's shared locks."""
    held: pl.DataFrame | None = None
    """When the whole trade dates were read: every (d_trade, stock) group fund_data held
    of them before the merge, with its rows (under this load's shared locks)."""


def unchanged_groups(cur: Any, staging: StagingText) -> Narrowed:
    """The staging text without the groups fund_data holds exactly, and how many rows those
    groups have. The same text when no group matched."""
    rows = typed(staging.frame())
    if rows.is_empty():
        return Narrowed(staging)
    order = _order_of(staging)
    funds = rows.group_by("d_trade").agg(pl.col("stock").n_unique().alias("funds"))
    whole_days = funds["funds"].min() >= WHOLE_DAY_FUNDS  # type: ignore[operator]
    if whole_days:
        with ThreadPoolExecutor(1) as pool:  # Polars works while the server does
            computing = pool.submit(group_digests, rows, order)
            theirs = server_digests(cur, funds.select("d_trade"), whole_days=True)
            mine = computing.result()
    else:
        mine = group_digests(rows, order)
        theirs = server_digests(cur, mine.select("d_trade", "stock"))
    held = theirs.select("d_trade", "stock", "rows") if whole_days else None
    if theirs.is_empty():
        return Narrowed(staging, mine=mine, held=held)
    same = mine.join(theirs, on=["d_trade", "stock", "rows", "digest"], how="inner")
    if same.is_empty():
        return Narrowed(staging, mine=mine, held=held)
    rest = without_groups(rows, same)
    proven = same.select("d_trade", "stock")
    return Narrowed(StagingStream(rest), rows.height - rest.height, mine, proven, held)


def _order_of(staging: StagingText) -> pl.Series | None:
    return staging.order if isinstance(staging, StagingStream) else None


def verify_load(
    cur: Any,
    key: str,
    staging: StagingText,
    mine: pl.DataFrame | None = None,
    proven: pl.DataFrame | None = None,
    kept_newer: pl.DataFrame | None = None,
) -> str:
    """Prove, inside the merge's transaction, that fund_data holds every key of the file with
    exactly the file's values; returns the load digest (:func:`load_digest`).

    ``mine``: the client's group digests when already computed; ``proven``: groups the
    pre-pass proved equal under this transaction's shared locks (not read again);
    ``kept_newer``: keys left as a newer file wrote them (not the file's to prove). A group
    the server holds more rows of than the file (keys the file lacks: an upsert keeps them)
    is compared over the file's keys only. Raises :class:`VerificationFailed` with both
    load digests.
    """
    rows = typed(staging.frame())
    order = _order_of(staging)
    if kept_newer is not None and not kept_newer.is_empty():
        rows = rows.with_columns(
            pl.col(c).cast(pl.String) for c in ("stock", "ticker", "col_code")
        ).join(kept_newer, on=["d_trade", "stock", "ticker", "col_code"], how="anti")
        order, mine = None, None
    if mine is None:
        mine = group_digests(rows, order)
    if mine.is_empty():
        return load_digest(mine)
    check = mine if proven is None else mine.join(proven, on=["d_trade", "stock"], how="anti")
    if check.is_empty():  # every group proven by the pre-pass, under this transaction's locks
        return load_digest(mine)
    whole = check.height * 2 >= mine.height  # else name the funds: a correction's few
    theirs = digests_of_file_keys(cur, check, rows, whole)
    expected = load_digest(check)
    found = load_digest(theirs)
    if expected == found:
        return load_digest(mine)
    differ = check.join(theirs, on=["d_trade", "stock"], how="left", suffix="_found").filter(
        (pl.col("rows") != pl.col("rows_found")).fill_null(True)
        | (pl.col("digest") != pl.col("digest_found")).fill_null(True)
    )
    first = differ.row(0, named=True) if differ.height else {}
    raise VerificationFailed(
        f"{key}: after the merge fund_data does not hold the file's values in "
        f"{differ.height} (trade date, fund) group(s); first {first.get('d_trade')} "
        f"{first.get('stock')!r}: expected {first.get('rows')} rows with digest "
        f"{first.get('digest')}, found {first.get('rows_found')} with "
        f"{first.get('digest_found')}; load digest expected {expected}, found {found}; "
        "rolled back",
        expected,
        found,
    )


def digests_of_file_keys(
    cur: Any, check: pl.DataFrame, rows: pl.DataFrame, whole: bool = True, lock: bool = True
) -> pl.DataFrame:
    """The server's digests of the groups in ``check``, over the file's keys only.

    A group the server holds more rows of than the file (keys an upsert keeps), or one too
    long for the server to digest, is read row by row and digested here over the file's
    keys, in statements of bounded size: no group is too large to prove. ``whole``: the
    groups are most of their dates' funds, so read whole dates when they are many (else
    name the funds)."""
    if check.is_empty():
        return pl.DataFrame(schema=_SCHEMA)
    funds = check.group_by("d_trade").agg(pl.len().alias("funds"))
    whole = whole and bool(funds["funds"].min() >= WHOLE_DAY_FUNDS)  # type: ignore[operator]
    theirs = server_digests(cur, check.select("d_trade", "stock"), whole_days=whole, lock=lock)
    theirs = theirs.join(check.select("d_trade", "stock"), on=["d_trade", "stock"], how="semi")
    by_rows = (
        theirs.join(check, on=["d_trade", "stock"], suffix="_file")
        .filter((pl.col("rows") > pl.col("rows_file")) | pl.col("digest").is_null())
        .select("d_trade", "stock")
    )
    if by_rows.is_empty():
        return theirs
    return pl.concat(
        [
            theirs.join(by_rows, on=["d_trade", "stock"], how="anti"),
            _digests_of_stored(cur, rows, by_rows),
        ]
    )


def _digests_of_stored(cur: Any, rows: pl.DataFrame, groups: pl.DataFrame) -> pl.DataFrame:
    """The digests of what fund_data holds in ``groups``, over the file's keys, computed here
    from the rows read back (the same canonical text as the server's)."""
    file_keys = keys_frame(rows).join(groups, on=["d_trade", "stock"], how="semi")
    stored = stored_rows(cur, groups).join(file_keys, on=list(sql.KEY_COLUMNS), how="semi")
    held = stored.select(
        *sql.KEY_COLUMNS,
        pl.col("stored_numeric").cast(NUMERIC_DTYPE).alias("value_numeric"),
        pl.col("stored_text").alias("value_text"),
    )
    return group_digests(held).select(list(_SCHEMA))


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
