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
from itertools import chain

import numpy as np
import polars as pl

from loader import dates
from loader.csvscan import (
    Piece,
    Structure,
    last_record_end,
    field_strings,
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
WHITESPACE = "\u0009\u000a\u000b\u000c\u000d\u001c\u001d\u001e\u001f\u0020\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
DELIMITERS = (",", "\t", ";", "|")
NULL_SPELLINGS = sorted(
    {""}
    | {"\\N", "\\n"}
    | {
        "".join(c.upper() if (mask >> i) & 1 else c for i, c in enumerate("null"))
        for mask in range(16)
    }
)
COLUMN_ORDER = {name: i for i, name in enumerate(REQUIRED_COLUMNS)}
QUOTE_REASON = "misplaced quote: a quoted field must start and end with a quote, inner quotes doubled"


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
        blocks = self.decoded.utf8_blocks(settings.chunk_bytes)
        first, blocks = _peek_first_line(blocks, settings.max_record_bytes)
        self.delimiter = _detect_delimiter(first)
        pieces = self._data_pieces(record_pieces(blocks, self.name, settings.max_record_bytes))
        # Pieces are prepared two at a time (NumPy and Polars release the GIL),
        # then absorbed strictly in file order.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="fundsync-parse") as pool:
            pending: deque[Future[_Prepared]] = deque()
            for piece in pieces:
                pending.append(pool.submit(self._prepare, piece))
                if len(pending) >= 3:
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
                    yield Piece(piece.data[end:], piece.line + piece.data.count(b"\n", 0, end))
                break
            else:
                rest = piece.data[len(head.data) :]
                if rest:
                    # only blank lines so far: look again in the rest of the piece
                    yield from self._data_pieces(
                        iter([Piece(rest, piece.line + head.data.count(b"\n"))])
                    )

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
        structure = scan_piece(piece, self.delimiter)
        ncols = len(self.header.names)
        regular = structure.regular_quotes and bool((structure.counts == ncols).all())
        frame = self._read_fast(piece, structure) if regular else None
        ragged: pl.DataFrame | None = None
        if frame is None:
            frame, ragged = self._read_slow(piece, structure, ncols)
        return self._typed(frame, ragged)

    def _read_fast(self, piece: Piece, structure: Structure) -> pl.DataFrame | None:
        """Polars' CSV reader, for pieces whose every record is regular."""
        assert self.header is not None
        by_position = sorted((pos, name) for name, pos in self.header.positions.items())
        frame = pl.read_csv(
            piece.data,
            has_header=False,
            separator=self.delimiter,
            columns=[pos for pos, _ in by_position],
            infer_schema=False,
            quote_char='"',
        )
        if frame.height != len(structure):  # never expected; the slow path is exact
            return None
        frame.columns = [name for _, name in by_position]
        return frame.select(
            pl.Series("line", structure.lines.astype(np.uint32)),
            *(pl.col(c).str.strip_chars(WHITESPACE) for c in REQUIRED_COLUMNS),
        )

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
            frame.select(
                "line", *chain.from_iterable(_clean(c, quoted) for c in REQUIRED_COLUMNS)
            ),
            ragged,
        )

    def _typed(self, frame: pl.DataFrame, ragged: pl.DataFrame | None) -> _Prepared:
        """Typed columns, row checks and date facts for one piece."""
        texts = frame["d_trade"].drop_nulls().unique().to_list()
        facts = self.state.date_facts
        for text in texts:
            if text not in facts:
                facts[text] = dates.judge(text, self.settings.buddhist_era)
        date_error = {t: facts[t].error for t in texts if facts[t].error is not None}
        checks: list[tuple[str, pl.Expr, pl.Expr]] = [
            ("d_trade", pl.col("d_trade").is_null(), pl.lit("d_trade is empty")),
        ]
        if date_error:
            checks.append(
                (
                    "d_trade",
                    pl.col("d_trade").is_in(list(date_error)),
                    pl.col("d_trade").replace_strict(date_error, default=None,
                                                     return_dtype=pl.String),
                )
            )
        for key, limit in KEY_LIMITS.items():
            checks.append((key, pl.col(key).is_null(), pl.lit(f"{key} is empty")))
            checks.append(
                (
                    key,
                    pl.col(key).str.len_chars() > limit,
                    pl.lit(f"{key} is longer than {limit} characters"),
                )
            )
        checks.append(
            (
                "value",
                pl.col("value_text").str.len_bytes() > MAX_TEXT_BYTES,
                pl.lit(f"value is longer than {MAX_TEXT_BYTES} bytes"),
            )
        )
        for c in REQUIRED_COLUMNS:
            if f"{c}__quote" in frame.columns:
                checks.append((c, pl.col(f"{c}__quote"), pl.lit(QUOTE_REASON)))
        frame = frame.with_columns(*(_null_if_spelled_null(c) for c in REQUIRED_COLUMNS))
        frame = frame.with_columns(*split_values(frame["value"]))
        frame = frame.with_columns(
            pl.any_horizontal(*(cond.fill_null(False) for _, cond, _ in checks)).alias("__bad")
        )
        errors = rejects = None
        bad_rows = int(frame["__bad"].sum())
        if bad_rows:
            bad_frame = frame.filter(pl.col("__bad"))
            errors = pl.concat(
                [
                    bad_frame.filter(cond.fill_null(False)).select(
                        "line", pl.lit(column).alias("column"), reason.alias("reason")
                    )
                    for column, cond, reason in checks
                ]
            )
            rejects = bad_frame.select("line", *REQUIRED_COLUMNS).join(
                errors.group_by("line", maintain_order=True).agg(
                    pl.format("{}: {}", "column", "reason").str.join("; ").alias("reason")
                ),
                on="line",
                how="left",
                maintain_order="left",
            )
            frame = frame.filter(~pl.col("__bad"))
        if ragged is not None:
            ragged_rejects = ragged.select(
                "line", *(pl.lit(None, pl.String).alias(c) for c in REQUIRED_COLUMNS), "reason"
            )
            errors = ragged if errors is None else pl.concat([errors, ragged])
            rejects = ragged_rejects if rejects is None else pl.concat([rejects, ragged_rejects])
            bad_rows += ragged.height
        rows = frame.select(
            "line",
            pl.col("d_trade").cast(pl.Categorical),
            *(pl.col(k).cast(pl.Categorical) for k in KEY_LIMITS),
            "value_numeric",
            "value_text",
        )
        return _Prepared(rows, texts, errors, rejects, bad_rows)

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

    def _check_dates(self, prepared: _Prepared) -> None:
        """One date format per file; slash order never proven both ways."""
        state, facts = self.state, self.state.date_facts
        forms = {facts[t].form for t in prepared.date_texts} - {None}
        proofs = {facts[t].proves for t in prepared.date_texts} - {None}
        if not forms and not proofs:
            return
        rows = prepared.rows
        text = pl.col("d_trade").cast(pl.String)
        if state.form is None or forms != {state.form}:
            form_of = {t: facts[t].form for t in prepared.date_texts if facts[t].form}
            seen = rows.select(
                "line", text.replace_strict(form_of, default=None, return_dtype=pl.String)
                .alias("form")
            ).drop_nulls("form")
            if state.form is None and seen.height:
                state.form, state.form_line = seen["form"][0], int(seen["line"][0])
            other = seen.filter(pl.col("form") != state.form)
            if other.height:
                raise self._reject(
                    "rows",
                    [
                        RowError(
                            int(other["line"][0]),
                            "d_trade",
                            f"date format {_form_label(other['form'][0])} differs from the "
                            f"file's format {_form_label(state.form)} (first used on line "
                            f"{state.form_line})",
                        )
                    ],
                )
        new_proofs = proofs - set(state.proof_line)
        if new_proofs:
            proves = {t: facts[t].proves for t in prepared.date_texts if facts[t].proves}
            firsts = rows.select(
                "line", text.replace_strict(proves, default=None, return_dtype=pl.String)
                .alias("proves")
            ).drop_nulls("proves").group_by("proves").agg(pl.col("line").min())
            for order, line in firsts.iter_rows():
                state.proof_line.setdefault(order, int(line))
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
        rows = _assemble(state.chunks)
        rows = _resolve_dates(rows, state.date_facts, order or "month-first")
        rows, duplicates, conflicts = deduplicate(rows)
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
    date_texts: list[str]
    errors: pl.DataFrame | None
    rejects: pl.DataFrame | None
    bad_rows: int


def _head_piece(piece: Piece, size: int = 1 << 20) -> Piece:
    """The first whole records of a piece, about ``size`` bytes: enough to find the header."""
    if len(piece.data) <= size:
        return piece
    cut = last_record_end(piece.data[:size]) or len(piece.data)
    return Piece(piece.data[:cut], piece.line)


def _form_label(form: str | None) -> str:
    return "DD/MM/YYYY or MM/DD/YYYY" if form == dates.SLASH else str(form)


def _null_if_spelled_null(name: str) -> pl.Expr:
    return pl.when(pl.col(name).is_in(NULL_SPELLINGS)).then(None).otherwise(pl.col(name)).alias(name)


def _sorted_errors(errors: pl.DataFrame) -> pl.DataFrame:
    return (
        errors.with_columns(
            pl.col("column").replace_strict(COLUMN_ORDER, default=-1, return_dtype=pl.Int32)
            .alias("__order")
        )
        .sort("line", "__order", maintain_order=True)
        .drop("__order")
    )


EMPTY_ROWS_SCHEMA = {
    "line": pl.UInt32,
    "d_trade": pl.Categorical,
    "stock": pl.Categorical,
    "ticker": pl.Categorical,
    "col_code": pl.Categorical,
    "value_numeric": DECIMAL,
    "value_text": pl.String,
}


def _assemble(chunks: list[pl.DataFrame]) -> pl.DataFrame:
    if not chunks:
        return pl.DataFrame(schema=EMPTY_ROWS_SCHEMA)
    return pl.concat(chunks, rechunk=False)


def _resolve_dates(
    rows: pl.DataFrame, facts: dict[str, dates.DateFacts], order: str
) -> pl.DataFrame:
    """Replace the d_trade text with the date, now that the file's order is known."""
    texts = rows["d_trade"].cast(pl.String).unique().drop_nulls().to_list()
    mapping = pl.DataFrame(
        {"d_trade": texts, "date": [facts[t].to_date(order) for t in texts]},
        schema={"d_trade": pl.String, "date": pl.Date},
    )
    return rows.with_columns(
        pl.col("d_trade").cast(pl.String).replace_strict(
            mapping["d_trade"], mapping["date"], return_dtype=pl.Date
        )
    ).select("d_trade", "stock", "ticker", "col_code", "value_numeric", "value_text", "line")


def deduplicate(rows: pl.DataFrame) -> tuple[pl.DataFrame, int, int]:
    """Keep the last row per key; count dropped rows and conflicting ones (CONTRACT §1.2)."""
    if rows.height == 0:
        return rows, 0, 0
    key = pl.struct(*KEY_COLUMNS)
    survivors = rows.select(key.is_last_distinct()).to_series()
    duplicates = rows.height - int(survivors.sum())
    conflicts = 0
    if duplicates:
        grouped = rows.filter(rows.select(key.is_duplicated()).to_series())
        last = grouped.group_by(*KEY_COLUMNS).agg(
            pl.col("value_numeric").last().alias("kept_numeric"),
            pl.col("value_text").last().alias("kept_text"),
        )
        compared = grouped.join(last, on=list(KEY_COLUMNS), how="left")
        conflicts = int(
            compared.select(
                (
                    ~pl.col("value_numeric").eq_missing(pl.col("kept_numeric"))
                    | ~pl.col("value_text").eq_missing(pl.col("kept_text"))
                ).sum()
            ).item()
        )
        rows = rows.filter(survivors)
    return rows, duplicates, conflicts


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
    inner = stripped.str.slice(1, stripped.str.len_bytes() - 2)
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
