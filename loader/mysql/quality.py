"""The quality gate: a file's trade dates against the previous loaded trade date, before the
merge.

Computed on the prepared rows (the client has them already) against the profile the previous
trade date's whole-day file left (``fund_data_day_funds``, ``fund_data_day_codes``: a few
hundred rows, no read of fund_data), so it costs a few group-bys of the file. Each check has
a policy: ``off``, ``warn`` (the finding goes into the report, the ledger's ``quality``, a
metric and ``status``) or ``hold`` (the file is not merged: ledger status ``held`` with the
reasons, until ``fundsync release`` merges it as it was or ``fundsync discard`` drops it).

The checks, and their defaults (docs/operations.md, "The quality gate"):

  funds_missing  hold  more than 5% of the previous date's funds absent from a new date
  funds_new      warn  more than 10% of a new date's funds unknown the previous date
  rows_per_fund  warn  more than 5% of the funds with rows changed by more than half
  nulls          warn  a col_code whose every value is NULL (the previous date had values)
  texts          warn  a col_code's share of text values up by more than 50 points
  duplicates     warn  duplicate keys in the file (the last occurrence won)
  jumps          warn  a col_code's median value moved by more than half (a robust measure:
                       one outlier does not move it, a shifted or rescaled column does)
  total_rows     warn  a new date's rows under half or over twice the previous date's

Comparisons with the previous date apply to a whole day: a *new* trade date (one fund_data
holds no row of yet: the nightly day) or a replace-days snapshot; a correction of an existing
date is a subset by nature and is checked only for what it holds itself (nulls, duplicates),
and pays for no profile. After a whole day merges, its profile replaces the date's, in the
load's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl

from loader.mysql.sql import GROUP_CONCAT_LIMIT

MISSING_SHARE, NEW_SHARE, FUND_ROWS_SHARE, CHANGE = 0.05, 0.10, 0.05, 0.5
_PLACES = Decimal("1e-12")
MAX_CODES = 5_000
"""A file with more col_codes than this a day gets no per-col_code profile, and its col_codes
are not checked (nulls, texts, jumps): those checks are for a few figures per fund."""
FUNDS_TABLE, CODES_TABLE = "fund_data_day_funds", "fund_data_day_codes"
FUNDS_PER_STATEMENT = 2_000
"""Funds a profile INSERT carries: at most 2,000 x ~300 bytes, far under any packet limit."""


@dataclass(frozen=True)
class Finding:
    check: str
    policy: str
    d_trade: date | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        day = None if self.d_trade is None else self.d_trade.isoformat()
        return {"check": self.check, "policy": self.policy, "d_trade": day, "detail": self.detail}


Profile = tuple[pl.DataFrame, pl.DataFrame]
"""Per (d_trade, stock) the rows; per (d_trade, col_code) the rows, NULLs, texts, median."""


FILTERED_DATES = 16
"""Up to this many whole dates, each date's rows are filtered from the file; beyond, they are
gathered by their runs of the key order (which then is sorted for the profile, if the write
had not needed it yet), several dates at a time."""
BATCH_ROWS = 1_000_000
"""Rows of whole dates profiled at a time when gathered by the key order."""


def profile(rows: pl.DataFrame, days: set[date], order: pl.Series | None = None) -> Profile | None:
    """Of the whole trade dates ``days`` (None when there are none): per (d_trade, stock) the
    rows; per (d_trade, col_code) rows, NULLs, texts and the median numeric value. A
    correction of dates already held needs none of it (and pays for none of it).
    ``order``: the rows' key order (:attr:`~loader.prepare.staging.StagedRows.order`), in
    which each date's rows are one run; None: each date's rows filtered from the file (a scan
    of the file per date: for a few dates)."""
    if not days:
        return None
    # A few dates at a time, from their rows of the few columns it needs (4-16 bytes a row),
    # never a frame of the whole file's rows: per-row flags for the whole file, and a float
    # of every value, took ~200 MB over the parsed rows at 10M rows, the peak of a fresh
    # 10M-row load; a date at a time it is ~80 MB. (A filtered copy of the rows, or an
    # aggregation of an expression of value_text, which gathers the text column in group
    # order, added 600 MB each.) Beyond a few dates the rows are gathered by the key order,
    # up to a million at a time: a filter and two group-bys per date made a 2M-row file of
    # 500 dates cost 1.2 s (`just bench-stages -k profile`).
    nulls, texts = _empty(rows), rows["value_text"].is_not_null()  # a bit a row
    funds, codes = [], []
    for at in _batches(rows, days, order):

        def of(column: pl.Series, at: pl.Series = at) -> pl.Series:
            return column.filter(at) if at.dtype == pl.Boolean else column.gather(at)

        part = pl.DataFrame(
            {
                "d_trade": of(rows["d_trade"]),
                "stock": of(rows["stock"]),
                "col_code": of(rows["col_code"]),
                "nulls": of(nulls),
                "texts": of(texts),
                "median": of(rows["value_numeric"]).cast(pl.Float64),
            }
        )
        funds.append(part.group_by("d_trade", "stock").agg(pl.len().alias("row_count")))
        per_code = part.group_by("d_trade", "col_code").agg(
            pl.len().alias("row_count"),
            pl.col("nulls").sum(),
            pl.col("texts").sum(),
            pl.col("median").median(),
        )
        codes.append(per_code)
    if not funds:
        return None
    return (
        pl.concat(funds).with_columns(pl.col("stock").cast(pl.String)),
        pl.concat(codes).with_columns(pl.col("col_code").cast(pl.String)),
    )


def _batches(rows: pl.DataFrame, days: set[date], order: pl.Series | None) -> Iterator[pl.Series]:
    """The rows of ``days`` a batch at a time: without ``order``, a mask of each date's rows;
    with it, the positions of whole dates' runs of it, up to :data:`BATCH_ROWS` a batch."""
    if order is None:
        for day in sorted(days):
            yield rows["d_trade"] == day
        return
    runs = rows["d_trade"].value_counts(name="rows").sort("d_trade")
    starts = runs["rows"].cum_sum() - runs["rows"]
    pieces: list[pl.Series] = []
    held = 0
    for day, start, length in zip(runs["d_trade"], starts, runs["rows"], strict=True):
        if day not in days:
            continue
        pieces.append(order.slice(start, length))
        held += length
        if held >= BATCH_ROWS:
            yield pl.concat(pieces)
            pieces, held = [], 0
    if pieces:
        yield pl.concat(pieces)


def _empty(rows: pl.DataFrame) -> pl.Series:
    """Per row: no value at all (neither numeric nor text)."""
    return rows["value_numeric"].is_null() & rows["value_text"].is_null()


def check(
    cur: Any,
    rows: pl.DataFrame,
    profiled: Profile | None,
    duplicates: int,
    policy: dict[str, str],
) -> list[Finding]:
    """The findings of every check not ``off`` (see the module docstring); ``profiled``: the
    profile of the file's new trade dates, compared with the previous date's."""
    found: list[Finding] = []

    def note(name: str, day: date | None, detail: str) -> None:
        if policy.get(name, "off") != "off":
            found.append(Finding(name, policy[name], day, detail))

    if duplicates:
        note("duplicates", None, f"{duplicates:,} duplicate key(s) in the file; the last won")
    flags = pl.DataFrame(  # a flag per row, not the texts (see profile)
        {"d_trade": rows["d_trade"], "col_code": rows["col_code"], "empty": _empty(rows)}
    )
    blank = flags.group_by("d_trade", "col_code").agg(  # sums: no per-group row lists
        pl.col("empty").sum(), pl.len().alias("n")
    )
    blank = blank.filter(pl.col("empty") == pl.col("n"))
    blank = blank.with_columns(pl.col("col_code").cast(pl.String))
    for day, code, count in blank.select("d_trade", "col_code", "n").rows()[:MAX_CODES]:
        if _had_values(cur, day, code):
            note("nulls", day, f"col_code {code}: all {count:,} values NULL")
    if profiled is None:
        return found
    funds, codes = profiled
    codes = _checked_codes(codes)
    for day in sorted(set(funds["d_trade"].to_list())):
        previous = _previous(cur, day)
        if previous is not None:
            _compare(cur, day, previous, funds, codes, note)
    return found


def _compare(cur: Any, day: date, prev: date, funds: pl.DataFrame, codes: pl.DataFrame,
             note: Any) -> None:  # fmt: skip
    before = _fund_rows(cur, prev)
    mine = dict(funds.filter(pl.col("d_trade") == day).select("stock", "row_count").rows())
    missing = sorted(set(before) - set(mine))
    if before and len(missing) > MISSING_SHARE * len(before):
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        note("funds_missing", day, f"{len(missing)} of the {len(before)} funds of {prev} "
                                   f"missing: {shown}")  # fmt: skip
    new = set(mine) - set(before)
    if before and len(new) > NEW_SHARE * len(mine):
        note("funds_new", day, f"{len(new)} of {len(mine)} funds unknown on {prev}")
    moved = [s for s in set(mine) & set(before) if abs(mine[s] - before[s]) > CHANGE * before[s]]
    if before and len(moved) > FUND_ROWS_SHARE * len(before):
        note("rows_per_fund", day, f"{len(moved)} funds' rows changed by over half since {prev}")
    total, prev_total = sum(mine.values()), sum(before.values())
    if prev_total and not (1 - CHANGE) * prev_total <= total <= 2 * prev_total:
        note("total_rows", day, f"{total:,} rows, {prev_total:,} on {prev}")
    cur.execute(
        f"SELECT col_code, row_count, texts, median FROM {CODES_TABLE} WHERE d_trade = %s", (prev,)
    )
    old = {c: (int(n), int(t), m) for c, n, t, m in cur.fetchall()}
    today = codes.filter(pl.col("d_trade") == day)
    for code, count, texts, median in today.select(
        "col_code", "row_count", "texts", "median"
    ).rows():
        if code not in old or not count or not old[code][0]:
            continue
        n, t, m = old[code]
        if texts / count - t / n > CHANGE:
            note("texts", day, f"col_code {code}: {texts / count:.0%} text values, {t / n:.0%} on "
                               f"{prev}")  # fmt: skip
        if m is not None and median is not None and m != 0:
            ratio = Decimal(str(median)) / Decimal(m)
            if abs(ratio - 1) > Decimal(str(CHANGE)):
                note("jumps", day, f"col_code {code}: median {median:g}, {float(m):g} on {prev}")


def _fund_rows(cur: Any, day: date) -> dict[str, int]:
    """The recorded rows per fund of a trade date, read as one text (a nightly day holds tens
    of thousands of funds: one value to split, not a row each to convert); plainly if the
    server cut the text short."""
    cur.execute(GROUP_CONCAT_LIMIT)
    cur.execute(
        f"SELECT GROUP_CONCAT(CONCAT(stock, 0x00, row_count) SEPARATOR 0x00) FROM {FUNDS_TABLE} "
        "WHERE d_trade = %s",
        (day,),
    )
    (text,) = cur.fetchone()
    if cur.warning_count:  # cut by group_concat_max_len or the packet size
        cur.execute(f"SELECT stock, row_count FROM {FUNDS_TABLE} WHERE d_trade = %s", (day,))
        return {str(stock): int(count) for stock, count in cur.fetchall()}
    if not text:
        return {}
    text = text.decode("utf-8") if isinstance(text, bytes | bytearray) else str(text)
    parts = text.split("\x00")
    return dict(zip(parts[0::2], map(int, parts[1::2]), strict=True))


def _checked_codes(codes: pl.DataFrame) -> pl.DataFrame:
    """The col_code profile of the dates of at most :data:`MAX_CODES` col_codes (the limit is
    a day's, not a file's: a backfill of many dates keeps its checks)."""
    wide = codes.group_by("d_trade").len().filter(pl.col("len") > MAX_CODES)["d_trade"]
    return codes.filter(~pl.col("d_trade").is_in(wide.implode())) if len(wide) else codes


def _previous(cur: Any, day: date) -> date | None:
    cur.execute(f"SELECT MAX(d_trade) FROM {FUNDS_TABLE} WHERE d_trade < %s", (day,))
    (found,) = cur.fetchone()
    return found  # type: ignore[no-any-return]


def _had_values(cur: Any, day: date, code: str) -> bool:
    """Whether the previous profiled date had non-NULL values of this col_code."""
    cur.execute(
        f"SELECT row_count - nulls FROM {CODES_TABLE} WHERE col_code = %s AND d_trade = "
        f"(SELECT MAX(d_trade) FROM {CODES_TABLE} WHERE d_trade < %s AND col_code = %s)",
        (code, day, code),
    )
    row = cur.fetchone()
    return row is None or int(row[0]) > 0


def record_profile(cur: Any, profiled: Profile, days: set[date]) -> None:
    """The profile of these (whole) trade dates replaces what was recorded for them."""
    if not days:
        return
    funds, codes = (part.filter(pl.col("d_trade").is_in(list(days))) for part in profiled)
    marks = ", ".join(["%s"] * len(days))
    for table in (FUNDS_TABLE, CODES_TABLE):
        cur.execute(f"DELETE FROM {table} WHERE d_trade IN ({marks})", sorted(days))
    literals = funds.select(
        pl.concat_str(
            pl.lit("('"),
            pl.col("d_trade").dt.to_string("%Y-%m-%d"),
            pl.lit("',X'"),  # a hex literal: any fund name, whatever the sql_mode, is inert
            pl.col("stock").cast(pl.Binary).bin.encode("hex"),
            pl.lit("',"),
            pl.col("row_count").cast(pl.String),
            pl.lit(")"),
        )
    ).to_series()
    for start in range(0, len(literals), FUNDS_PER_STATEMENT):
        values = ",".join(literals.slice(start, FUNDS_PER_STATEMENT).to_list())
        cur.execute(f"INSERT INTO {FUNDS_TABLE} (d_trade, stock, row_count) VALUES {values}")
    codes = _checked_codes(codes)  # a day of more: not a figure per column, no column profile
    if not codes.height:
        return
    part = [
        (d, c, n, z, t, None if m is None or abs(m) >= 1e25 else Decimal(str(m)).quantize(_PLACES))
        for d, c, n, z, t, m in codes.select(
            "d_trade", "col_code", "row_count", "nulls", "texts", "median"
        ).rows()
    ]
    for start in range(0, len(part), 1000):  # statements well under any max_allowed_packet
        cur.executemany(
            f"INSERT INTO {CODES_TABLE} (d_trade, col_code, row_count, nulls, texts, median) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            part[start : start + 1000],
        )
