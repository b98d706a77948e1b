"""Stage stage: parsed rows to a staging file, and that file into a TEMPORARY table.

The staging file is what ``LOAD DATA`` reads: tab-separated, every tab, LF,
CR and backslash inside a value escaped with a backslash, ``\\N`` for NULL,
decimals written in full (``12.500000000000``), rows in key order. It lives in
a private directory (mode 0700) that is the only place the connection may
read LOCAL INFILE from.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import polars as pl

from loader.result import KEY_COLUMNS

ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
_NEEDS_ESCAPE = r"[\\\t\n\r]"


class StagingDir:
    """A private temporary directory for staging files; removed on close."""

    def __init__(self, parent: str | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="fundsync-stage-", dir=parent))
        self.path.chmod(0o700)

    def new_file(self) -> Path:
        fd, name = tempfile.mkstemp(suffix=".tsv", dir=self.path)
        os.close(fd)
        return Path(name)

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> StagingDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _escaped(column: str) -> pl.Expr:
    expr = pl.col(column).cast(pl.String)
    for raw, escaped in ESCAPES:
        expr = expr.str.replace_all(raw, escaped, literal=True)
    return expr


def staging_frame(rows: pl.DataFrame, sort: bool = True) -> pl.DataFrame:
    """The rows as the text the staging file holds, in key order when ``sort``."""
    if sort:
        rows = rows.sort("d_trade", *(pl.col(c).cast(pl.String) for c in KEY_COLUMNS[1:]))
    exprs = [pl.col("d_trade").dt.to_string("%Y-%m-%d")]
    for column in (*KEY_COLUMNS[1:], "value_text"):
        text = rows[column].cast(pl.String)
        if text.drop_nulls().unique().str.contains(_NEEDS_ESCAPE).any():
            exprs.append(_escaped(column).alias(column))
        else:
            exprs.append(pl.col(column).cast(pl.String))
    exprs.append(pl.col("value_numeric").cast(pl.String))
    return rows.select(exprs).select(
        "d_trade", "stock", "ticker", "col_code", "value_numeric", "value_text"
    )


def write_staging_file(rows: pl.DataFrame, path: Path, sort: bool = True) -> int:
    """Write the staging file; returns the number of rows written."""
    frame = staging_frame(rows, sort=sort)
    frame.write_csv(
        path,
        include_header=False,
        separator="\t",
        line_terminator="\n",
        quote_style="never",
        null_value="\\N",
    )
    return frame.height
