"""The file against what fund_data holds, row by row: what to insert, update, keep and delete.

One read per trade date (or per batch of named funds) brings the rows of the file's
(trade date, fund) groups to the client as one text per group: each row's key and its
value in the canonical form of the digests (:mod:`loader.prepare.digest`: the decimal as
DECIMAL(38,12) prints it, ``=`` and the text, or nothing for NULL), joined by NUL (which
no field can hold). The read takes shared locks on every row it reads, held to the commit:
a row judged unchanged stays so until this load commits. Polars splits the texts and
joins them with the file's rows by key, so the comparison is vectorised on the client, and
only the rows that are new or changed are written; unchanged rows are never sent back, so
they keep their lineage (CONTRACT §2.1) at no cost. For a replace-days load the same read
says which keys the file lacks, and how many rows each date held before the load.

It replaces the digest pre-pass, the staging table, the unchanged-row join and the
``ON DUPLICATE KEY UPDATE`` for the common case (docs/mysql.md, "The diff"): a correction
of 1% or every value, an identical reload, a few funds restated all cost one read and one
write of what changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from loader.mysql import sql
from loader.mysql.digest import funds_by_day, stored_rows
from loader.prepare.digest import typed

KEYS = ["d_trade", "stock", "ticker", "col_code"]
SEPARATOR = "\x00"
_GROUPS = {
    "d_trade": pl.Date,
    "stock": pl.String,
    "rows": pl.Int64,
    "text": pl.String,
    "text_bytes": pl.Int64,
}


@dataclass(frozen=True)
class Diff:
    """The file against fund_data: the rows to write and what the rest is."""

    write: pl.DataFrame
    """The file's rows that are new or changed (typed, as the staging text takes them)."""
    inserted: dict[date, int]
    """Per trade date, the rows of ``write`` whose key fund_data does not hold."""
    updated: int
    unchanged: int
    lacking: pl.DataFrame
    """Keys (d_trade, stock, ticker, col_code) fund_data holds in the groups read that the
    file lacks (what replace-days deletes; with ``whole_days``, of whole dates)."""
    held: dict[date, int]
    """Per trade date read, the rows fund_data held before the load."""
    proven: pl.DataFrame
    """The (d_trade, stock) groups the file and fund_data hold exactly alike."""


def canonical_value() -> pl.Expr:
    """A row's value as the digests print it: the decimal, ``=`` and the text, or empty."""
    text = (pl.lit("=") + pl.col("value_text").cast(pl.String)).fill_null("")
    return pl.col("value_numeric").cast(pl.String).fill_null(text)


def diff_file(cur: Any, rows: pl.DataFrame, whole_days: bool, limit: int | None = None) -> Diff:
    """Compare the file's rows with what fund_data holds (see the module docstring).
    ``whole_days``: read every fund of the file's dates (replace-days, or a file of most of
    its dates' funds), else only the file's funds."""
    rows = typed(rows)
    mine = rows.select(
        "d_trade",
        *(pl.col(c).cast(pl.String) for c in KEYS[1:]),
        canonical_value().alias("value"),
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("position"),
    )
    groups = mine.select("d_trade", "stock").unique()
    held = held_rows(cur, groups, whole_days, limit)
    joined = mine.join(held, on=KEYS, how="left")
    new = joined["held"].is_null()
    changed = ~new & (joined["held"] != joined["value"])
    write = joined.filter(new | changed)
    inserted = write.filter(pl.col("held").is_null()).group_by("d_trade").len().iter_rows()
    lacking = held.join(mine.select(KEYS), on=KEYS, how="anti").select(KEYS)
    differing = write.select("d_trade", "stock").unique()
    proven = (
        groups.join(differing, on=["d_trade", "stock"], how="anti")
        .join(held.select("d_trade", "stock").unique(), on=["d_trade", "stock"], how="semi")
        .join(lacking.select("d_trade", "stock").unique(), on=["d_trade", "stock"], how="anti")
    )
    return Diff(
        write=rows[write["position"]],
        inserted=dict(inserted),
        updated=int(changed.sum()),
        unchanged=rows.height - write.height,
        lacking=lacking,
        held=dict(held.group_by("d_trade").len().iter_rows()),
        proven=proven,
    )


def held_rows(
    cur: Any, groups: pl.DataFrame, whole_days: bool, limit: int | None = None
) -> pl.DataFrame:
    """d_trade, stock, ticker, col_code, held (the canonical value) of every row fund_data
    holds in these groups (with ``whole_days``: in every group of their dates), read with
    shared locks. A group too long for GROUP_CONCAT is read row by row."""
    if limit is None:
        cur.execute(sql.GROUP_CONCAT_LIMIT)
        cur.execute(sql.CONCAT_LIMIT)
        (limit,) = cur.fetchone()
    texts: list[tuple[Any, ...]] = []
    for day, batch in _queries(groups, whole_days):
        cur.execute(sql.held_values(None if batch is None else len(batch)), [day, *(batch or [])])
        texts.extend(cur.fetchall())
    found = pl.DataFrame(texts, schema=_GROUPS, orient="row")
    long = found.filter(pl.col("text_bytes") > int(limit))
    parts = [_split(found.filter(pl.col("text_bytes") <= int(limit)))]
    if long.height:
        parts.append(_stored(cur, long.select("d_trade", "stock")))
    return pl.concat(parts)


def _queries(groups: pl.DataFrame, whole_days: bool) -> Iterable[tuple[date, list[str] | None]]:
    if whole_days:
        return [(day, None) for day in groups["d_trade"].unique().sort()]
    return funds_by_day(groups.sort("d_trade", "stock"))


def _split(found: pl.DataFrame) -> pl.DataFrame:
    """Each group's text into its rows: key fields and the canonical value."""
    if found.is_empty():
        return pl.DataFrame(schema={**{k: pl.String for k in KEYS}, "d_trade": pl.Date,
                                    "held": pl.String})[[*KEYS, "held"]]  # fmt: skip
    fields = found.select(
        pl.col("d_trade").repeat_by("rows").explode(),
        pl.col("stock").repeat_by("rows").explode(),
    )
    parts = found["text"].str.split(SEPARATOR).explode()
    return fields.with_columns(
        ticker=parts.gather_every(3, 0),
        col_code=parts.gather_every(3, 1),
        held=parts.gather_every(3, 2),
    ).select(*KEYS, "held")


def _stored(cur: Any, groups: pl.DataFrame) -> pl.DataFrame:
    """The rows of groups too long to concatenate, read plainly."""
    stored = stored_rows(cur, groups, lock=True)
    text = (pl.lit("=") + pl.col("stored_text")).fill_null("")
    return stored.select(*KEYS, pl.col("stored_numeric").fill_null(text).alias("held"))
