"""One piece's string columns into typed rows, with every row rule checked (spec §1.1).

Key columns have few distinct values: the rules about them are judged per
distinct text, and only rows with a bad text are looked at again. Dates are
judged once per distinct text too (:mod:`loader.parse.dates`); what needs
the whole file (one format, the slash order) is returned as facts for the
file-level parser to decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from loader.parse import dates
from loader.parse.fields import NULL_SET, NULL_SPELLINGS, null_if_spelled_null
from loader.parse.numbers import split_values
from loader.parse.result import KEY_COLUMNS, KEY_LIMITS, MAX_TEXT_BYTES, REQUIRED_COLUMNS
from loader.settings import ParseSettings

QUOTE_REASON = (
    "misplaced quote: a quoted field must start and end with a quote, inner quotes doubled"
)
EPOCH = date(1970, 1, 1)

Check = tuple[str, pl.Series, pl.Series | str]
"""(column, mask of the bad rows, reason per row or for all)."""


@dataclass(frozen=True, slots=True)
class PieceRows:
    """The typed good rows of one piece, and what it found out."""

    rows: pl.DataFrame
    codes_seen: dict[str, np.ndarray]
    """Category codes present in each key string column (bad rows included)."""
    form_lines: dict[str, int]
    """First line of each date form the piece uses."""
    proof_lines: dict[str, int]
    """First line of each slash order the piece proves."""
    errors: pl.DataFrame | None
    rejects: pl.DataFrame | None
    bad_rows: int


def typed_piece(
    frame: pl.DataFrame,
    ragged: pl.DataFrame | None,
    facts: dict[str, dates.DateFacts],
    settings: ParseSettings,
) -> PieceRows:
    """Typed columns, row checks and date facts for one piece.

    ``facts`` is the file's cache of judged date texts, shared by the pieces.
    """
    frame = frame.with_columns(
        pl.col(*KEY_LIMITS).fill_null("").cast(pl.Categorical),
        null_if_spelled_null("value"),
    )
    frame = frame.with_columns(*split_values(frame["value"]))
    texts = frame["d_trade"].unique().to_list()
    for text in texts:
        if text is not None and text not in facts and text not in NULL_SET:
            facts[text] = dates.judge(text, settings.buddhist_era)
    d_trade = frame["d_trade"]
    key_checks, codes_seen = _key_checks(frame)
    checks = [*_date_checks(d_trade, texts, facts), *key_checks, *_value_checks(frame)]
    valid = {t: f for t in texts if t is not None and (f := facts.get(t)) and f.error is None}
    form_lines = _first_lines(frame, {t: facts[t].form for t in texts if t in facts})
    proof_lines = _first_lines(frame, {t: f.proves for t, f in valid.items()})
    order = settings.default_date_order
    day_numbers = {t: (f.to_date(order) - EPOCH).days for t, f in valid.items()}
    frame = frame.with_columns(
        d_trade.replace_strict(day_numbers, default=0, return_dtype=pl.Int32).cast(pl.Date)
    )
    frame, errors, rejects, bad_rows = _without_bad_rows(frame, d_trade, checks, ragged)
    # value_text as categories: 4 bytes a row, not a 16-byte string view for a column that is
    # mostly NULL (docs/parsing.md, "Streaming")
    text = pl.col("value_text").cast(pl.Categorical)
    # Each column in one chunk: a file's columns are then all cut at the same rows, so Polars
    # never realigns (copies) the whole file's frame to select or drop a column. Pieces
    # whose columns came in chunks of different lengths made dropping the line numbers copy
    # a 10M-row frame (+340 MB beside the original).
    rows = frame.select(*KEY_COLUMNS, "value_numeric", text, "line").rechunk()
    return PieceRows(rows, codes_seen, form_lines, proof_lines, errors, rejects, bad_rows)


def _date_checks(
    d_trade: pl.Series, texts: list[str | None], facts: dict[str, dates.DateFacts]
) -> list[Check]:
    """Empty, malformed or impossible dates, judged on the distinct texts."""
    problems = {}
    for text in texts:
        if text is None:
            continue
        reason = "d_trade is empty" if text in NULL_SET else facts[text].error
        if reason is not None:
            problems[text] = reason
    if not problems and None not in texts:
        return []
    mask = d_trade.is_in(list(problems)).fill_null(True)
    reasons = d_trade.replace_strict(problems, default="d_trade is empty")
    return [("d_trade", mask, reasons)]


def _key_checks(frame: pl.DataFrame) -> tuple[list[Check], dict[str, np.ndarray]]:
    """Empty or too long key strings, judged on the distinct values; the codes present."""
    checks: list[Check] = []
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
                rows = frame[column].cast(pl.String).is_in(bad.cast(pl.String).to_list())
                checks.append((column, rows, reason))
    return checks, codes_seen


def _value_checks(frame: pl.DataFrame) -> list[Check]:
    checks: list[Check] = []
    too_long = frame["value_text"].str.len_bytes() > MAX_TEXT_BYTES
    if too_long.any():
        reason = f"value is longer than {MAX_TEXT_BYTES} bytes"
        checks.append(("value", too_long.fill_null(False), reason))
    for c in REQUIRED_COLUMNS:
        if f"{c}__quote" in frame.columns and frame[f"{c}__quote"].any():
            checks.append((c, frame[f"{c}__quote"].fill_null(False), QUOTE_REASON))
    return checks


def _without_bad_rows(
    frame: pl.DataFrame, d_trade: pl.Series, checks: list[Check], ragged: pl.DataFrame | None
) -> tuple[pl.DataFrame, pl.DataFrame | None, pl.DataFrame | None, int]:
    """The good rows; the errors and the rejected rows (with reasons) of the bad ones."""
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
    return frame, errors, rejects, bad_rows


def _first_lines(frame: pl.DataFrame, label_of: dict[str, str | None]) -> dict[str, int]:
    """For each label (a date form, a proven order): the first line whose d_trade has it."""
    labelled = {t: label for t, label in label_of.items() if label is not None}
    out: dict[str, int] = {}
    for label in set(labelled.values()):
        hits = frame["d_trade"].is_in([t for t, lab in labelled.items() if lab == label])
        out[label] = int(frame["line"][int(hits.arg_max() or 0)])
    return out


def _errors_and_rejects(
    frame: pl.DataFrame, d_trade: pl.Series, bad: pl.Series, checks: list[Check]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The errors (line, column, reason) of the bad rows, and the rows with their reasons."""
    pieces = []
    for column, mask, reason in checks:
        count = int(mask.sum())
        pieces.append(
            pl.DataFrame(
                {
                    "line": frame["line"].filter(mask),
                    "column": pl.repeat(column, count, dtype=pl.String, eager=True),
                    "reason": reason.filter(mask)
                    if isinstance(reason, pl.Series)
                    else pl.repeat(reason, count, dtype=pl.String, eager=True),
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
