"""The one shape the prepare half hands to the merge: :class:`StagedRows`.

A file's rows after the parse, deduplicated, with the parse stage's types; their key
order, judged once; their group digests (:mod:`loader.prepare.digest`), computed once when
first asked for; and their staging text (:mod:`loader.prepare.stagetext`), written either
into a named pipe while ``LOAD DATA`` reads it (one process) or into a file ahead of time
(the backfill's worker processes). The merge (:mod:`loader.mysql`) only consumes it: it
never reads a staging file itself, never re-types rows and never sorts them again. A
staging file is read back at most once per load, when the merge first needs the rows
themselves (the quality gate, the digest pre-pass, the diff, the proof).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from loader.prepare import stagetext
from loader.prepare.digest import group_digests, typed, without_groups
from loader.prepare.keyorder import key_order
from loader.prepare.stagedir import StagingDir


class StagedRows:
    """Rows ready to merge: typed rows, their key order and digests, and their staging text.

    In memory (``StagedRows(rows)``), the text is written into a FIFO while ``LOAD DATA``
    reads it, so writing it costs no time of its own; each :meth:`open` gives a fresh pipe
    with the whole text (a retry, or the staged way after the direct one, reads it again).
    Where named pipes do not exist, :meth:`open` writes a plain file first. In a file
    (:meth:`to_file`, for another process), the text is the file and the rows are read back
    from it once, when first needed; a file is written in key order, so its order is its
    own. Picklable: a file's rows are not pickled, only its path and what was computed.

    Whatever happens to the reader of a pipe, the writer ends: a reader that stops early
    breaks the pipe, and one that never came is stood in for at close. An error of the
    writer is raised at close, after the reader saw the text end early (so ``LOAD DATA``
    counted too few rows and nothing is kept).
    """

    use_pipe = hasattr(os, "mkfifo")
    """False: write a plain file first (where there are no named pipes; the A/B benchmark)."""

    def __init__(
        self,
        rows: pl.DataFrame | None = None,
        *,
        path: Path | None = None,
        height: int | None = None,
        digests: pl.DataFrame | None = None,
    ) -> None:
        if (rows is None) == (path is None):
            raise ValueError("staged rows are either in memory or in a file")
        self.path = path
        self._rows = rows
        self._height = rows.height if rows is not None else int(height or 0)
        self._order: pl.Series | None = None
        self._digests = digests
        self._escape = None if rows is None else stagetext.needs_escape(rows)

    # -- what the merge consumes ------------------------------------------------------

    @property
    def height(self) -> int:
        return self._height

    @property
    def rows(self) -> pl.DataFrame:
        """The rows, with the parse stage's types (a staging file is read back once)."""
        if self._rows is None:
            assert self.path is not None
            self._rows = typed(stagetext.read_staging_file(self.path))
            self._order = pl.Series(range(self._rows.height), dtype=pl.UInt32)
        return self._rows

    @property
    def order(self) -> pl.Series:
        """The rows' key order, judged when first needed (a diff that writes a few rows of
        the file never needs the whole file's)."""
        if self._order is None:
            rows = self.rows  # a file's: its own order, set as it is read
            if self._order is None:
                self._order = key_order(rows)
        return self._order

    def digests(self) -> pl.DataFrame:
        """Per (d_trade, stock): rows and digest (:func:`~loader.prepare.digest.group_digests`),
        computed once."""
        if self._digests is None:
            self._digests = group_digests(self.rows, self.order)
        return self._digests

    def without(self, groups: pl.DataFrame) -> StagedRows:
        """The rows outside ``groups`` (d_trade, stock), staged on their own."""
        return StagedRows(without_groups(self.rows, groups))

    def where(self, keep: pl.Expr) -> StagedRows:
        """The rows for which ``keep`` holds, staged on their own."""
        return StagedRows(self.rows.filter(keep))

    # -- the staging text ---------------------------------------------------------------

    def to_file(self, directory: str | Path) -> StagedRows:
        """The whole text written into a new file in ``directory`` (for another process)."""
        fd, name = tempfile.mkstemp(suffix=".tsv", dir=directory)
        with os.fdopen(fd, "wb") as out:
            stagetext.write_text(self.rows, out, self.order, self._escapes())
        return StagedRows(path=Path(name), height=self.height, digests=self._digests)

    @contextlib.contextmanager
    def open(self, directory: StagingDir, only: pl.Series | None = None) -> Iterator[Path]:
        """A path ``LOAD DATA LOCAL INFILE`` may read once, while inside the block.
        ``only``: the text of just the rows at these positions (in key order), written
        from the rows themselves, never a copy of them (what the diff writes)."""
        if self.path is not None and only is None:
            yield self.path
            return
        order = self.order if only is None else self._order_of(only)
        path = directory.new_name()
        if not self.use_pipe:
            with open(path, "wb") as out:
                stagetext.write_text(self.rows, out, order, self._escapes())
            try:
                yield path
            finally:
                path.unlink(missing_ok=True)
            return
        os.mkfifo(path, 0o600)
        failed: list[BaseException] = []
        writer = threading.Thread(
            target=self._write,
            args=(path, order, failed),
            name="fundsync-staging-writer",
            daemon=True,
        )
        writer.start()
        try:
            yield path
        finally:
            stagetext.end_writer(writer, path)
            path.unlink(missing_ok=True)
        if failed:
            raise failed[0]

    def _order_of(self, positions: pl.Series) -> pl.Series:
        """The key order restricted to these row positions."""
        chosen = np.zeros(self.height, dtype=bool)
        chosen[positions.to_numpy()] = True
        order = self.order.to_numpy()
        return pl.Series(order[chosen[order]], dtype=pl.UInt32)

    def discard(self) -> None:
        """Remove what these rows left on disk, if anything, and let go of a file's rows."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self._rows = self._order = None

    def _escapes(self) -> set[str]:
        if self._escape is None:
            self._escape = stagetext.needs_escape(self.rows)
        return self._escape

    def _write(self, path: Path, order: pl.Series, failed: list[BaseException]) -> None:
        try:
            with open(path, "wb") as out:  # waits for the reader to open the pipe
                stagetext.write_text(self.rows, out, order, self._escapes())
        except OSError as error:
            if not stagetext.broken_pipe(error):
                failed.append(error)
            # else the reader stopped: its statement failed, the caller hears of it
        except BaseException as error:  # handed to the caller at close
            failed.append(error)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if self.path is not None:  # the file is the rows: not pickled
            state["_rows"] = state["_order"] = None
        return state
