"""Parse stage: one export's bytes become a typed, deduplicated Polars frame (spec §1).

:func:`parse_file` is the entry point. It decodes (:mod:`~loader.parse.decode`),
finds the header (:mod:`~loader.parse.header`), cuts whole records
(:mod:`~loader.parse.csvscan`), reads each piece into string columns
(:mod:`~loader.parse.fields`) and types and checks them
(:mod:`~loader.parse.rows`) with Polars expressions: no Python loop runs
per row. Decisions that need the whole file (one date format, the slash
order, the bad-row allowance) are taken here from per-piece facts;
deduplication (:mod:`~loader.parse.dedup`) runs once at the end.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from loader.errors import FileRejected, RowError
from loader.heap import release_free_memory
from loader.parse import dates
from loader.parse.csvscan import (
    Piece,
    bounded_pieces,
    field_strings,
    make_piece,
    quick_lines,
    record_pieces,
    scan_piece,
    skip_blank_lines,
)
from loader.parse.decode import Decoded, RawSource, inspect, source_name
from loader.parse.dedup import deduplicate
from loader.parse.fields import WHITESPACE, read_fast, read_slow
from loader.parse.header import (
    DELIMITERS,
    Header,
    detect_delimiter,
    head_piece,
    peek_first_line,
    read_header,
)
from loader.parse.numbers import DECIMAL
from loader.parse.result import REQUIRED_COLUMNS, ParseResult
from loader.parse.rows import PieceRows, typed_piece
from loader.settings import ParseSettings

COLUMN_ORDER = {name: i for i, name in enumerate(REQUIRED_COLUMNS)}
EMPTY_ROWS_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "d_trade": pl.Date,
    "stock": pl.Categorical,
    "ticker": pl.Categorical,
    "col_code": pl.Categorical,
    "value_numeric": DECIMAL,
    "value_text": pl.String,
    "line": pl.UInt32,
}
_WORKERS = 2  # one per core: NumPy and Polars release the GIL
_IN_FLIGHT = 3  # pieces read ahead: the main thread cuts the next while two are prepared


def parse_file(
    source: RawSource, *, name: str | None = None, settings: ParseSettings | None = None
) -> ParseResult:
    """Decode, parse and deduplicate one export.

    ``source`` is a path or the file's bytes; ``name`` is the source key used
    in errors and reports (the path by default). Raises
    :class:`~loader.errors.FileRejected` when the file cannot load.
    """
    settings = settings or ParseSettings()
    name = source_name(source, name)
    started = time.perf_counter()
    with inspect(source, name, settings) as decoded:
        inspected = time.perf_counter()
        result = _FileParser(name, settings, decoded).run()
    result.seconds = {
        "decode": inspected - started,
        "parse": time.perf_counter() - inspected,
    }
    return result


@dataclass
class _State:
    """What the file has proven so far, piece by piece."""

    date_facts: dict[str, dates.DateFacts] = field(default_factory=dict)
    form: str | None = None
    form_line: int = 0
    proof_line: dict[str, int] = field(default_factory=dict)
    chunks: list[pl.DataFrame] = field(default_factory=list)
    codes_seen: dict[str, set[int]] = field(default_factory=dict)
    errors: list[pl.DataFrame] = field(default_factory=list)
    rejects: list[pl.DataFrame] = field(default_factory=list)
    error_count: int = 0
    bad_rows: int = 0
    good_rows: int = 0


class _FileParser:
    def __init__(self, name: str, settings: ParseSettings, decoded: Decoded) -> None:
        self.name = name
        self.settings = settings
        self.decoded = decoded
        self.header: Header | None = None
        self.delimiter = ","
        self.state = _State()

    def run(self) -> ParseResult:
        settings = self.settings
        # Small files in smaller pieces, so that both workers have work.
        piece_bytes = min(settings.chunk_bytes, max(4 << 20, self.decoded.info.size // 8))
        blocks = self.decoded.utf8_blocks(piece_bytes)
        first, blocks = peek_first_line(blocks, settings.max_record_bytes)
        self._check_first_line(first)
        self.delimiter = detect_delimiter(first)
        records = record_pieces(blocks, self.name, settings.max_record_bytes)
        pieces = self._data_pieces(bounded_pieces(records, max(4096, piece_bytes // 32)))
        # Pieces are prepared on two threads (NumPy and Polars release the GIL)
        # while this one cuts the next; results are absorbed strictly in file order.
        with ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="fundsync-parse") as pool:
            pending: deque[Future[PieceRows]] = deque()
            for piece in pieces:
                pending.append(pool.submit(self._piece_rows, piece))
                if len(pending) >= _IN_FLIGHT:
                    self._absorb(pending.popleft().result())
            while pending:
                self._absorb(pending.popleft().result())
        return self._finish()

    def _reject(self, kind: str, errors: list[RowError], count: int | None = None) -> FileRejected:
        return FileRejected(
            self.name, kind, errors, count or len(errors), encoding=self.decoded.encoding
        )

    # -- header ----------------------------------------------------------------

    def _check_first_line(self, first: str) -> None:
        """Line endings that are CR alone, and a header too wide to split, reject the file."""
        if "\r" in first.strip():
            reason = (
                "line endings are CR only (old Mac style): save the export with LF or CR LF "
                "line endings"
            )
            raise self._reject("header", [RowError(1, None, reason)])
        fields = max(first.count(d) for d in DELIMITERS) + 1
        if fields > self.settings.max_columns:
            reason = f"the header has {fields:,} fields, more than {self.settings.max_columns:,}"
            raise self._reject("limits", [RowError(1, None, reason)])

    def _data_pieces(self, pieces: Iterator[Piece]) -> Iterator[Piece]:
        """Take the header from the first non-blank record; yield what follows it."""
        for whole in pieces:
            if self.header is not None:
                yield whole
                continue
            piece = skip_blank_lines(whole)
            if piece is None:
                continue
            head = head_piece(piece)
            end = self._find_header(head)
            if end is not None:
                if end < len(piece.data):
                    yield make_piece(piece.data[end:], piece.line + piece.data.count(b"\n", 0, end))
            elif rest := piece.data[len(head.data) :]:
                # only blank lines so far: look again in the rest of the piece
                yield from self._data_pieces(iter([make_piece(rest, piece.line + head.newlines)]))

    def _find_header(self, head: Piece) -> int | None:
        """Read the header from the first non-blank record of ``head``; the byte after it."""
        structure = scan_piece(head, self.delimiter)
        fields = field_strings(head, structure)
        for i in range(len(structure)):
            first, count = int(structure.starts[i]), int(structure.counts[i])
            raw = fields.slice(first, count).to_pylist()
            if count == 1 and not raw[0].strip(WHITESPACE):
                continue
            header, errors = read_header(raw, int(structure.lines[i]))
            if errors:
                raise self._reject("header", errors[: self.settings.max_errors], len(errors))
            self.header = header
            return int(structure.seps[first + count - 1]) + 1
        return None

    # -- one piece, independent of the others (runs in a worker thread) -------

    def _piece_rows(self, piece: Piece) -> PieceRows:
        header = self.header
        assert header is not None
        width, positions = header.width, header.positions
        lines = quick_lines(piece, self.delimiter)
        frame = (
            read_fast(piece, lines, positions, width, self.delimiter) if lines is not None else None
        )
        ragged: pl.DataFrame | None = None
        if frame is None:
            structure = scan_piece(piece, self.delimiter)
            regular = structure.regular_quotes and bool((structure.counts == width).all())
            if regular:
                frame = read_fast(piece, structure.lines, positions, width, self.delimiter, True)
            if frame is None:
                frame, ragged = read_slow(piece, structure, positions, width)
        return typed_piece(frame, ragged, self.state.date_facts, self.settings)

    # -- in file order ---------------------------------------------------------

    def _absorb(self, piece: PieceRows) -> None:
        state = self.state
        self._check_form(piece.form_lines)
        self._check_order(piece.proof_lines)
        if piece.errors is not None:
            state.error_count += piece.errors.height
            state.bad_rows += piece.bad_rows
            state.errors.append(_sorted_errors(piece.errors).head(self.settings.max_errors))
            if not self.settings.max_bad_rows.strict and piece.rejects is not None:
                state.rejects.append(piece.rejects.sort("line"))
        state.good_rows += piece.rows.height
        state.chunks.append(piece.rows)
        for column, present in piece.codes_seen.items():
            state.codes_seen.setdefault(column, set()).update(present.tolist())
        release_free_memory()  # the piece's garbage, before the next adds its own

    def _check_form(self, form_lines: dict[str, int]) -> None:
        """One date format per file: a second one rejects it at its first line."""
        state = self.state
        if not form_lines:
            return
        if state.form is None:
            state.form, state.form_line = min(form_lines.items(), key=lambda x: x[1])
        others = {f: line for f, line in form_lines.items() if f != state.form}
        if others:
            form, line = min(others.items(), key=lambda x: x[1])
            reason = (
                f"date format {_form_label(form)} differs from the file's format "
                f"{_form_label(state.form)} (first used on line {state.form_line})"
            )
            raise self._reject("rows", [RowError(line, "d_trade", reason)])

    def _check_order(self, proof_lines: dict[str, int]) -> None:
        """The slash order is never proven both ways."""
        state = self.state
        for order, line in proof_lines.items():
            state.proof_line.setdefault(order, line)
        if len(state.proof_line) == 2:
            day, month = state.proof_line["day-first"], state.proof_line["month-first"]
            reason = f"slash dates prove both day-first (line {day}) and month-first (line {month})"
            raise self._reject("rows", [RowError(max(day, month), "d_trade", reason)])

    def _date_order(self) -> tuple[str | None, bool | None]:
        if self.state.form != dates.SLASH:
            return None, None
        if self.state.proof_line:
            return next(iter(self.state.proof_line)), True
        return self.settings.default_date_order, False

    # -- the whole file --------------------------------------------------------

    def _finish(self) -> ParseResult:
        state = self.state
        order, proven = self._date_order()
        error_rows = _first_errors(state.errors, self.settings.max_errors)
        rows_read = state.good_rows + state.bad_rows
        if state.bad_rows and not self.settings.max_bad_rows.allows(state.bad_rows, rows_read):
            raise self._reject("rows", error_rows, state.error_count)
        chunks = state.chunks
        if order is not None and order != self.settings.default_date_order:
            chunks[:] = [_swap_unproven_dates(c) for c in chunks]
        chunks, duplicates, conflicts = deduplicate(chunks, state.codes_seen)
        header, info = self.header, self.decoded.info
        return ParseResult(
            source=self.name,
            encoding=info.encoding,
            encoding_detected_by=info.how,
            compressed=info.compressed,
            bytes_read=info.size,
            delimiter=self.delimiter,
            columns=header.names if header else [],
            extra_columns=header.extra if header else [],
            date_format=dates.format_name(state.form, order),
            date_order=order,
            date_order_proven=proven,
            rows_read=rows_read,
            rejected_rows=state.bad_rows,
            duplicates_in_file=duplicates,
            conflicting_duplicates=conflicts,
            rows=_assemble(chunks),
            errors=error_rows,
            error_count=state.error_count,
            rejects=pl.concat(state.rejects) if state.rejects else None,
        )


def _swap_unproven_dates(rows: pl.DataFrame) -> pl.DataFrame:
    """Re-read slash dates that proved nothing in the order the file proved.

    Pieces read them in the default order before the proof was known. In a
    slash file a date whose day is at most 12 is exactly one that proved
    nothing (a proving date has a part over 12, which became its day).
    """
    d = pl.col("d_trade")
    return rows.with_columns(
        pl.when(d.dt.day() <= 12)
        .then(pl.date(d.dt.year(), d.dt.day(), d.dt.month()))
        .otherwise(d)
        .alias("d_trade")
    )


def _assemble(chunks: list[pl.DataFrame]) -> pl.DataFrame:
    if not chunks:
        return pl.DataFrame(schema=EMPTY_ROWS_SCHEMA)
    rows = pl.concat(chunks, rechunk=False)
    chunks.clear()
    return rows


def _sorted_errors(errors: pl.DataFrame) -> pl.DataFrame:
    return (
        errors.with_columns(
            pl.col("column")
            .replace_strict(COLUMN_ORDER, default=-1, return_dtype=pl.Int32)
            .alias("__order")
        )
        .sort("line", "__order", maintain_order=True)
        .drop("__order")
    )


def _first_errors(pieces: list[pl.DataFrame], limit: int) -> list[RowError]:
    if not pieces:
        return []
    errors = _sorted_errors(pl.concat(pieces)).head(limit)
    return [RowError(int(line), column, reason) for line, column, reason in errors.iter_rows()]


def _form_label(form: str | None) -> str:
    return "DD/MM/YYYY or MM/DD/YYYY" if form == dates.SLASH else str(form)
