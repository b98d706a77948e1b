"""The staging text of rows, as ``LOAD DATA LOCAL INFILE`` reads it, written and read back.

Tab-separated, every tab, LF, CR and backslash inside a value escaped with a
backslash, ``\\N`` for NULL, decimals written in full (``12.500000000000``),
rows in key order (:mod:`loader.prepare.textformat` is the clause that reads
it back). Written a chunk of rows at a time, into a file or into a named pipe
while the server reads it (:mod:`loader.prepare.staging`).
"""

from __future__ import annotations

import errno
import os
import re
import threading
from pathlib import Path
from typing import BinaryIO

import polars as pl

from loader.parse.result import KEY_COLUMNS
from loader.prepare.keyorder import key_order
from loader.prepare.textformat import ESCAPES, NULL

_NEEDS_ESCAPE = r"[\\\t\n\r]"
WRITE_CHUNK_ROWS = 250_000
"""Rows formatted as text at a time: the text of a chunk is several times its rows' size,
and the server reads far slower than this writes (a million at a time held ~200 MB)."""


def _escaped(column: str) -> pl.Expr:
    expr = pl.col(column).cast(pl.String)
    for raw, escaped in ESCAPES:
        expr = expr.str.replace_all(raw, escaped, literal=True)
    return expr


TEXT_COLUMNS = (*KEY_COLUMNS[1:], "value_text")


def needs_escape(rows: pl.DataFrame) -> set[str]:
    """The text columns holding a tab, LF, CR or backslash (judged on distinct values)."""
    flagged = set()
    for column in TEXT_COLUMNS:
        distinct = rows[column].drop_nulls().unique()  # categories: far fewer than rows
        if distinct.cast(pl.String).str.contains(_NEEDS_ESCAPE).any():
            flagged.add(column)
    return flagged


def _as_text(rows: pl.DataFrame, escape: set[str]) -> pl.DataFrame:
    exprs = [pl.col("d_trade").dt.to_string("%Y-%m-%d")]
    for column in TEXT_COLUMNS:
        exprs.append(
            _escaped(column).alias(column) if column in escape else pl.col(column).cast(pl.String)
        )
    exprs.append(pl.col("value_numeric").cast(pl.String))
    return rows.select(exprs).select(
        "d_trade", "stock", "ticker", "col_code", "value_numeric", "value_text"
    )


def write_text(
    rows: pl.DataFrame, out: BinaryIO, order: pl.Series | None, escape: set[str]
) -> None:
    """The staging text of ``rows`` (in ``order``), ``WRITE_CHUNK_ROWS`` rows at a time."""
    chunk = WRITE_CHUNK_ROWS
    for start in range(0, rows.height if order is None else len(order), chunk):
        part = rows.slice(start, chunk) if order is None else rows[order.slice(start, chunk)]
        _as_text(part, escape).write_csv(
            out,
            include_header=False,
            separator="\t",
            line_terminator="\n",
            quote_style="never",
            null_value=NULL,
        )


def write_staging_file(rows: pl.DataFrame, path: Path, sort: bool = True) -> int:
    """Write the staging file; returns the number of rows written.

    Written a chunk of rows at a time, so only one chunk is ever held as
    text: at 10M rows that keeps the text copy at a fortieth of its size.
    """
    order = key_order(rows) if sort else None
    with open(path, "wb") as out:
        write_text(rows, out, order, needs_escape(rows))
    return rows.height


def broken_pipe(error: OSError) -> bool:
    """EPIPE, from Python's own writes or from Polars' (an OSError carrying only a message)."""
    return error.errno == errno.EPIPE or "os error 32" in str(error)


def end_writer(writer: threading.Thread, path: Path) -> None:
    """Wait for the writer; a reader that never opened the pipe (the statement failed first)
    or left early is stood in for: open and close the reading end, so the writer's open
    returns or its next write breaks the pipe."""
    while writer.is_alive():
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass
        writer.join(0.05)


_UNESCAPES = {escaped: raw for raw, escaped in ESCAPES}


def _unescape(text: str) -> str:
    return re.sub(r"\\[\\tnr]", lambda m: _UNESCAPES[m.group(0)], text)


def read_staging_file(path: Path) -> pl.DataFrame:
    """A staging file read back as text columns (for the INSERT fallback of a prepared file)."""
    names = ["d_trade", "stock", "ticker", "col_code", "value_numeric", "value_text"]
    frame = pl.read_csv(
        path,
        has_header=False,
        new_columns=names,
        separator="\t",
        quote_char=None,
        null_values=NULL,
        infer_schema=False,
    )
    escaped = [c for c in names if frame[c].str.contains("\\", literal=True).any()]
    return frame.with_columns(
        pl.col(c).map_elements(_unescape, return_dtype=pl.String) for c in escaped
    )
