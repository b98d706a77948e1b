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
