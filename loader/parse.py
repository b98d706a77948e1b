"""Parse stage: one export's bytes become a typed, deduplicated Polars frame (CONTRACT §1).

``parse_file`` is the entry point. It decodes (``decode``), splits records
(``csvscan``), and turns each batch of records into typed columns with
Polars expressions: no Python loop runs per row. Decisions that need the
whole file (one date format, the slash order, the bad-row allowance) are
taken from per-batch facts; deduplication runs once at the end.
"""

from __future__ import annotations

import csv
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from itertools import chain

import numpy as np
import polars as pl

from loader import dates
from loader.csvscan import (
    Piece,
    Structure,
    field_strings,
    last_record_end,
    make_piece,
    quick_lines,
    record_pieces,
    scan_piece,
)
from loader.decode import Decoded, Source, inspect, source_name
from loader.errors import FileRejected, RowError
from loader.numbers import DECIMAL, split_values
from loader.result import (
    KEY_COLUMNS,
    KEY_LIMITS,
    MAX_TEXT_BYTES,
    REQUIRED_COLUMNS,
    ParseResult,
)
from loader.settings import ParseSettings

# Python's str.strip() set (every c with c.isspace()); Polars' default strip
# misses U+001C..U+001F. A unit test proves the two agree.
WHITESPACE = (
    "\u0009\u000a\u000b\u000c\u000d\u001c\u001d\u001e\u001f\u0020"
    "\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
DELIMITERS = (",", "\t", ";", "|")
NULL_SPELLINGS = sorted(
    {""}
    | {"\\N", "\\n"}
    | {
        "".join(c.upper() if (mask >> i) & 1 else c for i, c in enumerate("null"))
        for mask in range(16)
    }
)
NULL_SET = frozenset(NULL_SPELLINGS)
COLUMN_ORDER = {name: i for i, name in enumerate(REQUIRED_COLUMNS)}
QUOTE_REASON = (
    "misplaced quote: a quoted field must start and end with a quote, inner quotes doubled"
)


def parse_file(
    source: Source, *, name: str | None = None, settings: ParseSettings | None = None
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


_WORKERS = 2  # one per core: NumPy and Polars release the GIL
_IN_FLIGHT = 3  # pieces read ahead: the main thread cuts the next while two are prepared


@dataclass
class _Header:
    line: int
    names: list[str]
    positions: dict[str, int]
    extra: list[str]


@dataclass
class _State:
    """What the file has proven so far, batch by batch."""

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
        self.header: _Header | None = None
        self.delimiter = ","
        self.state = _State()

    # -- driving ---------------------------------------------------------------

    def run(self) -> ParseResult:
        settings = self.settings
        # Small files in smaller pieces, so that both workers have work.
        piece_bytes = min(settings.chunk_bytes, max(4 << 20, self.decoded.info.size // 8))
        blocks = self.decoded.utf8_blocks(piece_bytes)
        first, blocks = _peek_first_line(blocks, settings.max_record_bytes)
        self.delimiter = _detect_delimiter(first)
        pieces = self._data_pieces(record_pieces(blocks, self.name, settings.max_record_bytes))
        # Pieces are prepared on two threads (NumPy and Polars release the GIL)
        # while this one cuts the next; results are absorbed strictly in file order.
        with ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="fundsync-parse") as pool:
            pending: deque[Future[_Prepared]] = deque()
            for piece in pieces:
                pending.append(pool.submit(self._prepare, piece))
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

    def _data_pieces(self, pieces: Iterator[Piece]) -> Iterator[Piece]:
        """Take the header from the first non-blank record; yield what follows it."""
        for piece in pieces:
            if self.header is not None:
                yield piece
                continue
            head = _head_piece(piece)
            structure = scan_piece(head, self.delimiter)
            fields = field_strings(head, structure)
            for i in range(len(structure)):
                first, count = int(structure.starts[i]), int(structure.counts[i])
                raw = fields.slice(first, count).to_pylist()
                if count == 1 and not raw[0].strip(WHITESPACE):
                    continue
                self.header = self._parse_header(raw, int(structure.lines[i]))
                end = int(structure.seps[first + count - 1]) + 1
                if end < len(piece.data):
                    yield make_piece(piece.data[end:], piece.line + piece.data.count(b"\n", 0, end))
                break
            else:
                rest = piece.data[len(head.data) :]
                if rest:
                    # only blank lines so far: look again in the rest of the piece
                    yield from self._data_pieces(
                        iter([make_piece(rest, piece.line + head.newlines)])
                    )

    @cached_property
    def _schema(self) -> dict[str, type[pl.String]]:
        assert self.header is not None
        return {f"column_{i + 1}": pl.String for i in range(len(self.header.names))}

    def _parse_header(self, raw: list[str], line: int) -> _Header:
        names = [_unquote_header(f) for f in raw]
        positions: dict[str, int] = {}
        seen: set[str] = set()
        errors: list[RowError] = []
        extra: list[str] = []
        for index, written in enumerate(names):
            key = written.lower()
            if not key:
                continue  # an unnamed column: ignored
            if key in seen:
                errors.append(RowError(line, written, "duplicate column name in the header"))
                continue
            seen.add(key)
            if key in REQUIRED_COLUMNS:
                positions[key] = index
            else:
                extra.append(written)
        for required in REQUIRED_COLUMNS:
            if required not in positions:
                errors.append(RowError(line, required, "required column is missing"))
        if errors:
            raise self._reject("header", errors[: self.settings.max_errors], len(errors))
        return _Header(line, names, positions, extra)

    # -- one piece, independent of the others (runs in a worker thread) -------

    def _prepare(self, piece: Piece) -> _Prepared:
        assert self.header is not None
        ncols = len(self.header.names)
        lines = quick_lines(piece, self.delimiter)
        frame = self._read_fast(piece, lines) if lines is not None else None
        ragged: pl.DataFrame | None = None
        if frame is None:
            structure = scan_piece(piece, self.delimiter)
            regular = structure.regular_quotes and bool((structure.counts == ncols).all())
            frame = self._read_fast(piece, structure.lines, counted=True) if regular else None
            if frame is None:
                frame, ragged = self._read_slow(piece, structure, ncols)
        return self._typed(frame, ragged)

    def _read_fast(
        self, piece: Piece, lines: np.ndarray, counted: bool = False
    ) -> pl.DataFrame | None:
        """Polars' CSV reader, for pieces whose records are all regular; None if one is not.

        Regular: one record per entry of ``lines`` and the header's field
        count in every record. Unless the scan has ``counted`` the fields
        already, that is checked here: the full schema makes the reader
        refuse a record with too many fields, and a record with too few has a
        null last field, so the few records whose last field is null are
        re-read to tell an empty last field from a missing one.
        """
        assert self.header is not None
        ncols = len(self.header.names)
        wanted = sorted({*self.header.positions.values(), ncols - 1})
        try:
            frame = pl.read_csv(
                piece.data,
                has_header=False,
                separator=self.delimiter,
                schema=self._schema,
                columns=[f"column_{pos + 1}" for pos in wanted],
                quote_char='"',
            )
        except pl.exceptions.PolarsError:
            return None
        if frame.height != len(lines):  # a line break inside quotes, or a blank line
            return None
        last = frame[f"column_{ncols}"]
        if (
            not counted
            and last.null_count()
            and not _complete(piece, last.is_null(), self.delimiter, ncols)
        ):
            return None
        return frame.select(
            pl.Series("line", lines.astype(np.uint32)),
            *(
                pl.col(f"column_{pos + 1}").str.strip_chars(WHITESPACE).alias(name)
                for name, pos in self.header.positions.items()
            ),
        ).select("line", *REQUIRED_COLUMNS)

    def _read_slow(
        self, piece: Piece, structure: Structure, ncols: int
    ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        """Field by field: blank lines skipped, ragged records and bad quoting reported."""
        assert self.header is not None
        fields = pl.Series("f", field_strings(piece, structure))
        starts, counts, lines = structure.starts, structure.counts, structure.lines
        complete = counts == ncols
        blank = np.zeros(len(counts), dtype=bool)
        single = np.flatnonzero(counts == 1)
        if len(single):
            text = fields.gather(starts[single]).str.strip_chars(WHITESPACE)
            blank[single] = (text.str.len_bytes() == 0).to_numpy()
        bad = np.flatnonzero(~complete & ~blank)
        ragged = None
        if len(bad):
            ragged = pl.DataFrame(
                {
                    "line": lines[bad].astype(np.uint32),
                    "column": pl.Series([None] * len(bad), dtype=pl.String),
                    "reason": [f"expected {ncols} fields, found {int(c)}" for c in counts[bad]],
                }
            )
        good = np.flatnonzero(complete)
        first_field = starts[good]
        frame = pl.DataFrame(
            {"line": lines[good].astype(np.uint32)}
            | {
                name: fields.gather(first_field + pos)
                for name, pos in self.header.positions.items()
            }
        )
        quoted = len(structure.quoted_fields) > 0
        return (
            frame.select("line", *chain.from_iterable(_clean(c, quoted) for c in REQUIRED_COLUMNS)),
            ragged,
        )

    def _typed(self, frame: pl.DataFrame, ragged: pl.DataFrame | None) -> _Prepared:
        """Typed columns, row checks and date facts for one piece.

        Key columns have few distinct values: the rules about them are judged
        per distinct text, and only rows with a bad text are looked at again.
        """
        frame = frame.with_columns(
            pl.col(*KEY_LIMITS).fill_null("").cast(pl.Categorical),
            _null_if_spelled_null("value"),
        )
        frame = frame.with_columns(*split_values(frame["value"]))

        facts = self.state.date_facts
        texts = frame["d_trade"].unique().to_list()
        for text in texts:
            if text is not None and text not in facts and text not in NULL_SET:
                facts[text] = dates.judge(text, self.settings.buddhist_era)
        checks: list[tuple[str, pl.Series, pl.Series | str]] = []
        date_problems = {
            t: r for t in texts if t is not None and (r := self._date_problem(t)) is not None
        }
        d_trade = frame["d_trade"]
        if date_problems or None in texts:
            mask = d_trade.is_in(list(date_problems)).fill_null(True)
            reasons = d_trade.replace_strict(date_problems, default="d_trade is empty")
            checks.append(("d_trade", mask, reasons))
        codes_seen: dict[str, np.ndarray] = {}
        for column, limit in KEY_LIMITS.items():
            distinct = frame[column].unique()
            codes_seen[column] = distinct.to_physical().to_numpy()
            text = distinct.cast(pl.String)
            empty = distinct.filter(text.is_in(NULL_SPELLINGS))
            long = distinct.filter(text.str.len_chars() > limit)
            for bad, reason in (
                (empty, f"{column} is empty"),
                (long, f"{column} is longer than {limit} characters"),
            ):
                if len(bad):
                    checks.append(
                        (
                            column,
                            frame[column].cast(pl.String).is_in(bad.cast(pl.String).to_list()),
                            reason,
                        )
                    )
        too_long = frame["value_text"].str.len_bytes() > MAX_TEXT_BYTES
        if too_long.any():
            checks.append(
                ("value", too_long.fill_null(False), f"value is longer than {MAX_TEXT_BYTES} bytes")
            )
        for c in REQUIRED_COLUMNS:
            if f"{c}__quote" in frame.columns and frame[f"{c}__quote"].any():
                checks.append((c, frame[f"{c}__quote"].fill_null(False), QUOTE_REASON))

        valid = {t: f for t in texts if t is not None and (f := facts.get(t)) and f.error is None}
        form_lines = _first_lines(frame, {t: facts[t].form for t in texts if t in facts})
        proof_lines = _first_lines(frame, {t: f.proves for t, f in valid.items()})
        order = self.settings.default_date_order
        epoch = date(1970, 1, 1)
        day_numbers = {t: (f.to_date(order) - epoch).days for t, f in valid.items()}
        frame = frame.with_columns(
            d_trade.replace_strict(day_numbers, default=0, return_dtype=pl.Int32).cast(pl.Date)
        )

        errors = rejects = None
        bad_rows = 0
        if checks:
            bad = (
                pl.DataFrame([mask.alias(f"m{i}") for i, (_, mask, _) in enumerate(checks)])
                .select(pl.any_horizontal(pl.all()))
                .to_series()
            )
            bad_rows = int(bad.sum())
            errors, rejects = _errors_and_rejects(frame, d_trade, bad, checks)
            frame = frame.filter(~bad)
        if ragged is not None:
            ragged_rejects = ragged.select(
                "line", *(pl.lit(None, pl.String).alias(c) for c in REQUIRED_COLUMNS), "reason"
            )
            errors = ragged if errors is None else pl.concat([errors, ragged])
            rejects = ragged_rejects if rejects is None else pl.concat([rejects, ragged_rejects])
            bad_rows += ragged.height
        rows = frame.select(*KEY_COLUMNS, "value_numeric", "value_text", "line")
        return _Prepared(rows, codes_seen, form_lines, proof_lines, errors, rejects, bad_rows)

    def _date_problem(self, text: str) -> str | None:
        """Why a distinct d_trade text is a row error, or None."""
        if text in NULL_SET:
            return "d_trade is empty"
        return self.state.date_facts[text].error

    # -- in file order ---------------------------------------------------------

    def _absorb(self, prepared: _Prepared) -> None:
        state = self.state
        self._check_dates(prepared)
        if prepared.errors is not None:
            state.error_count += prepared.errors.height
            state.bad_rows += prepared.bad_rows
            state.errors.append(_sorted_errors(prepared.errors).head(self.settings.max_errors))
            if not self.settings.max_bad_rows.strict and prepared.rejects is not None:
                state.rejects.append(prepared.rejects.sort("line"))
        state.good_rows += prepared.rows.height
        state.chunks.append(prepared.rows)
        for column, present in prepared.codes_seen.items():
            state.codes_seen.setdefault(column, set()).update(present.tolist())

    def _check_dates(self, prepared: _Prepared) -> None:
        """One date format per file; slash order never proven both ways."""
        state = self.state
        if prepared.form_lines:
            if state.form is None:
                state.form, state.form_line = min(prepared.form_lines.items(), key=lambda x: x[1])
            others = {f: line for f, line in prepared.form_lines.items() if f != state.form}
            if others:
                form, line = min(others.items(), key=lambda x: x[1])
                raise self._reject(
                    "rows",
                    [
                        RowError(
                            line,
                            "d_trade",
                            f"date format {_form_label(form)} differs from the file's format "
                            f"{_form_label(state.form)} (first used on line {state.form_line})",
                        )
                    ],
                )
        for order, line in prepared.proof_lines.items():
            state.proof_line.setdefault(order, line)
        if len(state.proof_line) == 2:
            day, month = state.proof_line["day-first"], state.proof_line["month-first"]
            raise self._reject(
                "rows",
                [
                    RowError(
                        max(day, month),
                        "d_trade",
                        f"slash dates prove both day-first (line {day}) and month-first "
                        f"(line {month})",
                    )
                ],
            )

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
        rows = _assemble(chunks)
        rejects = pl.concat(state.rejects) if state.rejects else None
        header = self.header
        info = self.decoded.info
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
            rows=rows,
            errors=error_rows,
            error_count=state.error_count,
            rejects=rejects,
        )


@dataclass(frozen=True, slots=True)
class _Prepared:
    rows: pl.DataFrame
    codes_seen: dict[str, np.ndarray]
    """Category codes present in each key string column (bad rows included)."""
    form_lines: dict[str, int]
    proof_lines: dict[str, int]
    errors: pl.DataFrame | None
    rejects: pl.DataFrame | None
    bad_rows: int


def _head_piece(piece: Piece, size: int = 1 << 20) -> Piece:
    """The first whole records of a piece, about ``size`` bytes: enough to find the header."""
    if len(piece.data) <= size:
        return piece
    cut = last_record_end(piece.data[:size]) or len(piece.data)
    return make_piece(piece.data[:cut], piece.line)


_RECHECK_LIMIT = 2_000  # records to re-read one by one before a full scan is cheaper


def _complete(piece: Piece, rows: pl.Series, delimiter: str, ncols: int) -> bool:
    """Whether the given records (one per LF) really have ``ncols`` fields.

    Called for records whose last field came back null: an empty last field,
    or a record with too few fields. Python's csv module re-reads just those.
    """
    which = rows.arg_true().to_numpy()
    if len(which) > _RECHECK_LIMIT:
        return False
    arr = np.frombuffer(piece.data, dtype=np.uint8)
    ends = np.flatnonzero(arr == 0x0A)
    starts = np.concatenate(([0], ends[:-1] + 1))
    for i in which.tolist():
        text = piece.data[starts[i] : ends[i]].decode("utf-8")
        if len(next(csv.reader([text], delimiter=delimiter), [])) != ncols:
            return False
    return True


def _first_lines(frame: pl.DataFrame, label_of: dict[str, str | None]) -> dict[str, int]:
    """For each label (a date form, a proven order): the first line whose d_trade has it."""
    labelled = {t: label for t, label in label_of.items() if label is not None}
    out: dict[str, int] = {}
    for label in set(labelled.values()):
        hits = frame["d_trade"].is_in([t for t, lab in labelled.items() if lab == label])
        out[label] = int(frame["line"][int(hits.arg_max() or 0)])
    return out


def _errors_and_rejects(
    frame: pl.DataFrame,
    d_trade: pl.Series,
    bad: pl.Series,
    checks: list[tuple[str, pl.Series, pl.Series | str]],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The errors (line, column, reason) of the bad rows, and the rows with their reasons."""
    pieces = []
    for column, mask, reason in checks:
        pieces.append(
            pl.DataFrame(
                {
                    "line": frame["line"].filter(mask),
                    "column": pl.repeat(column, int(mask.sum()), dtype=pl.String, eager=True),
                    "reason": reason.filter(mask)
                    if isinstance(reason, pl.Series)
                    else pl.repeat(reason, int(mask.sum()), dtype=pl.String, eager=True),
                }
            )
        )
    errors = pl.concat(pieces)
    bad_frame = (
        frame.with_columns(d_trade.alias("d_trade"))
        .filter(bad)
        .select("line", *(pl.col(c).cast(pl.String) for c in KEY_COLUMNS), "value")
    )
    rejects = bad_frame.join(
        errors.group_by("line", maintain_order=True).agg(
            pl.format("{}: {}", "column", "reason").str.join("; ").alias("reason")
        ),
        on="line",
        how="left",
        maintain_order="left",
    )
    return errors, rejects


def _form_label(form: str | None) -> str:
    return "DD/MM/YYYY or MM/DD/YYYY" if form == dates.SLASH else str(form)


def _null_if_spelled_null(name: str) -> pl.Expr:
    return (
        pl.when(pl.col(name).is_in(NULL_SPELLINGS)).then(None).otherwise(pl.col(name)).alias(name)
    )


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


EMPTY_ROWS_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "d_trade": pl.Date,
    "stock": pl.Categorical,
    "ticker": pl.Categorical,
    "col_code": pl.Categorical,
    "value_numeric": DECIMAL,
    "value_text": pl.String,
    "line": pl.UInt32,
}


def _assemble(chunks: list[pl.DataFrame]) -> pl.DataFrame:
    if not chunks:
        return pl.DataFrame(schema=EMPTY_ROWS_SCHEMA)
    rows = pl.concat(chunks, rechunk=False)
    chunks.clear()
    return rows


# Day numbers of 1900-01-01 .. 2100-12-31 shifted to start at 0 fit in 17 bits.
_DAY_OFFSET = 25_567
_DAY_BITS = 17


def _key_codes(chunk: pl.DataFrame) -> list[np.ndarray]:
    """The day number and the three category codes of every row of one batch."""
    codes = chunk.select(
        pl.col("d_trade").to_physical(), *(pl.col(k).to_physical() for k in KEY_LIMITS)
    )
    return [codes[c].to_numpy() for c in KEY_COLUMNS]


def _packed_keys(
    chunks: list[pl.DataFrame], codes_seen: dict[str, set[int]] | None
) -> np.ndarray | None:
    """One uint64 per row that is equal exactly when the composite keys are, or None.

    The key columns are small integers: a day number and three category
    codes. Category codes are process-wide, so they are first renumbered
    densely over the codes this file uses; the widths then almost always add
    up to 64 bits or less and pack into one word. Packing runs batch by
    batch into one preallocated array: fresh memory is what costs most here.
    """
    n = sum(c.height for c in chunks)
    if codes_seen is None:
        codes_seen = {
            k: set(np.unique(np.concatenate([_key_codes(c)[i] for c in chunks])).tolist())
            for i, k in enumerate(KEY_COLUMNS)
            if k in KEY_LIMITS
        }
    dense: list[np.ndarray] = []
    widths: list[int] = []
    for column in KEY_LIMITS:
        present = np.fromiter(codes_seen.get(column, ()), dtype=np.int64)
        table = np.zeros(int(present.max()) + 1 if len(present) else 1, dtype=np.uint64)
        table[np.sort(present)] = np.arange(len(present), dtype=np.uint64)
        dense.append(table)
        widths.append(max(len(present) - 1, 1).bit_length())
    if _DAY_BITS + sum(widths) > 64:
        return None
    key = np.empty(n, dtype=np.uint64)
    pos = 0
    for chunk in chunks:
        day, *codes = _key_codes(chunk)
        view = key[pos : pos + len(day)]
        pos += len(day)
        np.add(day, _DAY_OFFSET, out=view, casting="unsafe")
        for code, table, width in zip(codes, dense, widths, strict=True):
            np.left_shift(view, np.uint64(width), out=view)
            np.bitwise_or(view, table[code], out=view)
    return key


def _swap_unproven_dates(rows: pl.DataFrame) -> pl.DataFrame:
    """Re-read slash dates that proved nothing in the order the file proved.

    Batches read them in the default order before the proof was known. In a
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


def deduplicate(
    chunks: list[pl.DataFrame], codes_seen: dict[str, set[int]] | None = None
) -> tuple[list[pl.DataFrame], int, int]:
    """Keep the last row per key; count dropped rows and conflicting ones (CONTRACT §1.2).

    ``chunks`` are the batches of good rows in file order. Keys are compared
    as integers: the day number and the key strings' category codes, which
    are equal exactly when the strings are. A stable sort puts each key's
    rows together in file order, so the last of each run survives. Hashing
    four columns is several times slower. Survivors keep file order; batches
    are filtered one at a time so the file is never held twice.
    """
    n = sum(c.height for c in chunks)
    if n == 0:
        return chunks, 0, 0
    keys = _packed_keys(chunks, codes_seen)
    if keys is not None:
        if bool((keys[1:] > keys[:-1]).all()):
            return chunks, 0, 0  # strictly increasing (a key-ordered export): all distinct
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        del keys
        last = np.ones(n, dtype=bool)
        last[:-1] = ordered[1:] != ordered[:-1]
        del ordered
    else:
        columns = [np.concatenate(parts) for parts in zip(*map(_key_codes, chunks), strict=True)]
        order = np.lexsort(columns[::-1])
        different = np.zeros(n - 1, dtype=bool)
        for column in columns:
            ordered = column[order]
            different |= ordered[1:] != ordered[:-1]
        last = np.ones(n, dtype=bool)
        last[:-1] = different
    duplicates = n - int(last.sum())
    if duplicates == 0:
        return chunks, 0, 0
    dropped = np.flatnonzero(~last)
    kept_for = _run_ends(dropped)
    values = pl.concat([c.select("value_numeric", "value_text") for c in chunks], rechunk=False)
    a, b = values[order[dropped]], values[order[kept_for]]
    del values
    differs = ~(a["value_numeric"].eq_missing(b["value_numeric"])) | ~(
        a["value_text"].eq_missing(b["value_text"])
    )
    conflicts = int(differs.sum())
    keep = np.empty(n, dtype=bool)
    keep[order] = last  # back to file order, without an index array of survivors
    del order, dropped, kept_for, last
    kept: list[pl.DataFrame] = []
    pos = 0
    for chunk in chunks:
        mask = keep[pos : pos + chunk.height]
        pos += chunk.height
        kept.append(chunk if mask.all() else chunk.filter(pl.Series(mask)))
    chunks.clear()
    return kept, duplicates, conflicts


def _run_ends(dropped: np.ndarray) -> np.ndarray:
    """For each dropped sorted position, the position of its run's survivor.

    Dropped positions of one key are contiguous and its survivor follows
    them; two keys' dropped positions are always separated by a survivor.
    Only arrays the size of ``dropped`` are made.
    """
    if len(dropped) == 0:
        return dropped
    block_end = np.empty(len(dropped), dtype=bool)
    block_end[-1] = True
    block_end[:-1] = dropped[1:] != dropped[:-1] + 1
    survivors = dropped[block_end] + 1
    block = np.concatenate(([0], np.cumsum(block_end[:-1])))
    return survivors[block]


def _first_errors(pieces: list[pl.DataFrame], limit: int) -> list[RowError]:
    if not pieces:
        return []
    errors = _sorted_errors(pl.concat(pieces)).head(limit)
    return [RowError(int(line), column, reason) for line, column, reason in errors.iter_rows()]


def _clean(name: str, has_quotes: bool) -> list[pl.Expr]:
    """Strip whitespace; undo RFC 4180 quoting; flag quotes that break its rules."""
    stripped = pl.col(name).str.strip_chars(WHITESPACE)
    if not has_quotes:
        return [stripped.alias(name)]
    has_quote = stripped.str.contains('"', literal=True)
    inner = stripped.str.slice(1, stripped.str.len_chars() - 2)
    well_formed = (
        stripped.str.starts_with('"')
        & stripped.str.ends_with('"')
        & (stripped.str.len_bytes() >= 2)
        & ~inner.str.replace_all('""', "", literal=True).str.contains('"', literal=True)
    )
    unquoted = inner.str.replace_all('""', '"', literal=True).str.strip_chars(WHITESPACE)
    return [
        pl.when(~has_quote).then(stripped).when(well_formed).then(unquoted).alias(name),
        (has_quote & ~well_formed).alias(f"{name}__quote"),
    ]


def _unquote_header(raw: str) -> str:
    text = raw.strip(WHITESPACE)
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].replace('""', '"').strip(WHITESPACE)
    return text


def _peek_first_line(blocks: Iterator[bytes], limit: int) -> tuple[str, Iterator[bytes]]:
    """The first non-blank line, for delimiter detection, and the blocks unconsumed."""
    seen: list[bytes] = []
    size = 0
    for block in blocks:
        seen.append(block)
        size += len(block)
        text = b"".join(seen)
        for line in text.split(b"\n")[:-1]:
            if line.strip():
                return line.decode("utf-8", "replace"), chain(seen, blocks)
        if size > limit:
            break
    text = b"".join(seen)
    return text.decode("utf-8", "replace").strip(), chain(seen, blocks)


def _detect_delimiter(header_line: str) -> str:
    """The candidate that finds the most required column names; comma on a tie."""
    best, best_score = ",", (-1, -1)
    for delimiter in DELIMITERS:
        try:
            fields = next(csv.reader([header_line], delimiter=delimiter), [])
        except csv.Error:
            fields = header_line.split(delimiter)
        names = {f.strip(WHITESPACE).lower() for f in fields}
        found = sum(1 for c in REQUIRED_COLUMNS if c in names)
        score = (found, len(fields) if found == 0 else 0)
        if score > best_score:
            best, best_score = delimiter, score
    return best
