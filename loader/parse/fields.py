"""One piece of whole records into string columns: the fast reader, or field by field.

Whitespace is trimmed (Python's ``str.strip()`` set), RFC 4180 quoting is
undone, and quotes that break its rules are flagged for the row checks.
"""

from __future__ import annotations

import csv
from itertools import chain

import numpy as np
import polars as pl

from loader.parse.csvscan import Piece, Structure, field_strings
from loader.parse.result import REQUIRED_COLUMNS

# Python's str.strip() set (every c with c.isspace()); Polars' default strip
# misses U+001C..U+001F. A unit test proves the two agree.
WHITESPACE = (
    "\u0009\u000a\u000b\u000c\u000d\u001c\u001d\u001e\u001f\u0020"
    "\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
NULL_SPELLINGS = sorted(
    {""}
    | {"\\N", "\\n"}
    | {
        "".join(c.upper() if (mask >> i) & 1 else c for i, c in enumerate("null"))
        for mask in range(16)
    }
)
NULL_SET = frozenset(NULL_SPELLINGS)
_RECHECK_LIMIT = 2_000  # records to re-read one by one before a full scan is cheaper


def read_fast(
    piece: Piece,
    lines: np.ndarray,
    positions: dict[str, int],
    width: int,
    delimiter: str,
    counted: bool = False,
) -> pl.DataFrame | None:
    """Polars' CSV reader, for pieces whose records are all regular; None if one is not.

    Regular: one record per entry of ``lines`` and the header's field count
    (``width``) in every record. Unless the scan has ``counted`` the fields
    already, that is checked here: the full schema makes the reader refuse a
    record with too many fields, and a record with too few has a null last
    field, so the few records whose last field is null are re-read to tell
    an empty last field from a missing one.
    """
    wanted = sorted({*positions.values(), width - 1})
    try:
        frame = pl.read_csv(
            piece.data,
            has_header=False,
            separator=delimiter,
            schema={f"column_{i + 1}": pl.String for i in range(width)},
            columns=[f"column_{pos + 1}" for pos in wanted],
            quote_char='"',
        )
    except pl.exceptions.PolarsError:
        return None
    if frame.height != len(lines):  # a line break inside quotes, or a blank line
        return None
    last = frame[f"column_{width}"]
    if not counted and last.null_count() and not _complete(piece, last.is_null(), delimiter, width):
        return None
    return frame.select(
        pl.Series("line", lines.astype(np.uint32)),
        *(
            pl.col(f"column_{pos + 1}").str.strip_chars(WHITESPACE).alias(name)
            for name, pos in positions.items()
        ),
    ).select("line", *REQUIRED_COLUMNS)


def read_slow(
    piece: Piece, structure: Structure, positions: dict[str, int], width: int
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Field by field: blank lines skipped, ragged records and bad quoting reported."""
    fields = pl.Series("f", field_strings(piece, structure))
    starts, counts, lines = structure.starts, structure.counts, structure.lines
    complete = counts == width
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
                "reason": [f"expected {width} fields, found {int(c)}" for c in counts[bad]],
            }
        )
    good = np.flatnonzero(complete)
    first_field = starts[good]
    frame = pl.DataFrame(
        {"line": lines[good].astype(np.uint32)}
        | {name: fields.gather(first_field + pos) for name, pos in positions.items()}
    )
    quoted = len(structure.quoted_fields) > 0
    return (
        frame.select("line", *chain.from_iterable(_clean(c, quoted) for c in REQUIRED_COLUMNS)),
        ragged,
    )


def _complete(piece: Piece, rows: pl.Series, delimiter: str, width: int) -> bool:
    """Whether the given records (one per LF) really have ``width`` fields.

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
        if len(next(csv.reader([text], delimiter=delimiter), [])) != width:
            return False
    return True


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


def null_if_spelled_null(name: str) -> pl.Expr:
    return (
        pl.when(pl.col(name).is_in(NULL_SPELLINGS)).then(None).otherwise(pl.col(name)).alias(name)
    )
