"""The key order of parsed rows: (trade date, then the key strings byte for byte), the
primary key's order, judged once per file."""

from __future__ import annotations

import numpy as np
import polars as pl

from loader.parse.dedup import key_codes
from loader.parse.keys import KeyPacker, bits_for
from loader.parse.result import KEY_COLUMNS

PACK_CHUNK_ROWS = 1_000_000
"""Rows whose keys are packed at a time (the text is written in chunks of its own:
:data:`loader.prepare.stagetext.WRITE_CHUNK_ROWS`)."""


def key_order(rows: pl.DataFrame) -> pl.Series:
    """The row positions in key order (day, then the key strings byte for byte, as the PK).

    The key is packed into one 64-bit integer (:class:`~loader.parse.keys.KeyPacker`),
    each string column as the rank of its value among the column's distinct
    values, and sorted once: about a third faster than sorting four columns
    with three of strings. The ranks are judged on the distinct values, and
    the rows are packed a slice at a time into one array: a 10M-row file adds
    the packed keys and the order (at most ~200 MB while sorting, 40 MB after),
    not a copy of each key column.
    Keys too wide to pack are sorted the plain way.
    """
    n = rows.height
    if n < 2:
        return pl.Series(range(n), dtype=pl.UInt32)
    strings = [c for c in KEY_COLUMNS[1:] if rows[c].dtype != pl.Categorical]
    if strings:
        rows = rows.with_columns(pl.col(*strings).cast(pl.String).cast(pl.Categorical))
    days = rows["d_trade"].to_physical()
    packer = KeyPacker.build(
        int(days.min()),  # type: ignore[arg-type]
        int(days.max()),  # type: ignore[arg-type]
        [_lexical_ranks(rows[column]) for column in KEY_COLUMNS[1:]],
    )
    if packer is None:
        plain = rows.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("i"), *KEY_COLUMNS)
        keys = [pl.col("d_trade"), *(pl.col(c).cast(pl.String) for c in KEY_COLUMNS[1:])]
        return plain.sort(keys)["i"]
    packed = np.empty(n, dtype=np.uint64)
    for start in range(0, n, PACK_CHUNK_ROWS):
        day, *codes = key_codes(rows.slice(start, PACK_CHUNK_ROWS))
        packer.pack_into(packed[start : start + len(day)], day, codes)
    # NumPy's stable sort, not Polars': it finds the runs of an export written near key order
    # (0.08 s for 10M rows against 0.25 s; 1.3 s against 0.5 s for rows in random order), and
    # its index (8 bytes a row) is its only array, where Polars' makes 16-byte (index, key)
    # pairs that its allocator keeps after the sort (docs/parsing.md, "Memory").
    order = np.argsort(packed, kind="stable")
    del packed
    return pl.Series(order, dtype=pl.UInt32)


def key_sorted(rows: pl.DataFrame) -> pl.DataFrame:
    """The rows in key order (see :func:`key_order`)."""
    return rows[key_order(rows)]


def _lexical_ranks(column: pl.Series) -> tuple[np.ndarray, int]:
    """A lookup from each category code to its rank in code-point (= UTF-8 byte) order, and
    the bits the ranks need (judged on the distinct values only)."""
    distinct = column.unique()
    ordered = pl.DataFrame({"code": distinct.to_physical(), "text": distinct.cast(pl.String)}).sort(
        "text"
    )
    codes = ordered["code"].to_numpy()
    lookup = np.zeros(int(codes.max(initial=0)) + 1, dtype=np.uint64)
    lookup[codes] = np.arange(len(codes), dtype=np.uint64)
    return lookup, bits_for(len(codes) - 1)
