"""The header: the delimiter it uses, its column names, and where the data starts (spec §1)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain

from loader.errors import RowError
from loader.parse.csvscan import Piece, last_record_end, make_piece
from loader.parse.fields import WHITESPACE
from loader.parse.result import REQUIRED_COLUMNS

DELIMITERS = (",", "\t", ";", "|")


@dataclass(frozen=True, slots=True)
class Header:
    line: int
    names: list[str]
    positions: dict[str, int]
    """Field position of each required column."""
    extra: list[str]
    """Named columns that are not required, as written (ignored)."""

    @property
    def width(self) -> int:
        return len(self.names)


def read_header(raw: list[str], line: int) -> tuple[Header, list[RowError]]:
    """The header of these raw fields, and its errors (duplicate or missing names)."""
    names = [unquote_header(f) for f in raw]
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
    return Header(line, names, positions, extra), errors


def unquote_header(raw: str) -> str:
    text = raw.strip(WHITESPACE)
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].replace('""', '"').strip(WHITESPACE)
    return text


def head_piece(piece: Piece, size: int = 1 << 20) -> Piece:
    """The first whole records of a piece, about ``size`` bytes: enough to find the header."""
    if len(piece.data) <= size:
        return piece
    cut = last_record_end(piece.data[:size]) or len(piece.data)
    return make_piece(piece.data[:cut], piece.line)


def peek_first_line(blocks: Iterator[bytes], limit: int) -> tuple[str, Iterator[bytes]]:
    """The first non-blank line, for delimiter detection, and the blocks unconsumed.

    Blank lines before it are skipped by a search, never split into a list: a file may
    start with millions of them."""
    seen: list[bytes] = []
    size = 0
    first: int | None = None
    for block in blocks:
        seen.append(block)
        size += len(block)
        if first is None and (found := _NOT_BLANK.search(block)) is not None:
            first = size - len(block) + found.start()
        if first is not None:
            text = b"".join(seen)
            end = text.find(b"\n", first)
            if end >= 0:
                begin = text.rfind(b"\n", 0, first) + 1
                return text[begin:end].decode("utf-8", "replace"), chain(seen, blocks)
        if size > limit:
            break
    text = b"".join(seen)
    return text.decode("utf-8", "replace").strip(), chain(seen, blocks)


_NOT_BLANK = re.compile(rb"[^ \t\r\n\x0b\x0c]")


def detect_delimiter(header_line: str) -> str:
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
