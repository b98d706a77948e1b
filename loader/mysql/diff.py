"""The file against what fund_data holds, row by row: what to insert, update, keep and delete.

One read per trade date (or per batch of named funds) brings the rows of the file's
(trade date, fund) groups to the client as one text per group: each row's key and its
value in the canonical form of the digests (:mod:`loader.prepare.digest`: the decimal as
DECIMAL(38,12) prints it, ``=`` and the text, or nothing for NULL), joined by NUL (which
no field can hold). The read takes exclusive locks on every row it reads, held to the
commit: a row judged unchanged stays so until this load commits, and a changed one is
written under the lock already held. Polars splits the texts and
joins them with the file's rows by key, so the comparison is vectorised on the client, and
only the rows that are new or changed are written; unchanged rows are never sent back, so
they keep their lineage (spec §2.1) at no cost. For a replace-days load the same read
says which keys the file lacks, and how many rows each date held before the load.

It replaces the digest pre-pass, the staging table, the unchanged-row join and the
``ON DUPLICATE KEY UPDATE`` for the common case (docs/mysql.md, "The diff"): a correction
of 1% or every value, an identical reload, a few funds restated all cost one read and one
write of what changed.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from loader.mysql import sql
from loader.mysql.digest import funds_by_day, stored_rows

KEYS = ["d_trade", "stock", "ticker", "col_code"]
SEPARATOR = "\x00"
READ_CHUNK = 4_096
"""Groups of fund_data converted at a time while the server concatenates the next."""


@dataclass(frozen=True)
class Diff:
    """The file against fund_data: the rows to write and what the rest is."""

    write: pl.Series
    """The positions (in the file's rows) of the rows that are new or changed: the rows
    themselves are not copied (a restated 10M-row file would be held twice)."""
    inserted: dict[date, int]
    """Per trade date, the rows of ``write`` whose key fund_data does not hold."""
    updated: int
    unchanged: int
    changed: pl.Series
    """The positions of the rows of ``write`` whose key fund_data holds with another value
    (the change log's updates)."""
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


def diff_file(conn: Any, rows: pl.DataFrame, whole_days: bool, lacking: bool = False) -> Diff:
    """Compare the file's rows (typed, :attr:`~loader.prepare.staging.StagedRows.rows`) with
    what fund_data holds (see the module docstring), one trade date at a time (of a 10M-row
    file of ten dates, one date's rows are held at once).
    ``whole_days``: read every fund of the file's dates (replace-days, or a file of most of
    its dates' funds), else only the file's funds. ``lacking``: also say which keys
    fund_data holds that the file lacks, and which groups are proven alike (replace-days,
    ``--verify``)."""
    cur: Any = conn.cursor()
    cur.execute(sql.GROUP_CONCAT_LIMIT)
    cur.execute(sql.CONCAT_LIMIT)
    (limit,) = cur.fetchone()
    cur.close()
    limit = int(limit)
    days = [_diff_day(conn, day_rows, whole_days, lacking, limit) for day_rows in _by_day(rows)]
    positions = pl.concat([d.write for d in days]) if days else pl.Series([], dtype=pl.UInt32)
    changed = pl.concat([d.changed for d in days]) if days else pl.Series([], dtype=pl.UInt32)
    keys = {k: pl.String for k in KEYS} | {"d_trade": pl.Date}
    groups = {"d_trade": pl.Date, "stock": pl.String}
    return Diff(
        write=positions.sort(),
        inserted={d.day: d.inserted for d in days if d.inserted},
        updated=sum(d.updated for d in days),
        unchanged=rows.height - len(positions),
        changed=changed.sort(),
        lacking=pl.concat(
            [d.lacking for d in days if d.lacking is not None] or [pl.DataFrame(schema=keys)]
        ),
        held={d.day: d.held for d in days},
        proven=pl.concat(
            [d.proven for d in days if d.proven is not None] or [pl.DataFrame(schema=groups)]
        ),
    )


def _by_day(rows: pl.DataFrame) -> Iterable[pl.DataFrame]:
    """The rows of each trade date in turn, in file order, with their positions in the file
    (``position``): one date's copy at a time.

    Not ``for _, g in rows.group_by(...)``: Polars' group iteration first rechunks the
    whole frame, a copy of every row of the file (+400 MB at 10M rows). Nor a position
    column added to the whole frame: one column of a single chunk beside columns of one
    chunk per parse piece made each date's gather realign (copy) the whole frame first."""
    dates = (
        pl.DataFrame({"d_trade": rows["d_trade"]})
        .with_row_index("position")
        .group_by("d_trade", maintain_order=True)
        .agg("position")
    )
    for positions in dates["position"]:
        yield rows[positions].with_columns(positions.alias("position"))


@dataclass(frozen=True)
class _Day:
    day: date
    write: pl.Series
    changed: pl.Series
    inserted: int
    updated: int
    held: int
    lacking: pl.DataFrame | None
    proven: pl.DataFrame | None


def _diff_day(conn: Any, rows: pl.DataFrame, whole_days: bool, lacking: bool, limit: int) -> _Day:
    """One trade date, compared a chunk of fund_data's groups at a time as the read brings
    them: only a chunk's rows (read, split and joined, ~300 bytes a row while they last) are
    held at once, not the whole date's (+300 MB for a date of 1M rows)."""
    day = rows["d_trade"][0]
    groups = rows.select("d_trade", pl.col("stock").cast(pl.String)).unique()
    reading = HeldRows(conn, groups, whole_days, limit)
    parts: list[_Part] = []
    held_funds: list[pl.DataFrame] = []
    with contextlib.closing(reading.parts()) as chunks:
        for chunk in chunks:
            held = chunk.with_columns(
                pl.col(c).cast(rows.schema[c])
                for c in KEYS[1:]  # the file's own (categorical) types
            )
            funds = held.select("stock").unique()
            held_funds.append(funds)
            parts.append(_compare(rows.join(funds, on="stock", how="semi"), held, lacking))
    if held_funds:  # the file's funds of which fund_data holds no row of this date: all new
        rows = rows.join(pl.concat(held_funds), on="stock", how="anti")
    if rows.height:
        empty = _split(_frame([])).with_columns(pl.col(c).cast(rows.schema[c]) for c in KEYS[1:])
        parts.append(_compare(rows, empty, lacking))
    return _Day(
        day=day,
        write=pl.concat([p.write for p in parts]),
        changed=pl.concat([p.changed for p in parts]),
        inserted=sum(p.inserted for p in parts),
        updated=sum(p.updated for p in parts),
        held=sum(p.held for p in parts),
        lacking=pl.concat([p.lacking for p in parts]) if lacking else None,
        proven=pl.concat([p.proven for p in parts]) if lacking else None,
    )


@dataclass(frozen=True)
class _Part:
    write: pl.Series
    changed: pl.Series
    inserted: int
    updated: int
    held: int
    lacking: pl.DataFrame
    proven: pl.DataFrame


def _compare(rows: pl.DataFrame, held: pl.DataFrame, lacking: bool) -> _Part:
    """The file's rows of some funds against what fund_data holds of the same funds."""
    mine = rows.select(*KEYS, canonical_value().alias("value"), "position")
    joined = mine.join(held, on=KEYS, how="left")
    new = joined["held"].is_null()
    changed = ~new & (joined["held"] != joined["value"])
    write = joined.filter(new | changed)
    gone = proven = pl.DataFrame()
    if lacking:
        gone = held.join(mine.select(KEYS), on=KEYS, how="anti").select(
            "d_trade", *(pl.col(c).cast(pl.String) for c in KEYS[1:])
        )
        touched = pl.concat(
            [
                write.select("d_trade", "stock"),
                gone.select("d_trade", pl.col("stock").cast(rows.schema["stock"])),
            ]
        )
        proven = (
            rows.select("d_trade", "stock").unique()
            .join(held.select("d_trade", "stock").unique(), on=["d_trade", "stock"], how="semi")
            .join(touched.unique(), on=["d_trade", "stock"], how="anti")
            .select("d_trade", pl.col("stock").cast(pl.String))
        )  # fmt: skip
    return _Part(
        write=write["position"],
        changed=joined.filter(changed)["position"],
        inserted=int(new.sum()),
        updated=int(changed.sum()),
        held=held.height,
        lacking=gone,
        proven=proven,
    )


class HeldRows:
    """d_trade, stock, ticker, col_code, held (the canonical value) of every row fund_data
    holds in these groups (with ``whole_days``: in every group of their dates), read with
    exclusive locks. A group too long for GROUP_CONCAT is read row by row.

    The read starts at once, on a thread of its own that takes the result a chunk at a time
    (the connection is its own until the last row): the caller works meanwhile, and
    :meth:`parts` splits each chunk into rows while the server concatenates the next
    (docs/mysql.md, "The diff")."""

    def __init__(self, conn: Any, groups: pl.DataFrame, whole_days: bool, limit: int) -> None:
        self._conn, self._limit = conn, limit
        self._chunks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._reader = threading.Thread(
            target=_read_groups, args=(conn, groups, whole_days, self._chunks), daemon=True
        )
        self._reader.start()

    def parts(self) -> Generator[pl.DataFrame, None, None]:
        """The rows read, a chunk of whole groups at a time (each group in one chunk only);
        the groups the server cut come last, read again plainly."""
        kept = []
        try:
            while not isinstance(item := self._chunks.get(), bool):
                if isinstance(item, BaseException):
                    raise item
                found = _frame(item)
                # a text the server cut is as long as it may be (or NULL, past the packet)
                text = pl.col("text")
                long = text.is_null() | (text.str.len_bytes() >= int(self._limit) - 8)
                yield _split(found.filter(~long))
                kept.append(found.filter(long))
        finally:
            self._reader.join()
        left = pl.concat(kept) if kept else _frame([])
        if item:  # the server cut some: the longest groups, read plainly
            yield _stored(self._conn.cursor(), left.select("d_trade", "stock"))
        else:  # no text was cut: the long ones are whole
            yield _split(left)


def _read_groups(
    conn: Any,
    groups: pl.DataFrame,
    whole_days: bool,
    chunks: queue.SimpleQueue[list[tuple[Any, ...]] | bool | BaseException],
) -> None:
    """Every group's text, a chunk at a time, into ``chunks``; then whether the server cut
    any (``True``/``False``), or the error that stopped the read."""
    try:
        cur: Any = conn.cursor(raw=True)  # bytes as they come: no conversion per value
        cut = False
        for day, batch in _queries(groups, whole_days):
            cur.execute(
                sql.held_values(None if batch is None else len(batch)), [day, *(batch or [])]
            )
            while rows := cur.fetchmany(READ_CHUNK):
                chunks.put(rows)
            cut = cut or bool(cur.warning_count)  # "Row N was cut by GROUP_CONCAT()"
        cur.close()
        chunks.put(cut)
    except BaseException as error:  # handed to the reading thread, which raises it
        chunks.put(error)


def _frame(texts: list[tuple[Any, ...]]) -> pl.DataFrame:
    """The groups read (raw bytes) as typed columns, converted column by column."""
    columns = list(zip(*texts, strict=True)) if texts else [(), (), (), ()]
    day, stock, rows, text = (pl.Series(list(c), dtype=pl.Binary).cast(pl.String) for c in columns)
    return pl.DataFrame(
        {
            "d_trade": day.str.to_date("%Y-%m-%d"),
            "stock": stock,
            "rows": rows.cast(pl.Int64),
            "text": text,
        }
    )


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
