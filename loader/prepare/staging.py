"""The staging text: parsed rows in key order, as ``LOAD DATA LOCAL INFILE`` reads them.

Tab-separated, every tab, LF, CR and backslash inside a value escaped with a
backslash, ``\\N`` for NULL, decimals written in full (``12.500000000000``),
rows in key order (:mod:`loader.prepare.textformat` is the clause that reads
it back). No database here: the prepare half decides the key order and the
escaping once; the text is written either into a named pipe while the
server reads it (:class:`StagingStream`, one process) or into a file ahead
of time (:class:`StagingFile`, the backfill's worker processes). Both live
in a private directory (mode 0700, :class:`StagingDir`) that is the only
place the connection may read LOCAL INFILE from.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import polars as pl

from loader.parse.dedup import key_codes
from loader.parse.keys import KeyPacker, bits_for
from loader.parse.result import KEY_COLUMNS
from loader.prepare.textformat import ESCAPES, NULL

_NEEDS_ESCAPE = r"[\\\t\n\r]"


def remove_stale(parent: Path) -> None:
    """Remove the staging directories that processes now gone left in ``parent`` (a killed
    backfill, say), and links left dangling."""
    for stale in parent.glob("fundsync-stage-*"):
        if stale.is_symlink():
            if not stale.exists():
                stale.unlink(missing_ok=True)
            continue
        owner = stale.name.removeprefix("fundsync-stage-").split("-", 1)[0]
        if owner.isdigit() and not _alive(int(owner)):
            shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


UNSAFE_IN_PATHS = frozenset("'\"\\")
"""Characters mysql-connector cannot have in a LOCAL INFILE path: it reads the path back out
of the statement's text without unescaping it, so the file "does not exist"."""


class StagingDir:
    """A private temporary directory for staging files; removed on close.

    Under a parent whose path holds a quote or a backslash, the directory is
    reached through a symbolic link of a plain name in the system's
    temporary directory (the staging files themselves are never links).
    """

    def __init__(self, parent: str | None = None) -> None:
        remove_stale(Path(parent or tempfile.gettempdir()))
        prefix = f"fundsync-stage-{os.getpid()}-"  # the owner, for remove_stale
        self.real = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        self.real.chmod(0o700)
        self.path = self.link = self.real
        if UNSAFE_IN_PATHS & set(str(self.real)):
            base = tempfile.gettempdir()
            if UNSAFE_IN_PATHS & set(base):
                base = "/tmp"
            self.link = Path(base) / f"fundsync-stage-link-{uuid.uuid4().hex}"
            os.symlink(self.real.parent, self.link)  # the directory itself may not be a link
            self.path = self.link / self.real.name

    def new_file(self) -> Path:
        fd, name = tempfile.mkstemp(suffix=".tsv", dir=self.path)
        os.close(fd)
        return Path(name)

    def new_name(self) -> Path:
        """A fresh name in the directory, nothing created (for a named pipe)."""
        return self.path / f"stream-{uuid.uuid4().hex}.tsv"

    def close(self) -> None:
        shutil.rmtree(self.real, ignore_errors=True)
        if self.path != self.real:
            self.link.unlink(missing_ok=True)

    def __enter__(self) -> StagingDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _escaped(column: str) -> pl.Expr:
    expr = pl.col(column).cast(pl.String)
    for raw, escaped in ESCAPES:
        expr = expr.str.replace_all(raw, escaped, literal=True)
    return expr


TEXT_COLUMNS = (*KEY_COLUMNS[1:], "value_text")
WRITE_CHUNK_ROWS = 1_000_000


def _needs_escape(rows: pl.DataFrame) -> set[str]:
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


def key_order(rows: pl.DataFrame) -> pl.Series:
    """The row positions in key order (day, then the key strings byte for byte, as the PK).

    The key is packed into one 64-bit integer (:class:`~loader.parse.keys.KeyPacker`),
    each string column as the rank of its value among the column's distinct
    values, and sorted once: about a third faster than sorting four columns
    with three of strings. The ranks are judged on the distinct values, and
    the rows are packed a slice at a time into one array: a 10M-row file adds
    the packed keys and the order, not a copy of each key column.
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
    for start in range(0, n, WRITE_CHUNK_ROWS):
        day, *codes = key_codes(rows.slice(start, WRITE_CHUNK_ROWS))
        packer.pack_into(packed[start : start + len(day)], day, codes)
    return pl.Series(packed).arg_sort()


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


def _write_text(
    rows: pl.DataFrame, out: BinaryIO, order: pl.Series | None, escape: set[str]
) -> None:
    """The staging text of ``rows`` (in ``order``), ``WRITE_CHUNK_ROWS`` rows at a time."""
    chunk = WRITE_CHUNK_ROWS
    for start in range(0, rows.height, chunk):
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

    Written a million rows at a time, so only one chunk is ever held as
    text: at 10M rows that keeps the text copy at a tenth of its size.
    """
    order = key_order(rows) if sort else None
    with open(path, "wb") as out:
        _write_text(rows, out, order, _needs_escape(rows))
    return rows.height


def _broken_pipe(error: OSError) -> bool:
    """EPIPE, from Python's own writes or from Polars' (an OSError carrying only a message)."""
    return error.errno == errno.EPIPE or "os error 32" in str(error)


class StagingText(Protocol):
    """Rows ready for ``LOAD DATA``: a path to read them from, once per :meth:`open`."""

    @property
    def height(self) -> int: ...

    def open(self, directory: StagingDir) -> AbstractContextManager[Path]: ...

    def frame(self) -> pl.DataFrame:
        """The rows themselves (for the INSERT fallback when LOCAL INFILE is refused)."""
        ...

    def discard(self) -> None:
        """Remove what this text left on disk, if anything."""
        ...


@dataclass(frozen=True, eq=False)
class StagingFile:
    """Staging text written ahead of time (by a backfill worker) in the staging directory."""

    path: Path
    height: int

    @contextlib.contextmanager
    def open(self, directory: StagingDir) -> Iterator[Path]:
        yield self.path

    def frame(self) -> pl.DataFrame:
        return read_staging_file(self.path)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


class StagingStream:
    """The staging text of ``rows``, written by a thread into a FIFO while ``LOAD DATA`` reads it.

    A staging file must be complete before ``LOAD DATA`` starts; through a
    named pipe, the server inserts the first rows while the later ones are
    still being formatted, so writing the text costs no time of its own.
    The key order and the escaping are judged once, here; each :meth:`open`
    gives a fresh pipe with the whole text (a retry, or the staged way after
    the direct one, reads it again). Where named pipes do not exist,
    :meth:`open` writes a plain file first.

    Whatever happens to the reader, the writer ends: a reader that stops
    early breaks the pipe, and one that never came is stood in for at close.
    An error of the writer is raised at close, after the reader saw the text
    end early (so ``LOAD DATA`` counted too few rows and nothing is kept).
    """

    use_pipe = hasattr(os, "mkfifo")
    """False: write a plain file first (where there are no named pipes; the A/B benchmark)."""

    def __init__(self, rows: pl.DataFrame) -> None:
        self.rows = rows
        self._order: pl.Series | None = None
        self.escape = _needs_escape(rows)

    @property
    def order(self) -> pl.Series:
        """The rows' key order, judged when first needed (a diff that writes a few rows of
        the file never needs the whole file's)."""
        if self._order is None:
            self._order = key_order(self.rows)
        return self._order

    @property
    def height(self) -> int:
        return self.rows.height

    def frame(self) -> pl.DataFrame:
        return self.rows

    def discard(self) -> None:
        pass

    def to_file(self, directory: str | Path) -> StagingFile:
        """The whole text written into a new file in ``directory`` (for another process)."""
        fd, name = tempfile.mkstemp(suffix=".tsv", dir=directory)
        with os.fdopen(fd, "wb") as out:
            _write_text(self.rows, out, self.order, self.escape)
        return StagingFile(Path(name), self.height)

    @contextlib.contextmanager
    def open(self, directory: StagingDir) -> Iterator[Path]:
        """A path ``LOAD DATA LOCAL INFILE`` may read once, while inside the block."""
        path = directory.new_name()
        if not self.use_pipe:
            with open(path, "wb") as out:
                _write_text(self.rows, out, self.order, self.escape)
            try:
                yield path
            finally:
                path.unlink(missing_ok=True)
            return
        os.mkfifo(path, 0o600)
        failed: list[BaseException] = []
        writer = threading.Thread(
            target=self._write, args=(path, failed), name="fundsync-staging-writer", daemon=True
        )
        writer.start()
        try:
            yield path
        finally:
            _end_writer(writer, path)
            path.unlink(missing_ok=True)
        if failed:
            raise failed[0]

    def _write(self, path: Path, failed: list[BaseException]) -> None:
        try:
            with open(path, "wb") as out:  # waits for the reader to open the pipe
                _write_text(self.rows, out, self.order, self.escape)
        except OSError as error:
            if not _broken_pipe(error):
                failed.append(error)
            # else the reader stopped: its statement failed, the caller hears of it
        except BaseException as error:  # handed to the caller at close
            failed.append(error)


def _end_writer(writer: threading.Thread, path: Path) -> None:
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
