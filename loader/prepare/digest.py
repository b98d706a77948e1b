"""Group digests: one MD5 per (trade date, fund) of the rows' canonical text, in the client.

The server computes the same digest over what ``fund_data`` holds
(:func:`loader.mysql.sql.group_digests`), so a group whose count and digest
agree holds exactly the file's values and need not be staged at all. The
canonical text of a group, on both sides:

    row  = ticker NUL col_code NUL numeric NUL text
    text = the group's rows in byte order of (ticker, col_code), joined by NUL

where ``numeric`` is ``value_numeric`` as DECIMAL(38,12) prints it
(``-12.500000000000``; empty when NULL) and ``text`` is ``=`` and
``value_text`` (empty when NULL). No field can hold a NUL (spec §1.2
rejects it), and every row has the same four fields, so the text is
injective: equal text means equal rows, and with MD5 equal digests mean
equal text (no adversary chooses the values). tests/test_digest.py proves
against the real server that both sides print every value the parse stage
can produce the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
import polars as pl

from loader.prepare.keyorder import key_order

SEPARATOR = "\x00"
NUMERIC_DTYPE = pl.Decimal(38, 12)


def typed(rows: pl.DataFrame) -> pl.DataFrame:
    """The rows with the parse stage's types (a staging file read back is all text)."""
    casts = []
    if rows.schema["d_trade"] != pl.Date:
        casts.append(pl.col("d_trade").cast(pl.String).str.to_date("%Y-%m-%d"))
    if rows.schema["value_numeric"] != NUMERIC_DTYPE:
        casts.append(pl.col("value_numeric").cast(NUMERIC_DTYPE))
    return rows.with_columns(casts) if casts else rows


def canonical_row() -> pl.Expr:
    """One row's canonical text (see the module's docstring)."""
    return pl.concat_str(
        pl.col("ticker").cast(pl.String),
        pl.col("col_code").cast(pl.String),
        pl.col("value_numeric").cast(pl.String).fill_null(""),
        (pl.lit("=") + pl.col("value_text").cast(pl.String)).fill_null(""),
        separator=SEPARATOR,
    )


DIGEST_CHUNK_ROWS = 1_000_000
"""Rows whose canonical text is built at a time (whole groups): a 10M-row file's digests
hold a tenth of its text at once, not all of it."""


def group_digests(
    rows: pl.DataFrame, order: pl.Series | None = None, chunk_rows: int = DIGEST_CHUNK_ROWS
) -> pl.DataFrame:
    """Per (d_trade, stock): ``rows`` (UInt32) and ``digest`` (lower-case MD5 hex).

    ``order``: the rows' key order when it is already known (the staging text's). The
    groups are contiguous in key order, so the text is built ``chunk_rows`` rows at a
    time, each slice ending at a group's end.
    """
    rows = typed(rows)
    n = rows.height
    if order is None:
        order = key_order(rows) if n > 1 else pl.Series(range(n), dtype=pl.UInt32)
    parts = []
    start = 0
    while start < n:
        end = _group_end(rows, order, min(start + chunk_rows, n))
        parts.append(_digests(rows[order.slice(start, end - start)]))
        start = end
    if not parts:
        return _digests(rows)
    return pl.concat(parts)


def _group_end(rows: pl.DataFrame, order: pl.Series, end: int) -> int:
    """The first position at or after ``end`` (in key order) that starts a new group."""
    n = rows.height
    last = rows[int(order[end - 1])].select("d_trade", pl.col("stock").cast(pl.String)).row(0)
    window = 256
    while end < n:
        ahead = rows[order.slice(end, window)].select("d_trade", pl.col("stock").cast(pl.String))
        other = ahead.select(
            (pl.col("d_trade") != last[0]) | (pl.col("stock") != last[1])
        ).to_series()
        if other.any():
            return end + int(other.arg_max())  # type: ignore[arg-type]
        end += ahead.height
        window *= 2
    return n


def _digests(ordered: pl.DataFrame) -> pl.DataFrame:
    """:func:`group_digests` of rows already in key order."""
    groups = (
        ordered.select(
            "d_trade",
            pl.col("stock").cast(pl.String),
            canonical_row().alias("canonical"),
        )
        .group_by("d_trade", "stock", maintain_order=True)
        .agg(pl.len().cast(pl.UInt32).alias("rows"), pl.col("canonical").str.join(SEPARATOR))
    )
    digests = [
        hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()
        for text in groups["canonical"]
    ]
    return groups.select("d_trade", "stock", "rows").with_columns(
        pl.Series("digest", digests, dtype=pl.String)
    )


def without_groups(rows: pl.DataFrame, groups: pl.DataFrame) -> pl.DataFrame:
    """The rows outside ``groups`` (a frame of d_trade and stock), joined on the rows' own
    stock type (categories are process-wide: no text column of the rows is made)."""
    rows = typed(rows)
    keys = groups.select("d_trade", pl.col("stock").cast(pl.String).cast(rows.schema["stock"]))
    return rows.join(keys, on=["d_trade", "stock"], how="anti")


def load_digest(groups: pl.DataFrame) -> str:
    """One MD5 over a load's group digests (d_trade, stock, rows, digest, in key order): what
    the ledger records for a verified load, and what ``fundsync verify`` recomputes."""
    ordered = groups.select(
        pl.col("d_trade").dt.to_string("%Y-%m-%d"),
        "stock",
        pl.col("rows").cast(pl.String),
        "digest",
    ).sort("d_trade", "stock")
    text = "\n".join(SEPARATOR.join(row) for row in ordered.iter_rows())
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def keys_frame(rows: pl.DataFrame) -> pl.DataFrame:
    """The key columns as Date and String (for joins between frames of either origin)."""
    return typed(rows).select(
        "d_trade", *(pl.col(c).cast(pl.String) for c in ("stock", "ticker", "col_code"))
    )


FUNDS_TABLE_CELLS = 1 << 24
"""The most (date, fund code) cells :func:`funds_per_day` marks in a table (a byte each);
a wider file's pairs are sorted instead."""


def funds_per_day(
    rows: pl.DataFrame, chunk_rows: int = DIGEST_CHUNK_ROWS, table_cells: int = FUNDS_TABLE_CELLS
) -> pl.DataFrame:
    """Per trade date of ``rows``, in date order: ``funds``, how many distinct funds (stock)
    it holds.

    Read a slice of rows at a time, as the day numbers and the funds' category codes:
    each pair marks a cell of a (day, code) table, or, when the table would be too wide,
    each slice's distinct pairs are kept and sorted once more at the end. A 10M-row file
    costs ~20 MB and 0.04 s this way, where Polars' ``group_by(...).n_unique()`` held
    140-400 MB beside the rows for 0.1-0.2 s.
    """
    schema = {"d_trade": pl.Date, "funds": pl.UInt32}
    if rows.is_empty():
        return pl.DataFrame(schema=schema)
    if rows.schema["stock"] != pl.Categorical:  # a staging file read back: text
        counted = rows.group_by("d_trade").agg(pl.col("stock").n_unique().alias("funds"))
        return counted.sort("d_trade").cast(schema)  # type: ignore[arg-type]
    first, last, widest = rows.select(
        pl.col("d_trade").to_physical().min().alias("first"),
        pl.col("d_trade").to_physical().max().alias("last"),
        pl.col("stock").to_physical().max().alias("widest"),
    ).row(0)
    width = int(widest) + 1
    cells = (last - first + 1) * width
    if cells <= table_cells:
        table = np.zeros(cells, dtype=bool)
        for day, code in _pairs(rows, first, chunk_rows):
            day *= width
            day += code
            table[day] = True
        counts = table.reshape(-1, width).sum(axis=1)
        day_numbers = np.flatnonzero(counts)
        counts = counts[day_numbers]
    else:
        seen = []
        for day, code in _pairs(rows, first, chunk_rows):
            day <<= 32
            day |= code
            seen.append(np.unique(day))
        day_numbers, counts = np.unique(np.unique(np.concatenate(seen)) >> 32, return_counts=True)
    return pl.DataFrame(
        {
            "d_trade": pl.Series(day_numbers + first, dtype=pl.Int32).cast(pl.Date),
            "funds": pl.Series(counts, dtype=pl.UInt32),
        }
    )


def _pairs(
    rows: pl.DataFrame, first: int, chunk_rows: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per slice of rows: the day numbers from ``first`` (int64) and the funds' codes."""
    for start in range(0, rows.height, chunk_rows):
        piece = rows.slice(start, chunk_rows)
        day = piece["d_trade"].to_physical().to_numpy().astype(np.int64)
        day -= first
        yield day, piece["stock"].to_physical().to_numpy().astype(np.int64)
