"""Record-aligned pieces and a vectorised RFC 4180 structure scan.

Two steps, neither looping in Python per row:

* ``record_pieces`` cuts the UTF-8 stream into pieces that end on a record
  boundary: an LF preceded by an even number of quotes. Counting quotes with
  ``bytes.count`` is all it takes, so quote state never crosses a piece.
* ``scan_piece`` finds every record of a piece with NumPy: its field count,
  the physical line it starts on, and whether its quoting is the plain RFC
  4180 kind a fast CSV reader reads the same way (each quoted field opens
  and closes with a quote, inner quotes doubled). A piece whose records are
  all regular is handed to Polars' CSV reader; any other piece is split
  here, field by field, so ragged rows, blank lines and misplaced quotes are
  found and located exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from loader.errors import FileRejected, RowError

QUOTE = 0x22
LF = 0x0A
CR = 0x0D


@dataclass(frozen=True, slots=True)
class Piece:
    """Whole records: UTF-8 bytes, starting on physical line ``line``."""

    data: bytes
    line: int
    newlines: int
    """LF bytes in ``data`` (every piece ends with one)."""


def _count(data: bytes, byte: int) -> int:
    # NumPy releases the GIL where bytes.count does not: this runs beside the workers.
    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == byte))


def make_piece(data: bytes, line: int) -> Piece:
    return Piece(data, line, _count(data, LF))


def record_pieces(blocks: Iterator[bytes], name: str, max_record_bytes: int) -> Iterator[Piece]:
    """Cut a stream of UTF-8 blocks into pieces of whole records.

    Each piece is the unfinished record carried over plus the block up to
    its last record end: one copy of the bytes, not two.
    """
    carry = b""
    line = 1
    for block in blocks:
        cut = last_record_end(block, _count(carry, QUOTE) if carry else 0)
        if cut == 0:
            carry += block
            if len(carry) > max_record_bytes:
                raise FileRejected(
                    name,
                    "limits",
                    [
                        RowError(
                            line,
                            None,
                            f"record is longer than {max_record_bytes} bytes without ending "
                            "(an unbalanced quote?)",
                        )
                    ],
                )
            continue
        piece = make_piece(carry + block[:cut] if carry else block[:cut], line)
        yield piece
        line += piece.newlines
        carry = block[cut:]
    if carry.strip(b" \t\r\n\x0b\x0c"):
        if carry.count(b'"') % 2:
            raise FileRejected(
                name,
                "rows",
                [
                    RowError(
                        line,
                        None,
                        "unterminated quoted field: a quote opened on this record never "
                        'closes (RFC 4180: a value with a quote is written "quoted", '
                        'its quotes doubled "")',
                    )
                ],
            )
        yield make_piece(carry + b"\n", line)


def bounded_pieces(pieces: Iterator[Piece], max_records: int) -> Iterator[Piece]:
    """The same records in pieces of at most ``max_records`` lines each.

    A piece's memory grows with its records, not its bytes: 16 MB of blank lines are 16
    million records. Cutting such a piece at record ends keeps every piece's cost near
    that of a piece of ordinary rows, so blank lines stream in bounded memory too.
    """
    for piece in pieces:
        if piece.newlines <= max_records:
            yield piece
            continue
        start, line = 0, piece.line
        for end in [*_record_cuts(piece.data, max_records), len(piece.data)]:
            if end > start:
                part = make_piece(piece.data[start:end], line)
                yield part
                line += part.newlines
                start = end


_CUT_WINDOW = 1 << 20


def _record_cuts(data: bytes, max_records: int) -> list[int]:
    """Where to cut ``data`` (whole records) every ``max_records`` records, read a window at
    a time so that no array of every line end is made."""
    arr = np.frombuffer(data, dtype=np.uint8)
    cuts: list[int] = []
    since_cut = quotes = 0
    for at in range(0, len(arr), _CUT_WINDOW):
        window = arr[at : at + _CUT_WINDOW]
        ends = np.flatnonzero(window == LF)
        quote_pos = np.flatnonzero(window == QUOTE)
        if len(quote_pos) or quotes & 1:  # an LF ends a record after an even number of quotes
            ends = ends[((np.searchsorted(quote_pos, ends) + quotes) & 1) == 0]
        quotes += len(quote_pos)
        picks = np.arange(max_records - since_cut - 1, len(ends), max_records)
        cuts.extend((ends[picks] + at + 1).tolist())
        since_cut = len(ends) - int(picks[-1]) - 1 if len(picks) else since_cut + len(ends)
    return cuts


def skip_blank_lines(piece: Piece) -> Piece | None:
    """The piece from its first line that is not blank (ASCII whitespace only); None when
    every line is blank. Cheap: no record is split."""
    first = _NOT_BLANK.search(piece.data)
    if first is None:
        return None
    start = piece.data.rfind(b"\n", 0, first.start()) + 1
    if start == 0:
        return piece
    return make_piece(piece.data[start:], piece.line + piece.data.count(b"\n", 0, start))


_NOT_BLANK = re.compile(rb"[^ \t\r\n\x0b\x0c]")


def last_record_end(buf: bytes, quotes_before: int = 0) -> int:
    """Length of the longest prefix of ``buf`` that ends a record (0 if none).

    ``quotes_before`` counts the quotes of the unfinished record that
    precedes ``buf``.
    """
    quotes = _count(buf, QUOTE) + quotes_before
    pos = buf.rfind(b"\n")
    after = buf.count(b'"', pos + 1)  # quotes after the candidate LF
    for _ in range(64):
        if pos < 0:
            return 0
        if (quotes - after) % 2 == 0:
            return pos + 1
        prev = buf.rfind(b"\n", 0, pos)
        after += buf.count(b'"', prev + 1, pos)
        pos = prev
    # many newlines inside an open quote: let NumPy find the last structural one
    arr = np.frombuffer(buf, dtype=np.uint8)
    lfs = np.flatnonzero(arr == LF)
    quote_pos = np.flatnonzero(arr == QUOTE)
    even = ((np.searchsorted(quote_pos, lfs) + quotes_before) & 1) == 0
    structural = lfs[even]
    return int(structural[-1]) + 1 if len(structural) else 0


@dataclass(frozen=True, slots=True)
class Structure:
    """The records of one piece."""

    seps: np.ndarray
    """Byte position of every structural separator (delimiter or LF)."""
    starts: np.ndarray
    """Index into ``seps`` order of each record's first field."""
    counts: np.ndarray
    """Fields per record."""
    lines: np.ndarray
    """Physical line on which each record starts."""
    quoted_fields: np.ndarray
    """Indices of fields that contain a quote."""
    regular_quotes: bool
    """Every quoted field is plain RFC 4180 (opens and closes with a quote, inner ones doubled)."""

    def __len__(self) -> int:
        return len(self.starts)


def scan_piece(piece: Piece, delimiter: str) -> Structure:
    """Find the records and fields of one piece."""
    buf = piece.data
    arr = np.frombuffer(buf, dtype=np.uint8)
    candidates = np.flatnonzero((arr == ord(delimiter)) | (arr == LF))
    quote_pos = np.flatnonzero(arr == QUOTE)
    if len(quote_pos):
        candidates = _outside_quotes(candidates, quote_pos)
    seps = candidates
    lf_index = np.flatnonzero(arr[seps] == LF)
    starts = np.empty(len(lf_index), dtype=np.int64)
    if len(lf_index):
        starts[0] = 0
        starts[1:] = lf_index[:-1] + 1
    counts = lf_index + 1 - starts
    if len(quote_pos):
        if piece.newlines == len(lf_index):  # no line break inside quotes
            lines = piece.line + np.arange(len(lf_index), dtype=np.int64)
        else:
            record_pos = np.zeros(len(lf_index), dtype=np.int64)
            record_pos[1:] = seps[lf_index[:-1]] + 1
            all_lf = np.flatnonzero(arr == LF)
            lines = piece.line + np.searchsorted(all_lf, record_pos)
        quoted, regular = _quoted_fields(arr, seps, quote_pos)
    else:
        lines = piece.line + np.arange(len(lf_index), dtype=np.int64)
        quoted, regular = np.empty(0, dtype=np.int64), True
    return Structure(seps, starts, counts, lines, quoted, regular)


def _outside_quotes(candidates: np.ndarray, quote_pos: np.ndarray) -> np.ndarray:
    """Drop candidates that sit between an opening quote and its closing one.

    Quotes pair up in order (1st opens, 2nd closes, ...); a piece always has
    an even number. Marking each pair's span in ``candidates`` costs
    O(quotes log candidates), not a search per candidate.
    """
    opens = np.searchsorted(candidates, quote_pos[0::2])
    closes = np.searchsorted(candidates, quote_pos[1::2])
    marks = np.zeros(len(candidates) + 1, dtype=np.int32)
    np.add.at(marks, opens, 1)
    np.add.at(marks, closes, -1)
    inside = np.cumsum(marks[:-1]) > 0
    return candidates[~inside]


def _quoted_fields(
    arr: np.ndarray, seps: np.ndarray, quote_pos: np.ndarray
) -> tuple[np.ndarray, bool]:
    """Fields that contain quotes, and whether all of them are plain RFC 4180."""
    field_of_quote = np.searchsorted(seps, quote_pos)
    new_field = np.empty(len(field_of_quote), dtype=bool)
    new_field[0] = True
    new_field[1:] = field_of_quote[1:] != field_of_quote[:-1]
    quoted = field_of_quote[new_field]
    begin = np.where(quoted > 0, seps[np.maximum(quoted - 1, 0)] + 1, 0)
    end = seps[quoted].astype(np.int64)
    crlf = (arr[seps[quoted]] == LF) & (end > begin)
    crlf[crlf] = arr[end[crlf] - 1] == CR
    end[crlf] -= 1
    if not (
        (end - begin >= 2).all() and (arr[begin] == QUOTE).all() and (arr[end - 1] == QUOTE).all()
    ):
        return quoted, False
    which = np.cumsum(new_field) - 1
    middle = (quote_pos != begin[which]) & (quote_pos != end[which] - 1)
    inner = quote_pos[middle]
    if len(inner) % 2:
        return quoted, False
    # inner quotes come in adjacent pairs ("" escapes), each pair inside one field
    return quoted, bool((inner[1::2] == inner[0::2] + 1).all())


def quick_lines(piece: Piece, delimiter: str) -> np.ndarray | None:
    """The start line of every record when each LF ends a record and quoting is plain.

    Plain quoting: every quote opens or closes a whole field, inner quotes
    doubled, so a standard CSV reader reads the piece exactly as RFC 4180
    does. The caller still checks that the reader found one record per LF
    (no line break inside quotes, no blank line) and the field counts. None
    sends the piece to :func:`scan_piece`.
    """
    arr = np.frombuffer(piece.data, dtype=np.uint8)
    quotes = np.flatnonzero(arr == QUOTE)
    if len(quotes) and not _plain_quotes(arr, quotes, ord(delimiter)):
        return None
    return piece.line + np.arange(piece.newlines, dtype=np.int64)


def _plain_quotes(arr: np.ndarray, quotes: np.ndarray, delim: int) -> bool:
    """Quotes pair up as whole quoted fields: ``"..."`` between separators, ``""`` inside."""
    if len(quotes) % 2:
        return False
    opens, closes = quotes[0::2], quotes[1::2]
    before = arr[np.maximum(opens - 1, 0)]
    # an opening quote follows a separator, the start, or the closing quote of a "" pair
    open_ok = (opens == 0) | (before == delim) | (before == LF)
    escaped_open = (before == QUOTE) & np.concatenate(([False], closes[:-1] == opens[1:] - 1))
    if not (open_ok | escaped_open).all():
        return False
    last = len(arr) - 1
    after = arr[np.minimum(closes + 1, last)]
    after2 = arr[np.minimum(closes + 2, last)]
    close_ok = (after == delim) | (after == LF) | ((after == CR) & (after2 == LF))
    escaped_close = (after == QUOTE) & np.concatenate((opens[1:] == closes[:-1] + 1, [False]))
    return bool((close_ok | escaped_close).all())


def field_strings(piece: Piece, structure: Structure) -> pa.StringArray:
    """Every field of the piece as a string (separator and CR of CR LF removed)."""
    arr = np.frombuffer(piece.data, dtype=np.uint8)
    seps = structure.seps
    begin = np.empty(len(seps), dtype=np.int64)
    begin[0] = 0
    begin[1:] = seps[:-1] + 1
    end = seps.astype(np.int64, copy=True)
    crlf = (arr[seps] == LF) & (end > begin)
    crlf[crlf] = arr[end[crlf] - 1] == CR
    end[crlf] -= 1
    n = len(begin)
    offsets = np.empty(2 * n + 1, dtype=np.int64)
    offsets[0:-1:2] = begin
    offsets[1::2] = end
    offsets[-1] = len(piece.data)
    both = pa.LargeStringArray.from_buffers(
        2 * n, pa.py_buffer(offsets), pa.py_buffer(piece.data), null_count=0
    )
    return both.take(pa.array(np.arange(0, 2 * n, 2, dtype=np.int64)))
